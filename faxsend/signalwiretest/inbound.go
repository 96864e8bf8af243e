package signalwiretest

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Receiving faxes. A number set to "accept incoming calls as fax, handle
// with LaML webhooks" has a webhook (SetFaxWebhook). Receive makes a fax
// arrive on it: the simulator calls the webhook, signed like a status
// callback, and follows its cXML answer. <Receive action=...> takes the fax:
// once it is in, the action URL is called (signed, as Faults say: dropped,
// duplicated, delayed) and the document is served at the fax's media URL,
// behind the project's Basic auth. <Reject/> refuses it.

// Incoming is a fax someone sends to one of the project's numbers.
type Incoming struct {
	From, To        string
	Document        []byte // the PDF the caller sends
	RemoteStationID string // the caller's station ID; default From
	// FailCode and FailMessage, when set, make the reception fail (the
	// action callback reports FaxStatus=failed).
	FailCode, FailMessage string
}

// Webhook records the call of a number's fax webhook and the simulator's
// reading of the answer.
type Webhook struct {
	Time      time.Time
	FaxSID    string
	Method    string
	URL       string
	Params    url.Values
	Signature string
	Code      int    // HTTP status; 0 on a network error
	Body      string // the answer, up to 64 KiB
	// Verb is "Receive", "Reject", or "" when the answer was no usable
	// cXML (Err says why).
	Verb                 string
	Action, ActionMethod string
	MediaType, PageSize  string
	Err                  string
}

type number struct{ url, method string }

// SetFaxWebhook points a number's incoming faxes at url, requested with
// method (GET or POST; "" means POST). An empty url removes the setting.
func (s *Server) SetFaxWebhook(num, rawURL, method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.numbers == nil {
		s.numbers = map[string]number{}
	}
	if rawURL == "" {
		delete(s.numbers, num)
		return
	}
	if method == "" {
		method = http.MethodPost
	}
	s.numbers[num] = number{url: rawURL, method: method}
}

// Webhooks returns every fax webhook call, oldest first.
func (s *Server) Webhooks() []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.webhooks)
	for i := range out {
		out[i].Params = cloneValues(out[i].Params)
	}
	return out
}

// MediaFetches returns every GET of a received fax's media, answered or
// refused, oldest first.
func (s *Server) MediaFetches() []MediaFetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.fetches)
}

// MediaFetch records one request for a received fax's document.
type MediaFetch struct {
	Time   time.Time
	FaxSID string
	Status int  // 200, 401, 404
	Auth   bool // the request carried the project's credentials
}

// Receive makes a fax arrive on in.To and returns its SID. The rest happens
// in the background; WaitIdle waits for it. A number without a webhook is
// an error, as is a closed server.
func (s *Server) Receive(in Incoming) (string, error) {
	if !e164.MatchString(in.From) || !e164.MatchString(in.To) {
		return "", errors.New("signalwiretest: receive: From and To must be E.164 numbers")
	}
	if in.FailCode == "" && !strings.HasPrefix(string(in.Document), "%PDF-") {
		return "", errors.New("signalwiretest: receive: the document must be a PDF")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hook, ok := s.numbers[in.To]
	if !ok {
		return "", fmt.Errorf("signalwiretest: receive: no fax webhook set for %s", in.To)
	}
	if s.closed {
		return "", errClosed
	}
	now := s.cfg.Now()
	s.seq++
	f := &fax{seq: s.seq, stop: make(chan struct{})}
	f.SID = newUUID()
	f.AccountSID = s.cfg.ProjectID
	f.MediaSID = newUUID()
	f.Direction = "inbound"
	f.From, f.To = in.From, in.To
	f.StoreMedia = true
	f.Status = "receiving"
	f.History = []string{"receiving"}
	f.Created, f.Updated = now, now
	s.faxes[f.SID] = f
	s.begin()
	go s.receive(f, in, hook)
	s.logf("signalwiretest: fax %s arriving from %s to %s", f.SID, in.From, in.To)
	return f.SID, nil
}

// receive calls the webhook and carries out its answer.
func (s *Server) receive(f *fax, in Incoming, hook number) {
	defer s.end()
	p := url.Values{}
	p.Set("FaxSid", f.SID)
	p.Set("AccountSid", f.AccountSID)
	p.Set("From", f.From)
	p.Set("To", f.To)
	p.Set("ApiVersion", apiVersion)
	p.Set("FaxStatus", "receiving")
	wh := s.callWebhook(f.SID, hook, p)
	s.mu.Lock()
	s.webhooks = append(s.webhooks, wh)
	s.mu.Unlock()

	switch wh.Verb {
	case "Reject":
		s.endInbound(f, "canceled", "", "")
		s.logf("signalwiretest: fax %s rejected by the webhook", f.SID)
		return
	case "Receive":
	default:
		s.endInbound(f, "failed", "12100", "Document parse failure")
		s.logf("signalwiretest: fax %s: webhook answer unusable: %s", f.SID, wh.Err)
		return
	}
	if !s.sleep(s.cfg.StepDelay, f.stop) {
		return
	}
	status := "received"
	if in.FailCode != "" {
		status = "failed"
	}
	s.mu.Lock()
	if status == "received" {
		f.body = slices.Clone(in.Document)
		f.NumPages = s.cfg.PageCounter(in.Document)
		f.Duration = 20 * f.NumPages
		f.RemoteStationID = in.RemoteStationID
		if f.RemoteStationID == "" {
			f.RemoteStationID = in.From
		}
	}
	f.ErrorCode, f.ErrorMessage = in.FailCode, in.FailMessage
	f.MediaType = wh.MediaType
	s.setStatus(f, status)
	ev := event{name: "action", final: true, method: wh.ActionMethod, url: wh.Action, params: s.actionParams(f)}
	s.mu.Unlock()
	s.logf("signalwiretest: fax %s %s", f.SID, status)
	s.send(f.SID, ev)
}

// actionParams are the fields of the Receive action callback. Call with
// s.mu held.
func (s *Server) actionParams(f *fax) url.Values {
	p := url.Values{}
	set := func(k, v string) {
		if v != "" {
			p.Set(k, v)
		}
	}
	set("FaxSid", f.SID)
	set("AccountSid", f.AccountSID)
	set("From", f.From)
	set("To", f.To)
	set("FaxStatus", f.Status)
	set("ApiVersion", apiVersion)
	p.Set("NumPages", strconv.Itoa(f.NumPages))
	set("MediaSid", f.MediaSID)
	set("MediaUrl", s.mediaURL(f))
	set("RemoteStationId", f.RemoteStationID)
	set("ErrorCode", f.ErrorCode)
	set("ErrorMessage", f.ErrorMessage)
	return p
}

func (s *Server) endInbound(f *fax, status, code, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.ErrorCode, f.ErrorMessage = code, msg
	s.setStatus(f, status)
}

// callWebhook requests the number's webhook once (a call that cannot be
// set up is not retried: the caller hears a failure) and reads its cXML.
func (s *Server) callWebhook(sid string, hook number, p url.Values) Webhook {
	wh := Webhook{FaxSID: sid, Method: hook.method, Params: p}
	target := hook.url
	var body io.Reader
	var signed url.Values
	if hook.method == http.MethodGet {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + p.Encode()
	} else {
		body = strings.NewReader(p.Encode())
		signed = p
	}
	wh.URL = target
	wh.Signature = Sign(s.cfg.SigningKey, target, signed)
	ctx, cancel := context.WithTimeout(s.ctx, 7*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, hook.method, target, body)
	if err != nil {
		wh.Err, wh.Time = err.Error(), s.cfg.Now()
		return wh
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-SignalWire-Signature", wh.Signature)
	req.Header.Set("User-Agent", "signalwiretest")
	resp, err := s.client.Do(req)
	wh.Time = s.cfg.Now()
	if err != nil {
		wh.Err = err.Error()
		return wh
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	wh.Code, wh.Body = resp.StatusCode, string(raw)
	if resp.StatusCode != http.StatusOK {
		wh.Err = "status " + resp.Status
		return wh
	}
	s.readCXML(&wh, target, raw)
	return wh
}

// readCXML reads a webhook's answer as strictly as SignalWire does: one
// Response with one Receive or Reject.
func (s *Server) readCXML(wh *Webhook, base string, raw []byte) {
	var doc struct {
		XMLName xml.Name `xml:"Response"`
		Verbs   []struct {
			XMLName   xml.Name
			Action    string `xml:"action,attr"`
			Method    string `xml:"method,attr"`
			MediaType string `xml:"mediaType,attr"`
			PageSize  string `xml:"pageSize,attr"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		wh.Err = "not a cXML Response: " + err.Error()
		return
	}
	if len(doc.Verbs) != 1 {
		wh.Err = fmt.Sprintf("%d verbs, want one Receive or Reject", len(doc.Verbs))
		return
	}
	v := doc.Verbs[0]
	switch v.XMLName.Local {
	case "Reject":
		wh.Verb = "Reject"
		return
	case "Receive":
	default:
		wh.Err = "unknown verb " + v.XMLName.Local
		return
	}
	method := v.Method
	if method == "" {
		method = http.MethodPost
	}
	mediaType := v.MediaType
	if mediaType == "" {
		mediaType = "application/pdf"
	}
	pageSize := v.PageSize
	if pageSize == "" {
		pageSize = "letter"
	}
	b, _ := url.Parse(base)
	action, err := b.Parse(v.Action)
	switch {
	case method != http.MethodGet && method != http.MethodPost:
		wh.Err = "Receive method " + method
	case mediaType != "application/pdf" && mediaType != "image/tiff":
		wh.Err = "Receive mediaType " + mediaType
	case pageSize != "letter" && pageSize != "legal" && pageSize != "a4":
		wh.Err = "Receive pageSize " + pageSize
	case v.Action == "" || err != nil || (action.Scheme != "http" && action.Scheme != "https"):
		wh.Err = "Receive action " + strconv.Quote(v.Action)
	default:
		wh.Verb, wh.Action, wh.ActionMethod, wh.MediaType, wh.PageSize = "Receive", action.String(), method, mediaType, pageSize
	}
}

// serveDocument answers a GET of a received fax's media with the document
// itself. Call with s.mu held; it unlocks.
func (s *Server) serveDocument(q *rq, f *fax) {
	body := f.body
	s.fetches = append(s.fetches, MediaFetch{Time: s.cfg.Now(), FaxSID: f.SID, Status: http.StatusOK, Auth: true})
	s.mu.Unlock()
	q.wait()
	q.w.Header().Set("Content-Type", "application/pdf")
	q.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	q.w.WriteHeader(http.StatusOK)
	q.w.Write(body)
}

// trigger is the simulator's own endpoint (not SignalWire's) that makes a
// fax arrive, so the demo can print a curl command:
//
//	POST /simulator/receive?From=+1555...&To=+1555...  body: the PDF
//
// behind the project's Basic auth.
func (s *Server) trigger(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || !same(user, s.cfg.ProjectID) || !same(pass, s.cfg.APIToken) {
		w.Header().Set("WWW-Authenticate", `Basic realm="SignalWire"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST the PDF", http.StatusMethodNotAllowed)
		return
	}
	doc, err := io.ReadAll(io.LimitReader(r.Body, maxMedia+1))
	if err != nil || len(doc) > maxMedia {
		http.Error(w, "the document could not be read or is too large", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	sid, err := s.Receive(Incoming{From: q.Get("From"), To: q.Get("To"), Document: doc})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "fax %s is arriving from %s to %s\n", sid, q.Get("From"), q.Get("To"))
}

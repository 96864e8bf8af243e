package signalwiretest

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sign computes a SignalWire request signature: base64 of HMAC-SHA1 keyed
// with key over the URL followed by every parameter name and value, names
// sorted and the values of a repeated name in the order given. For a GET
// callback params is empty, since the fields are already in the URL.
func Sign(key, rawURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(key))
	io.WriteString(mac, rawURL)
	for _, name := range slices.Sorted(maps.Keys(params)) {
		for _, v := range params[name] {
			io.WriteString(mac, name)
			io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// event is one status callback due for a fax.
type event struct {
	name   string // initiated, ringing, answered, completed
	final  bool
	method string
	url    string
	params url.Values
}

// emit queues a callback for the fax if it subscribed to name. Call with
// s.mu held.
func (s *Server) emit(f *fax, name string) {
	if f.events == nil || f.StatusCallback == "" || !slices.Contains(f.StatusCallbackEvents, name) {
		return
	}
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
	if final(f.Status) {
		p.Set("NumPages", strconv.Itoa(f.NumPages))
	}
	set("MediaSid", f.MediaSID)
	set("MediaUrl", s.mediaURL(f))
	set("OriginalMediaUrl", f.MediaURL)
	set("RemoteStationId", f.RemoteStationID)
	set("ErrorCode", f.ErrorCode)
	set("ErrorMessage", f.ErrorMessage)
	// Not in the documented list: present so clients stay lenient about
	// fields they do not know.
	p.Set("Timestamp", s.cfg.Now().UTC().Format(time.RFC1123Z))
	ev := event{name: name, final: final(f.Status), method: f.StatusCallbackMethod, url: f.StatusCallback, params: p}
	select {
	case f.events <- ev:
	default:
		// Cannot happen: the buffer holds every event a fax can emit.
		s.logf("signalwiretest: fax %s: callback queue full, %s lost", f.SID, name)
	}
}

// mediaURL is the URL a callback reports as MediaUrl: the stored copy.
func (s *Server) mediaURL(f *fax) string {
	if !f.StoreMedia || f.body == nil || f.MediaDeleted {
		return ""
	}
	return s.URL() + faxPath(f.AccountSID, f.SID) + "/Media/" + f.MediaSID
}

// closeEvents ends the fax's callback stream. Call with s.mu held.
func (s *Server) closeEvents(f *fax) {
	if f.events != nil {
		close(f.events)
		f.events = nil
	}
}

// deliver sends a fax's callbacks in order, or with the final one first
// when Faults.ReorderCallbacks is set.
func (s *Server) deliver(sid string, events <-chan event) {
	defer s.end()
	var held []event
	for ev := range events {
		s.mu.Lock()
		reorder := s.faults.ReorderCallbacks
		s.mu.Unlock()
		if reorder && !ev.final {
			held = append(held, ev)
			continue
		}
		s.send(sid, ev)
		if ev.final {
			for _, h := range held {
				s.send(sid, h)
			}
			held = nil
		}
	}
	// A stalled fax never has a final event: release what was held.
	for _, h := range held {
		s.send(sid, h)
	}
}

// send delivers one callback as the faults say: maybe late, dropped or twice.
func (s *Server) send(sid string, ev event) {
	s.mu.Lock()
	f := s.faults
	drop := f.DropAllCallbacks || (f.DropCallbacks > 0 && s.rng.Float64() < f.DropCallbacks)
	s.mu.Unlock()
	if !s.sleep(f.CallbackDelay, nil) {
		return
	}
	if drop {
		s.record(CallbackRecord{Time: s.cfg.Now(), FaxSID: sid, Event: ev.name, FaxStatus: ev.params.Get("FaxStatus"),
			Method: ev.method, URL: ev.url, Params: ev.params, Dropped: true})
		s.logf("signalwiretest: fax %s: %s callback dropped", sid, ev.name)
		return
	}
	n := 1
	if f.DuplicateCallbacks {
		n = 2
	}
	for range n {
		s.attempts(sid, ev, f.TwilioSignatureHeader)
	}
}

// attempts tries a callback at most three times, as SignalWire does, and
// then gives it up.
func (s *Server) attempts(sid string, ev event, twilioHeader bool) {
	const maxAttempts = 3
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		rec := s.attempt(ev, twilioHeader)
		rec.FaxSID = sid
		rec.Attempt = attempt
		s.record(rec)
		if rec.Code >= 200 && rec.Code < 300 {
			s.logf("signalwiretest: fax %s: %s callback answered %d", sid, ev.name, rec.Code)
			return
		}
		s.logf("signalwiretest: fax %s: %s callback attempt %d failed: code %d %s", sid, ev.name, attempt, rec.Code, rec.Err)
		if attempt < maxAttempts && !s.sleep(s.cfg.RetryDelay, nil) {
			return
		}
	}
}

func (s *Server) attempt(ev event, twilioHeader bool) CallbackRecord {
	rec := CallbackRecord{Event: ev.name, FaxStatus: ev.params.Get("FaxStatus"), Method: ev.method, Params: ev.params}
	target := ev.url
	var body io.Reader
	var signed url.Values
	if ev.method == http.MethodGet {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + ev.params.Encode()
	} else {
		body = strings.NewReader(ev.params.Encode())
		signed = ev.params
	}
	rec.URL = target
	rec.Signature = Sign(s.cfg.SigningKey, target, signed)

	// Connect 2 s plus read 5 s bounds the whole attempt, whatever client.
	ctx, cancel := context.WithTimeout(s.ctx, 7*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, ev.method, target, body)
	if err != nil {
		rec.Err = err.Error()
		rec.Time = s.cfg.Now()
		return rec
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	header := "X-SignalWire-Signature"
	if twilioHeader {
		header = "X-Twilio-Signature"
	}
	req.Header.Set(header, rec.Signature)
	req.Header.Set("User-Agent", "signalwiretest")
	resp, err := s.client.Do(req)
	rec.Time = s.cfg.Now()
	if err != nil {
		rec.Err = err.Error()
		return rec
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	rec.Code = resp.StatusCode
	return rec
}

func (s *Server) record(rec CallbackRecord) {
	s.mu.Lock()
	s.callbacks = append(s.callbacks, rec)
	s.mu.Unlock()
}

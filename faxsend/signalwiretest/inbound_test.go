package signalwiretest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var inPDF = []byte("%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n2 0 obj << /Type /Page >> endobj\n%%EOF\n")

// webhook serves answer to every fax webhook and records the methods and
// signatures it saw.
func webhook(t *testing.T, answer string) (*httptest.Server, chan *http.Request) {
	t.Helper()
	seen := make(chan *http.Request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		seen <- r
		if strings.HasSuffix(r.URL.Path, "/action") {
			return
		}
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

func idleWithin(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// The simulator reads the webhook's cXML strictly: an unknown verb or
// attribute value fails the fax, and nothing is stored.
func TestReceiveStrictCXML(t *testing.T) {
	for answer, wantErr := range map[string]string{
		`<Response><Receive action="/action" pageSize="tabloid"/></Response>`:    "pageSize",
		`<Response><Receive action="/action" mediaType="image/png"/></Response>`: "mediaType",
		`<Response><Receive/></Response>`:                                        "action",
		`<Response><Play/></Response>`:                                           "unknown verb",
		`not xml`:                                                                "not a cXML",
	} {
		s := start(t, Config{})
		srv, _ := webhook(t, answer)
		s.SetFaxWebhook("+15550100000", srv.URL+"/in", "POST")
		sid, err := s.Receive(Incoming{From: "+15557654321", To: "+15550100000", Document: inPDF})
		if err != nil {
			t.Fatal(err)
		}
		idleWithin(t, s)
		w := s.Webhooks()
		if len(w) != 1 || w[0].Verb != "" || !strings.Contains(w[0].Err, wantErr) {
			t.Errorf("%s: webhook %+v, want an error about %s", answer, w, wantErr)
		}
		if f, _ := s.Fax(sid); f.Status != "failed" || f.Direction != "inbound" {
			t.Errorf("%s: fax %s", answer, f.Status)
		}
	}
}

// With a GET webhook the fields are in the signed query; the action is
// requested with the method the Receive verb names, and the media is
// served only with the project's credentials.
func TestReceiveGETAndMediaAuth(t *testing.T) {
	s := start(t, Config{})
	srv, seen := webhook(t, `<Response><Receive action="/action" method="GET"/></Response>`)
	s.SetFaxWebhook("+15550100000", srv.URL+"/in", "GET")
	sid, err := s.Receive(Incoming{From: "+15557654321", To: "+15550100000", Document: inPDF})
	if err != nil {
		t.Fatal(err)
	}
	idleWithin(t, s)
	hook, action := <-seen, <-seen
	if hook.Method != "GET" || hook.URL.Query().Get("FaxSid") != sid || hook.Header.Get("X-SignalWire-Signature") != Sign(key, srv.URL+hook.URL.RequestURI(), nil) {
		t.Errorf("webhook request: %s %s", hook.Method, hook.URL)
	}
	q := action.URL.Query()
	if action.Method != "GET" || q.Get("FaxStatus") != "received" || q.Get("NumPages") != "2" || q.Get("MediaUrl") == "" {
		t.Fatalf("action request: %s %s", action.Method, action.URL)
	}
	media := strings.TrimPrefix(q.Get("MediaUrl"), s.URL())
	if a := call(t, s, http.MethodGet, media, nil, "", ""); a.status != 200 {
		t.Errorf("media with credentials: %d", a.status)
	}
	if a := call(t, s, http.MethodGet, media, nil, project, "wrong"); a.status != 401 {
		t.Errorf("media with a wrong token: %d, want 401", a.status)
	}
	if f := s.MediaFetches(); len(f) != 2 || !f[0].Auth || f[1].Auth || f[1].Status != 401 {
		t.Errorf("media fetches %+v", f)
	}
	if f, _ := s.Fax(sid); f.Status != "received" || f.NumPages != 2 || f.RemoteStationID != "+15557654321" {
		t.Errorf("fax %+v", f)
	}
}

// The trigger the demo prints needs the project's credentials and a PDF.
func TestReceiveTrigger(t *testing.T) {
	s := start(t, Config{})
	srv, _ := webhook(t, `<Response><Reject/></Response>`)
	s.SetFaxWebhook("+15550100000", srv.URL+"/in", "")
	post := func(user, pass string, body string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/simulator/receive?From=%2B15557654321&To=%2B15550100000", strings.NewReader(body))
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(project, "wrong", string(inPDF)); code != 401 {
		t.Errorf("trigger with a wrong token: %d", code)
	}
	if code := post(project, token, "not a pdf"); code != 400 {
		t.Errorf("trigger without a PDF: %d", code)
	}
	if code := post(project, token, string(inPDF)); code != 200 {
		t.Errorf("trigger: %d", code)
	}
	idleWithin(t, s)
	if w := s.Webhooks(); len(w) != 1 || w[0].Verb != "Reject" {
		t.Errorf("webhooks %+v", w)
	}
}

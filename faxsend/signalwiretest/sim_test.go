package signalwiretest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHappyPathPOSTCallbacks(t *testing.T) {
	media := newMedia(t)
	hk := newHook(t, nil)
	s := start(t, Config{})
	cb := hk.URL + "/fax/status?job=42"
	sid := create(t, s, form(media.URL+"/doc.pdf", "StatusCallback", cb,
		"StatusCallbackEvent", "initiated", "StatusCallbackEvent", "ringing",
		"StatusCallbackEvent", "answered", "StatusCallbackEvent", "completed"))
	idle(t, s)

	f, ok := s.Fax(sid)
	if !ok {
		t.Fatal("fax not found")
	}
	if f.Status != "delivered" || f.NumPages != 2 || f.Duration != 40 || f.RemoteStationID != "+15556677999" {
		t.Errorf("fax %+v", f)
	}
	if want := []string{"queued", "processing", "sending", "delivered"}; !slices.Equal(f.History, want) {
		t.Errorf("history %v, want %v", f.History, want)
	}
	creates := s.Creates()
	if len(creates) != 1 || creates[0].SID != sid || creates[0].Answer != 200 || creates[0].Form.Get("MediaUrl") != media.URL+"/doc.pdf" {
		t.Fatalf("creates %+v", creates)
	}
	m := creates[0].Media
	if !m.Fetched || m.Status != 200 || m.SHA256 != sum(twoPages) || m.Len != len(twoPages) || m.ContentType != "application/pdf" || m.Err != "" {
		t.Errorf("media %+v", m)
	}
	if got := media.requests(); !slices.Equal(got, []string{"GET /doc.pdf"}) {
		t.Errorf("media requests %v, want one plain GET", got)
	}

	got := hk.received()
	var seen []string
	for _, r := range got {
		seen = append(seen, r.params.Get("FaxStatus"))
		if !r.valid || r.method != http.MethodPost || r.header != "X-SignalWire-Signature" {
			t.Errorf("callback %+v: want a validly signed POST", r)
		}
		for _, k := range []string{"FaxSid", "AccountSid", "From", "To", "ApiVersion", "MediaSid", "OriginalMediaUrl", "Timestamp"} {
			if r.params.Get(k) == "" {
				t.Errorf("callback %s lacks %s: %v", r.params.Get("FaxStatus"), k, r.params)
			}
		}
	}
	if want := []string{"queued", "sending", "sending", "delivered"}; !slices.Equal(seen, want) {
		t.Errorf("callback statuses %v, want %v", seen, want)
	}
	last := got[len(got)-1].params
	if last.Get("NumPages") != "2" || last.Get("RemoteStationId") != "+15556677999" || last.Get("FaxSid") != sid ||
		last.Get("ErrorCode") != "" || !strings.HasPrefix(last.Get("MediaUrl"), s.URL()) {
		t.Errorf("final callback %v", last)
	}
	recs := s.Callbacks()
	if len(recs) != 4 {
		t.Fatalf("%d callback records, want 4", len(recs))
	}
	for _, r := range recs {
		if r.Code != 200 || r.Attempt != 1 || r.FaxSID != sid || r.URL != cb || r.Signature == "" {
			t.Errorf("record %+v", r)
		}
	}
}

func TestDefaultEventIsCompletedOnly(t *testing.T) {
	media := newMedia(t)
	hk := newHook(t, nil)
	s := start(t, Config{})
	create(t, s, form(media.URL+"/doc.pdf", "StatusCallback", hk.URL+"/cb"))
	create(t, s, form(media.URL+"/doc.pdf")) // no callback URL: nothing sent
	idle(t, s)
	got := hk.received()
	if len(got) != 1 || got[0].params.Get("FaxStatus") != "delivered" {
		t.Errorf("callbacks %+v, want only the completed one", got)
	}
}

func TestGETCallbacks(t *testing.T) {
	media := newMedia(t)
	hk := newHook(t, nil)
	s := start(t, Config{})
	s.SetFaults(Faults{TwilioSignatureHeader: true})
	sid := create(t, s, form(media.URL+"/doc.pdf", "StatusCallback", hk.URL+"/fax/status?job=42",
		"StatusCallbackMethod", "GET", "StatusCallbackEvent", "initiated", "StatusCallbackEvent", "completed"))
	idle(t, s)
	got := hk.received()
	if len(got) != 2 {
		t.Fatalf("%d callbacks, want 2", len(got))
	}
	for _, r := range got {
		if r.method != http.MethodGet || !r.valid || r.header != "X-Twilio-Signature" {
			t.Errorf("callback %+v: want a GET signed over its URL in X-Twilio-Signature", r)
		}
		if r.params.Get("job") != "42" || r.params.Get("FaxSid") != sid {
			t.Errorf("query %v: want the callback's own query and the fields", r.params)
		}
	}
	if rec := s.Callbacks()[0]; !strings.HasPrefix(rec.URL, hk.URL+"/fax/status?job=42&") {
		t.Errorf("requested URL %s", rec.URL)
	}
}

func TestCreateErrorsQueue(t *testing.T) {
	s := start(t, Config{StepDelay: time.Hour})
	s.SetFaults(Faults{CreateErrors: []HTTPError{
		{Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "2"},
		{Status: 503, Code: 20504, Message: "Service unavailable"},
		{Status: 500, Code: 20504, Message: "Internal error", Accept: true},
	}})
	f := form("https://b.example/doc.pdf")
	want := []struct {
		status, code int
		retryAfter   string
	}{{429, 20429, "2"}, {503, 20504, ""}, {500, 20504, ""}, {200, 0, ""}}
	for i, w := range want {
		a := call(t, s, http.MethodPost, faxes, f, "", "")
		if a.status != w.status || a.header.Get("Retry-After") != w.retryAfter {
			t.Errorf("create %d: %d Retry-After %q, want %d %q", i, a.status, a.header.Get("Retry-After"), w.status, w.retryAfter)
		}
		if w.code != 0 && a.body["code"] != float64(w.code) {
			t.Errorf("create %d: body %v, want code %d", i, a.body, w.code)
		}
	}
	creates := s.Creates()
	if len(creates) != 2 || creates[0].Answer != 500 || creates[1].Answer != 200 {
		t.Errorf("creates %+v: want the accepted 500 and the 200", creates)
	}
	rej := s.Rejected()
	if len(rej) != 1 || !rej[0].Forced || rej[0].Status != 429 {
		t.Errorf("rejected %+v: want the forced 429 only", rej)
	}

	// A forced error never masks a refusal: validation comes first and an
	// invalid request does not use up the queue.
	s.SetFaults(Faults{CreateErrors: []HTTPError{{Status: 429, Code: 20429, Message: "slow down"}}})
	if a := call(t, s, http.MethodPost, faxes, url.Values{"To": {"+15556677999"}}, "", ""); a.status != 400 {
		t.Errorf("invalid create under a forced error: %d", a.status)
	}
	if a := call(t, s, http.MethodPost, faxes, f, "", ""); a.status != 429 {
		t.Errorf("next valid create: %d, want the queued 429", a.status)
	}
}

func TestCreateErrorRateIsSeeded(t *testing.T) {
	run := func() []int {
		s := start(t, Config{StepDelay: time.Hour})
		s.SetFaults(Faults{CreateErrorRate: 0.5, Seed: 7, CreateStatus: 201})
		var got []int
		for range 20 {
			got = append(got, call(t, s, http.MethodPost, faxes, form("https://b.example/doc.pdf"), "", "").status)
		}
		return got
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different answers: %v vs %v", a, b)
	}
	for _, want := range []int{201, 429, 500, 503} {
		if !slices.Contains(a, want) {
			t.Errorf("answers %v never include %d", a, want)
		}
	}
}

func TestDownUntil(t *testing.T) {
	s := start(t, Config{StepDelay: time.Hour})
	s.SetFaults(Faults{DownUntil: time.Now().Add(time.Hour)})
	if _, err := try(s, http.MethodPost, faxes, form("https://b.example/doc.pdf"), "", ""); err == nil {
		t.Error("create while down (reset): no error")
	}
	s.SetFaults(Faults{DownUntil: time.Now().Add(time.Hour), DownMode: Down503})
	a := call(t, s, http.MethodGet, faxes, nil, "", "")
	if a.status != 503 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Errorf("while down (503): %d %s", a.status, a.header.Get("Content-Type"))
	}
	s.SetFaults(Faults{DownUntil: time.Now().Add(-time.Second)})
	if a := call(t, s, http.MethodPost, faxes, form("https://b.example/doc.pdf"), "", ""); a.status != 200 {
		t.Errorf("after the outage: %d", a.status)
	}
	if n := len(s.Creates()); n != 1 {
		t.Errorf("%d creates, want only the one after the outage", n)
	}
}

func TestAcceptThenReset(t *testing.T) {
	s := start(t, Config{StepDelay: time.Hour})
	s.SetFaults(Faults{AcceptThenReset: true})
	if _, err := try(s, http.MethodPost, faxes, form("https://b.example/doc.pdf"), "", ""); err == nil {
		t.Fatal("create answered despite AcceptThenReset")
	}
	s.SetFaults(Faults{CreateErrors: []HTTPError{{Reset: true}, {Reset: true, Accept: true}}})
	for i := range 2 {
		if _, err := try(s, http.MethodPost, faxes, form("https://b.example/doc.pdf"), "", ""); err == nil {
			t.Fatalf("queued reset %d answered", i)
		}
	}
	creates := s.Creates()
	if len(creates) != 2 || creates[0].Answer != 0 || creates[1].Answer != 0 {
		t.Fatalf("creates %+v: want the two accepted resets", creates)
	}
	// The client learns of them only by listing: the reconciliation path.
	a := call(t, s, http.MethodGet, faxes+"?To=%2B15556677999", nil, "", "")
	if list, _ := a.body["faxes"].([]any); len(list) != 2 {
		t.Errorf("list shows %d faxes, want 2", len(list))
	}
}

func TestLatencyAppliesAfterTheWork(t *testing.T) {
	media := newMedia(t)
	s := start(t, Config{})
	s.SetFaults(Faults{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+faxes, strings.NewReader(form(media.URL+"/block").Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(project, token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// The media fetch starts only once the fax exists, while the answer to
	// the create is still being held back.
	<-media.arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want its own cancellation", err)
	}
	media.unblock()
	idle(t, s)
	if c := s.Creates(); len(c) != 1 || c[0].Answer != 200 {
		t.Errorf("creates %+v: want the one the client gave up on", c)
	}
}

func TestCallbackFaults(t *testing.T) {
	media := newMedia(t)
	events := []string{"StatusCallbackEvent", "initiated", "StatusCallbackEvent", "ringing", "StatusCallbackEvent", "completed"}
	tests := []struct {
		name     string
		faults   Faults
		status   func(int) int
		statuses []string // FaxStatus of each callback received, in order
		records  int
	}{
		{"drop all", Faults{DropAllCallbacks: true}, nil, nil, 3},
		{"drop certain", Faults{DropCallbacks: 1}, nil, nil, 3},
		{"duplicate", Faults{DuplicateCallbacks: true}, nil, []string{"queued", "queued", "sending", "sending", "delivered", "delivered"}, 6},
		{"reorder", Faults{ReorderCallbacks: true}, nil, []string{"delivered", "queued", "sending"}, 3},
		{"delay", Faults{CallbackDelay: 5 * time.Millisecond}, nil, []string{"queued", "sending", "delivered"}, 3},
		{"failing endpoint gets three attempts", Faults{}, func(int) int { return 500 },
			[]string{"queued", "queued", "queued", "sending", "sending", "sending", "delivered", "delivered", "delivered"}, 9},
		{"redirect is a failure", Faults{}, func(n int) int {
			if n%3 == 0 {
				return 200
			}
			return 302
		}, []string{"queued", "queued", "queued", "sending", "sending", "sending", "delivered", "delivered", "delivered"}, 9},
		{"recovers on the second attempt", Faults{}, func(n int) int { return []int{503, 200, 200, 200}[min(n-1, 3)] },
			[]string{"queued", "queued", "sending", "delivered"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hk := newHook(t, tt.status)
			s := start(t, Config{})
			s.SetFaults(tt.faults)
			create(t, s, form(media.URL+"/doc.pdf", append([]string{"StatusCallback", hk.URL + "/cb"}, events...)...))
			idle(t, s)
			var got []string
			for _, r := range hk.received() {
				got = append(got, r.params.Get("FaxStatus"))
				if !r.valid {
					t.Errorf("invalid signature on %v", r.params)
				}
			}
			if !slices.Equal(got, tt.statuses) {
				t.Errorf("received %v, want %v", got, tt.statuses)
			}
			recs := s.Callbacks()
			if len(recs) != tt.records {
				t.Errorf("%d records, want %d", len(recs), tt.records)
			}
			for _, r := range recs {
				if r.Attempt > 3 {
					t.Errorf("attempt %d", r.Attempt)
				}
				if tt.faults.DropAllCallbacks && !r.Dropped {
					t.Errorf("record %+v not marked dropped", r)
				}
			}
		})
	}
}

func TestCallbackNetworkFailureStopsAtThree(t *testing.T) {
	media := newMedia(t)
	// A port that was listening a moment ago refuses connections now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/cb"
	ln.Close()
	s := start(t, Config{})
	create(t, s, form(media.URL+"/doc.pdf", "StatusCallback", dead))
	idle(t, s)
	recs := s.Callbacks()
	if len(recs) != 3 {
		t.Fatalf("%d attempts, want 3", len(recs))
	}
	for i, r := range recs {
		if r.Attempt != i+1 || r.Code != 0 || r.Err == "" {
			t.Errorf("attempt %+v", r)
		}
	}
}

func TestMediaFailures(t *testing.T) {
	media := newMedia(t)
	hk := newHook(t, nil)
	tests := []struct {
		path       string
		code, msg  string
		status     int
		wantFetchs []string
	}{
		{"/redirect", "63019", "Media could not be downloaded", 302, []string{"GET /redirect"}},
		{"/missing", "63019", "Media could not be downloaded", 404, []string{"GET /missing"}},
		{"/html", "12300", "Media content type invalid", 200, []string{"GET /html"}},
		{"/notpdf", "12300", "Media content type invalid", 200, []string{"GET /notpdf"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			before := len(media.requests())
			s := start(t, Config{})
			sid := create(t, s, form(media.URL+tt.path, "StatusCallback", hk.URL+"/cb"))
			idle(t, s)
			f, _ := s.Fax(sid)
			if f.Status != "failed" || f.ErrorCode != tt.code || f.ErrorMessage != tt.msg || f.Media.Status != tt.status {
				t.Errorf("fax %s %s %q, media %+v", f.Status, f.ErrorCode, f.ErrorMessage, f.Media)
			}
			if got := media.requests()[before:]; !slices.Equal(got, tt.wantFetchs) {
				t.Errorf("media requests %v, want %v (no redirect followed)", got, tt.wantFetchs)
			}
			a := call(t, s, http.MethodGet, faxes+"/"+sid, nil, "", "")
			if a.body["status"] != "failed" || a.body["error_code"] != tt.code {
				t.Errorf("resource %v", a.body)
			}
			got := hk.received()
			if last := got[len(got)-1].params; last.Get("FaxSid") != sid || last.Get("ErrorCode") != tt.code || last.Get("FaxStatus") != "failed" {
				t.Errorf("callback %v", last)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		s := start(t, Config{})
		sid := create(t, s, form("http://127.0.0.1:1/doc.pdf"))
		idle(t, s)
		if f, _ := s.Fax(sid); f.ErrorCode != "63019" || f.Media.Err == "" {
			t.Errorf("fax %+v", f)
		}
	})
}

func TestOutcomes(t *testing.T) {
	media := newMedia(t)
	s := start(t, Config{PageCounter: func([]byte) int { return 7 }})
	s.SetFaults(Faults{Outcome: func(f Fax) Outcome {
		switch {
		case f.To == "+15550000001":
			return Outcome{Status: "busy"}
		case f.Quality == "superfine":
			return Outcome{Status: "failed", ErrorCode: "34005", ErrorMessage: "Far end cannot receive at the resolution of the image"}
		case f.To == "+15550000003":
			return Outcome{Stall: true}
		}
		return Outcome{}
	}})
	busy := create(t, s, url.Values{"To": {"+15550000001"}, "From": {"+15556677888"}, "MediaUrl": {media.URL + "/doc.pdf"}})
	fine := create(t, s, url.Values{"To": {"+15550000002"}, "From": {"+15556677888"}, "MediaUrl": {media.URL + "/doc.pdf"}})
	sup := create(t, s, url.Values{"To": {"+15550000002"}, "From": {"+15556677888"}, "MediaUrl": {media.URL + "/doc.pdf"}, "Quality": {"superfine"}})
	stall := create(t, s, url.Values{"To": {"+15550000003"}, "From": {"+15556677888"}, "MediaUrl": {media.URL + "/doc.pdf"}})
	idle(t, s)
	for sid, want := range map[string]string{busy: "busy", fine: "delivered", sup: "failed", stall: "sending"} {
		if f, _ := s.Fax(sid); f.Status != want {
			t.Errorf("%s: %s, want %s", f.To, f.Status, want)
		}
	}
	if f, _ := s.Fax(fine); f.NumPages != 7 || f.Duration != 140 {
		t.Errorf("PageCounter not used: %+v", f)
	}
	if f, _ := s.Fax(sup); f.ErrorCode != "34005" {
		t.Errorf("superfine: %+v", f)
	}
}

func TestCloseCutsWaitsShort(t *testing.T) {
	media := newMedia(t)
	hk := newHook(t, nil)
	s, err := Start(Config{ProjectID: project, APIToken: token, SigningKey: key, StepDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.SetFaults(Faults{CallbackDelay: time.Hour})
	create(t, s, form(media.URL+"/doc.pdf", "StatusCallback", hk.URL+"/cb", "StatusCallbackEvent", "initiated"))
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for the hour-long step")
	}
	if _, err := try(s, http.MethodGet, faxes, nil, "", ""); err == nil {
		t.Error("server still answers after Close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Errorf("WaitIdle after Close: %v", err)
	}
}

func TestStartRequiresCredentials(t *testing.T) {
	for _, cfg := range []Config{
		{APIToken: token, SigningKey: key},
		{ProjectID: project, SigningKey: key},
		{ProjectID: project, APIToken: token},
	} {
		if s, err := Start(cfg); err == nil {
			s.Close()
			t.Errorf("Start(%+v) accepted", cfg)
		}
	}
}

func TestTokenNeverLogged(t *testing.T) {
	media := newMedia(t)
	var (
		mu   sync.Mutex
		logs []string
	)
	s, err := Start(Config{ProjectID: project, APIToken: token, SigningKey: key, StepDelay: time.Millisecond,
		Logf: func(format string, args ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(format, args...))
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, form(media.URL+"/doc.pdf"))
	call(t, s, http.MethodGet, faxes, nil, project, "wrong-"+token)
	idle(t, s)
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(logs) == 0 {
		t.Fatal("nothing logged")
	}
	for _, l := range logs {
		if strings.Contains(l, token) || strings.Contains(l, key) {
			t.Errorf("secret in log line %q", l)
		}
	}
}

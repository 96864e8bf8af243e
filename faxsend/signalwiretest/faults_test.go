package signalwiretest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// listed returns the SIDs a list answer shows.
func listed(t *testing.T, s *Server, query string) []string {
	t.Helper()
	a := call(t, s, http.MethodGet, faxes+query, nil, "", "")
	if a.status != http.StatusOK {
		t.Fatalf("list: %d %v", a.status, a.body)
	}
	var sids []string
	for _, f := range a.body["faxes"].([]any) {
		sids = append(sids, f.(map[string]any)["sid"].(string))
	}
	return sids
}

func TestSlowCreateLandsAfterTheClientGaveUp(t *testing.T) {
	media := newMedia(t)
	s := start(t, Config{})
	const slow = 300 * time.Millisecond
	s.SetFaults(Faults{SlowCreate: slow})

	// A client that gives up early gets nothing, and nothing exists yet.
	arrived := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+faxes, strings.NewReader(form(media.URL+"/doc.pdf").Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(project, token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("client got an answer (%d) before the create took effect", resp.StatusCode)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client error %v, want its own timeout", err)
	}
	if c := s.Creates(); len(c) != 0 {
		t.Fatalf("creates %+v right after the client gave up: the create must not have happened yet", c)
	}
	if sids := listed(t, s, ""); len(sids) != 0 {
		t.Fatalf("list shows %v before the create took effect", sids)
	}

	// The create still happens, later, and the fax runs its course.
	idle(t, s)
	c := s.Creates()
	if len(c) != 1 || c[0].Answer != 0 {
		t.Fatalf("creates %+v: want the one the client gave up on, answered 0", c)
	}
	if d := c[0].Time.Sub(arrived); d < slow {
		t.Errorf("fax created %v after the request, want at least %v", d, slow)
	}
	if f, _ := s.Fax(c[0].SID); f.Status != "delivered" {
		t.Errorf("late fax %s, want delivered", f.Status)
	}

	// A client that waits gets the normal answer, no sooner than SlowCreate.
	start := time.Now()
	sid := create(t, s, form(media.URL+"/doc.pdf"))
	if d := time.Since(start); d < slow {
		t.Errorf("answered after %v, want at least %v", d, slow)
	}
	idle(t, s)
	if c := s.Creates(); len(c) != 2 || c[1].SID != sid || c[1].Answer != 200 {
		t.Errorf("creates %+v: want the waited-for create answered 200", c)
	}
}

func TestSlowCreateRefusalsAnswerAtOnce(t *testing.T) {
	s := start(t, Config{StepDelay: time.Hour})
	s.SetFaults(Faults{SlowCreate: time.Hour, CreateErrors: []HTTPError{{Status: 429, Code: 20429, Message: "Too Many Requests"}}})
	if a := call(t, s, http.MethodPost, faxes, form("https://b.example/doc.pdf"), "", ""); a.status != 429 {
		t.Errorf("forced refusal under SlowCreate: %d, want 429 at once", a.status)
	}
	if a := call(t, s, http.MethodPost, faxes, url.Values{"To": {"+15556677999"}}, "", ""); a.status != 400 {
		t.Errorf("invalid create under SlowCreate: %d, want 400 at once", a.status)
	}
}

func TestListLag(t *testing.T) {
	clk := &clock{t: time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)}
	s := start(t, Config{StepDelay: time.Hour, Now: clk.now})
	s.SetFaults(Faults{ListLag: 90 * time.Second})
	sid := create(t, s, form("https://b.example/doc.pdf"))

	if a := call(t, s, http.MethodGet, faxes+"/"+sid, nil, "", ""); a.status != http.StatusOK {
		t.Errorf("fetch of a lagging fax: %d, want 200 at once", a.status)
	}
	if sids := listed(t, s, "?To=%2B15556677999"); len(sids) != 0 {
		t.Errorf("list shows %v before the lag passed", sids)
	}
	clk.set(clk.now().Add(89 * time.Second))
	if sids := listed(t, s, ""); len(sids) != 0 {
		t.Errorf("list shows %v a second before the lag passed", sids)
	}
	clk.set(clk.now().Add(time.Second))
	if sids := listed(t, s, "?To=%2B15556677999"); !slices.Equal(sids, []string{sid}) {
		t.Errorf("list shows %v once the lag passed, want [%s]", sids, sid)
	}
}

func TestAuthFailUntil(t *testing.T) {
	clk := &clock{t: time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)}
	s := start(t, Config{StepDelay: time.Hour, Now: clk.now})
	sid := create(t, s, form("https://b.example/doc.pdf"))

	for _, tc := range []struct {
		status   int
		wantCode int
		wantAuth bool
	}{{0, 401, true}, {401, 401, true}, {403, 403, false}} {
		s.SetFaults(Faults{AuthFailUntil: clk.now().Add(time.Minute), AuthFailStatus: tc.status})
		for _, r := range []struct {
			method, path string
			form         url.Values
		}{
			{http.MethodPost, faxes, form("https://b.example/doc.pdf")},
			{http.MethodGet, faxes, nil},
			{http.MethodGet, faxes + "/" + sid, nil},
			{http.MethodPost, faxes + "/" + sid, url.Values{"Status": {"canceled"}}},
			{http.MethodGet, faxes + "/" + sid + "/Media", nil},
		} {
			a := call(t, s, r.method, r.path, r.form, "", "")
			if a.status != tc.wantCode || a.body["code"] != float64(codeAuth) {
				t.Errorf("AuthFailStatus %d: %s %s: %d %v, want %d code 20003", tc.status, r.method, r.path, a.status, a.body, tc.wantCode)
			}
			if got := a.header.Get("WWW-Authenticate") != ""; got != tc.wantAuth {
				t.Errorf("AuthFailStatus %d: %s %s: WWW-Authenticate present %v, want %v", tc.status, r.method, r.path, got, tc.wantAuth)
			}
		}
	}
	if n := len(s.Creates()); n != 1 {
		t.Errorf("%d creates, want only the one before the refusals", n)
	}
	if f, _ := s.Fax(sid); f.Status != "queued" {
		t.Errorf("cancel went through while refused: %s", f.Status)
	}
	if rej := s.Rejected(); len(rej) == 0 || !rej[len(rej)-1].Forced {
		t.Errorf("refusals not recorded as forced: %+v", rej)
	}

	clk.set(clk.now().Add(time.Minute))
	if a := call(t, s, http.MethodGet, faxes+"/"+sid, nil, "", ""); a.status != http.StatusOK {
		t.Errorf("after AuthFailUntil: %d", a.status)
	}
}

func TestNoBalanceUntil(t *testing.T) {
	clk := &clock{t: time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)}
	s := start(t, Config{StepDelay: time.Hour, Now: clk.now})
	s.SetFaults(Faults{
		NoBalanceUntil: clk.now().Add(time.Minute),
		CreateErrors:   []HTTPError{{Status: 429, Code: 20429, Message: "Too Many Requests"}},
	})
	f := form("https://b.example/doc.pdf")
	a := call(t, s, http.MethodPost, faxes, f, "", "")
	if a.status != statusNoBalance || a.body["code"] != float64(codeNoBalance) {
		t.Errorf("create without balance: %d %v, want %d code 30002", a.status, a.body, statusNoBalance)
	}
	// Validation still comes first, and reading is not refused.
	if a := call(t, s, http.MethodPost, faxes, url.Values{"To": {"+15556677999"}}, "", ""); a.status != 400 || a.body["code"] == float64(codeNoBalance) {
		t.Errorf("invalid create without balance: %d %v, want the validation error", a.status, a.body)
	}
	if a := call(t, s, http.MethodGet, faxes, nil, "", ""); a.status != 200 {
		t.Errorf("list without balance: %d", a.status)
	}
	if n := len(s.Creates()); n != 0 {
		t.Errorf("%d creates without balance", n)
	}
	clk.set(clk.now().Add(time.Minute))
	if a := call(t, s, http.MethodPost, faxes, f, "", ""); a.status != 429 {
		t.Errorf("first create after the top-up: %d, want the queued 429 (kept for later)", a.status)
	}
	create(t, s, f)
}

func TestMediaDeleteErrorsAndMediaDeleted(t *testing.T) {
	media := newMedia(t)
	s := start(t, Config{})
	sid := create(t, s, form(media.URL+"/doc.pdf"))
	idle(t, s)
	f, _ := s.Fax(sid)
	path := faxes + "/" + sid + "/Media/" + f.MediaSID

	s.SetFaults(Faults{MediaDeleteErrors: []HTTPError{
		{Status: 500, Code: 20504, Message: "Internal error"},
		{Reset: true},
		{Status: 503, Code: 20504, Message: "Service unavailable", Accept: true},
	}})
	if a := call(t, s, http.MethodDelete, path, nil, "", ""); a.status != 500 {
		t.Errorf("first delete: %d, want the forced 500", a.status)
	}
	if _, err := try(s, http.MethodDelete, path, nil, "", ""); err == nil {
		t.Error("second delete answered despite the forced reset")
	}
	if s.MediaDeleted(sid) {
		t.Fatal("media deleted by a refused request")
	}
	// A GET of the media does not use up the queue.
	if a := call(t, s, http.MethodGet, path+".json", nil, "", ""); a.status != 200 {
		t.Errorf("media resource: %d", a.status)
	}
	if a := call(t, s, http.MethodDelete, path, nil, "", ""); a.status != 503 {
		t.Errorf("third delete: %d, want the forced 503", a.status)
	}
	if !s.MediaDeleted(sid) {
		t.Error("an accepted forced error did not delete the media")
	}
	if f, _ := s.Fax(sid); !f.MediaDeleted {
		t.Error("Fax.MediaDeleted disagrees with MediaDeleted")
	}
	if a := call(t, s, http.MethodDelete, path, nil, "", ""); a.status != 404 {
		t.Errorf("delete of deleted media: %d, want 404", a.status)
	}
	if s.MediaDeleted("no-such-fax") {
		t.Error("MediaDeleted of an unknown fax")
	}
}

// finalHook receives status callbacks and passes on each final status.
func finalHook(t *testing.T) (*httptest.Server, <-chan url.Values) {
	got := make(chan url.Values, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if final(r.PostForm.Get("FaxStatus")) {
			got <- r.PostForm
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func waitFinal(t *testing.T, got <-chan url.Values) url.Values {
	t.Helper()
	select {
	case p := <-got:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no final callback within 10s")
		return nil
	}
}

func TestTTLExpiresAStalledFax(t *testing.T) {
	media := newMedia(t)
	hk, got := finalHook(t)
	s := start(t, Config{})
	s.SetFaults(Faults{TTLUnit: 40 * time.Millisecond, Outcome: func(Fax) Outcome { return Outcome{Stall: true} }})
	sid := create(t, s, form(media.URL+"/doc.pdf", "Ttl", "5", "StatusCallback", hk.URL+"/cb"))

	p := waitFinal(t, got)
	if p.Get("FaxSid") != sid || p.Get("FaxStatus") != "failed" || !strings.Contains(p.Get("ErrorMessage"), "expired") {
		t.Errorf("final callback %v: want failed, expired", p)
	}
	idle(t, s)
	f, _ := s.Fax(sid)
	if want := []string{"queued", "processing", "sending", "failed"}; !slices.Equal(f.History, want) || !strings.Contains(f.ErrorMessage, "expired") {
		t.Errorf("fax %+v: want history %v and an expiry message", f, want)
	}
	a := call(t, s, http.MethodGet, faxes+"/"+sid, nil, "", "")
	if a.body["status"] != "failed" || !strings.Contains(a.body["error_message"].(string), "Ttl") {
		t.Errorf("resource %v", a.body)
	}
}

func TestTTLExpiresAQueuedFax(t *testing.T) {
	hk, got := finalHook(t)
	s := start(t, Config{StepDelay: time.Hour})
	s.SetFaults(Faults{TTLUnit: 10 * time.Millisecond})
	sid := create(t, s, form("https://b.example/doc.pdf", "Ttl", "5", "StatusCallback", hk.URL+"/cb"))
	if p := waitFinal(t, got); p.Get("FaxSid") != sid || p.Get("FaxStatus") != "failed" {
		t.Errorf("final callback %v", p)
	}
	idle(t, s)
	if f, _ := s.Fax(sid); !slices.Equal(f.History, []string{"queued", "failed"}) {
		t.Errorf("history %v", f.History)
	}
}

func TestTTLDoesNotTouchAFinishedFax(t *testing.T) {
	media := newMedia(t)
	hk, got := finalHook(t)
	s := start(t, Config{})
	// Ttl 300 units of 1ms: far longer than the few 1ms steps of a fax.
	s.SetFaults(Faults{TTLUnit: time.Millisecond})
	sid := create(t, s, form(media.URL+"/doc.pdf", "Ttl", "300", "StatusCallback", hk.URL+"/cb"))
	if p := waitFinal(t, got); p.Get("FaxStatus") != "delivered" {
		t.Fatalf("final callback %v", p)
	}
	// Close waits for the Ttl watch; after it, the fax is as it ended.
	s.Close()
	if f, _ := s.Fax(sid); f.Status != "delivered" || len(f.History) != 4 {
		t.Errorf("fax %+v after close", f)
	}
}

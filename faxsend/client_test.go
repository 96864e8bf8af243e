package faxsend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

const faxesPath = "/api/laml/2010-04-01/Accounts/proj-1/Faxes"

// seen is what a test server recorded of the requests it got.
type seen struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path, query, user, pass, accept, ctype string
	form                                           url.Values
}

func (s *seen) add(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	user, pass, _ := r.BasicAuth()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, recorded{
		method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
		user: user, pass: pass, accept: r.Header.Get("Accept"), ctype: r.Header.Get("Content-Type"),
		form: form,
	})
}

func (s *seen) all() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

// server answers every request with status and body after recording it.
func server(t *testing.T, status int, body string, header http.Header) (*httptest.Server, *seen) {
	t.Helper()
	var s seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &s
}

func client(t *testing.T, base string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: base, ProjectID: "proj-1", APIToken: "tok-1", SigningKey: psk}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = []time.Duration{time.Millisecond, time.Millisecond}
	return c
}

const faxJSON = `{
  "account_sid": "proj-1", "api_version": "v1",
  "date_created": "Tue, 14 May 2024 10:00:05 +0000", "date_updated": "Tue, 14 May 2024 10:00:05 +0000",
  "direction": "outbound", "from": "+15550001111", "to": "+15552223333",
  "media_url": "https://media.example/doc.pdf?sig=1", "media_sid": null,
  "num_pages": %s, "price": %s, "price_unit": "USD", "quality": "fine",
  "sid": "fx-1", "status": "queued", "duration": %s,
  "url": "/api/laml/2010-04-01/Accounts/proj-1/Faxes/fx-1", "links": {"media": "/x"},
  "error_code": null, "error_message": null, "new_field": {"nested": [1, 2]}
}`

func req() faxbridge.FaxRequest {
	return faxbridge.FaxRequest{
		To:             "+15552223333",
		From:           "+15550001111",
		MediaURL:       "https://media.example/doc.pdf?sig=1",
		Quality:        "superfine",
		StatusCallback: "https://bridge.example.net/cb?job=1",
	}
}

func TestSendForm(t *testing.T) {
	srv, s := server(t, http.StatusCreated, fmt.Sprintf(faxJSON, `"3"`, `null`, `0`), nil)
	no := false
	c := client(t, srv.URL, func(cfg *Config) {
		cfg.TTL = 90
		cfg.StoreMedia = &no
		cfg.StatusCallbackMethod = "POST"
		cfg.StatusCallbackEvents = []string{"initiated", "completed"}
	})
	r := req()
	r.SipAuthUsername = "sipuser"
	r.SipAuthPassword = "sippass"
	st, err := c.Send(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if st.SID != "fx-1" || st.Status != "queued" || st.Pages != 3 {
		t.Errorf("status %+v", st)
	}
	got := s.all()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	g := got[0]
	if g.method != http.MethodPost || g.path != faxesPath || g.user != "proj-1" || g.pass != "tok-1" ||
		g.accept != "application/json" || g.ctype != "application/x-www-form-urlencoded" {
		t.Errorf("request %+v", g)
	}
	want := url.Values{
		"MediaUrl":             {"https://media.example/doc.pdf?sig=1"},
		"To":                   {"+15552223333"},
		"From":                 {"+15550001111"},
		"Quality":              {"superfine"},
		"StatusCallback":       {"https://bridge.example.net/cb?job=1"},
		"StatusCallbackMethod": {"POST"},
		"StatusCallbackEvent":  {"initiated", "completed"},
		"StoreMedia":           {"false"},
		"Ttl":                  {"90"},
		"SipAuthUsername":      {"sipuser"},
		"SipAuthPassword":      {"sippass"},
	}
	if !reflect.DeepEqual(g.form, want) {
		t.Errorf("form\n got %v\nwant %v", g.form, want)
	}
}

func TestSendOmitsEmpty(t *testing.T) {
	srv, s := server(t, http.StatusOK, fmt.Sprintf(faxJSON, `null`, `null`, `null`), nil)
	c := client(t, srv.URL, nil)
	r := req()
	r.Quality = ""
	r.StatusCallback = ""
	if _, err := c.Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"MediaUrl": {"https://media.example/doc.pdf?sig=1"},
		"To":       {"+15552223333"},
		"From":     {"+15550001111"},
	}
	if got := s.all()[0].form; !reflect.DeepEqual(got, want) {
		t.Errorf("form\n got %v\nwant %v", got, want)
	}
}

func TestSendRefusesIncompleteRequest(t *testing.T) {
	srv, s := server(t, http.StatusOK, "{}", nil)
	c := client(t, srv.URL, nil)
	for _, mod := range []func(*faxbridge.FaxRequest){
		func(r *faxbridge.FaxRequest) { r.To = "" },
		func(r *faxbridge.FaxRequest) { r.From = "" },
		func(r *faxbridge.FaxRequest) { r.MediaURL = "" },
		func(r *faxbridge.FaxRequest) { r.Quality = "best" },
	} {
		r := req()
		mod(&r)
		if _, err := c.Send(context.Background(), r); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("%+v: err %v, want invalid", r, err)
		}
	}
	if n := len(s.all()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestLenientResource(t *testing.T) {
	tests := []struct {
		name, pages, price, duration string
		status                       int
		wantPages, wantDuration      int
	}{
		{"strings, 201", `"2"`, `"-0.0105"`, `"41"`, 201, 2, 41},
		{"numbers, 200", `2`, `0.01`, `41`, 200, 2, 41},
		{"nulls", `null`, `null`, `null`, 200, 0, 0},
		{"decimal string", `"2.0"`, `"x"`, `41.4`, 202, 2, 41},
		{"garbage", `"two"`, `{}`, `[]`, 200, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := server(t, tt.status, fmt.Sprintf(faxJSON, tt.pages, tt.price, tt.duration), nil)
			st, err := client(t, srv.URL, nil).Send(context.Background(), req())
			if err != nil {
				t.Fatal(err)
			}
			want := faxbridge.FaxStatus{
				SID: "fx-1", Status: "queued", To: "+15552223333",
				MediaURL: "https://media.example/doc.pdf?sig=1",
				Pages:    tt.wantPages, Duration: tt.wantDuration,
				CreatedAt: time.Date(2024, 5, 14, 10, 0, 5, 0, time.UTC),
				From:      "+15550001111", Direction: faxbridge.Outbound,
			}
			if st != want {
				t.Errorf("got %+v\nwant %+v", st, want)
			}
		})
	}
}

func TestDates(t *testing.T) {
	want := time.Date(2024, 5, 14, 10, 0, 5, 0, time.UTC)
	for _, s := range []string{
		"Tue, 14 May 2024 10:00:05 +0000",
		"Tue, 14 May 2024 12:00:05 +0200",
		"Tue, 14 May 2024 10:00:05 GMT",
		"2024-05-14T10:00:05Z",
		"2024-05-14T10:00:05.000+00:00",
	} {
		if got := parseStamp(s); !got.Equal(want) {
			t.Errorf("parseStamp(%q) = %v", s, got)
		}
	}
	if got := parseStamp("yesterday"); !got.IsZero() {
		t.Errorf("parseStamp(junk) = %v", got)
	}
}

func TestSendSuccessWithoutSIDIsAmbiguous(t *testing.T) {
	for _, body := range []string{`{"status":"queued"}`, `<Response/>`, ``} {
		srv, _ := server(t, http.StatusCreated, body, nil)
		_, err := client(t, srv.URL, nil).Send(context.Background(), req())
		if !errors.Is(err, faxbridge.ErrAmbiguous) || faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
			t.Errorf("body %q: err %v, want ambiguous unavailable", body, err)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	date := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		name      string
		status    int
		body      string
		header    http.Header
		code      faxbridge.Code
		retry     time.Duration // minimum expected
		ambiguous bool
		message   string
		raw       string // in the error text, for logs
	}{
		{"429 seconds", 429, `{"code":20429,"message":"Too Many Requests","status":429}`, http.Header{"Retry-After": {"7"}},
			faxbridge.EUnavailable, 7 * time.Second, false, "The fax service is busy right now.", "Too Many Requests"},
		{"429 date", 429, ``, http.Header{"Retry-After": {date}},
			faxbridge.EUnavailable, 100 * time.Second, false, msgUnavailable, "HTTP 429"},
		{"500", 500, `{"code":"20504","message":"Internal Server Error"}`, nil,
			faxbridge.EUnavailable, 0, true, "The fax service had an internal problem.", "Internal Server Error"},
		{"503", 503, `<html>down</html>`, nil,
			faxbridge.EUnavailable, 0, false, msgUnavailable, "<html>down</html>"},
		{"400 bad To", 400, `{"code":21211,"message":"Invalid 'To' Phone Number","more_info":"https://x/21211","status":400}`, nil,
			faxbridge.EInvalid, 0, false, "The fax number is not valid. Please check the number and send again.", "Invalid 'To' Phone Number"},
		{"400 queue full", 400, `{"code":21611,"message":"queue full","status":"400"}`, nil,
			faxbridge.EUnavailable, 0, false, "Too many faxes are waiting to be sent right now.", "queue full"},
		{"400 unknown code", 400, `{"code":99999,"message":"secret internals"}`, nil,
			faxbridge.EInvalid, 0, false, msgRefused, "secret internals"},
		{"401", 401, `{"code":20003,"message":"Authentication Failure"}`, nil,
			faxbridge.EUnauthorized, 0, false, msgAuth, "Authentication Failure"},
		{"403", 403, ``, nil, faxbridge.EUnauthorized, 0, false, msgAuth, "HTTP 403"},
		{"404 on send", 404, `{"code":20404}`, nil, faxbridge.EUnavailable, 0, false, msgSetup, "HTTP 404"},
		{"302", 302, ``, http.Header{"Location": {"https://elsewhere.example/"}}, faxbridge.EUnavailable, 0, false, msgSetup, "HTTP 302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := server(t, tt.status, tt.body, tt.header)
			_, err := client(t, srv.URL, nil).Send(context.Background(), req())
			var fe *faxbridge.Error
			if !errors.As(err, &fe) {
				t.Fatalf("err %v is not a *faxbridge.Error", err)
			}
			if fe.Code != tt.code {
				t.Errorf("code %q, want %q", fe.Code, tt.code)
			}
			if fe.RetryAfter < tt.retry || (tt.retry == 0 && fe.RetryAfter != 0) {
				t.Errorf("RetryAfter %v, want %v", fe.RetryAfter, tt.retry)
			}
			if errors.Is(err, faxbridge.ErrAmbiguous) != tt.ambiguous {
				t.Errorf("ambiguous = %v, want %v", !tt.ambiguous, tt.ambiguous)
			}
			if fe.Message != tt.message {
				t.Errorf("message %q, want %q", fe.Message, tt.message)
			}
			if !strings.Contains(err.Error(), tt.raw) {
				t.Errorf("error %q does not keep %q", err, tt.raw)
			}
			if strings.Contains(faxbridge.ErrorMessage(err), "secret") {
				t.Errorf("sender message leaks provider text: %q", faxbridge.ErrorMessage(err))
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-3", 0},
		{"120", 2 * time.Minute},
		{"Tue, 14 May 2024 10:00:30 GMT", 30 * time.Second},
		{"Tue, 14 May 2024 09:00:00 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSendAmbiguousAfterWrite(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	_, err := client(t, srv.URL, nil).Send(context.Background(), req())
	if !errors.Is(err, faxbridge.ErrAmbiguous) || faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Fatalf("err %v, want ambiguous unavailable", err)
	}
	if faxbridge.ErrorMessage(err) != msgUnknownOutcome {
		t.Errorf("message %q", faxbridge.ErrorMessage(err))
	}
}

func TestSendAmbiguousOnCancelAfterWrite(t *testing.T) {
	got := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		close(got)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-got
		cancel()
	}()
	_, err := client(t, srv.URL, nil).Send(ctx, req())
	if !errors.Is(err, faxbridge.ErrAmbiguous) || faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Fatalf("err %v, want ambiguous unavailable", err)
	}
}

func TestSendNotAmbiguousBeforeWrite(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = client(t, "http://"+addr, nil).Send(context.Background(), req())
	if err == nil || errors.Is(err, faxbridge.ErrAmbiguous) || faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Fatalf("err %v, want plain unavailable", err)
	}
	if faxbridge.ErrorMessage(err) != msgUnreachable {
		t.Errorf("message %q", faxbridge.ErrorMessage(err))
	}

	// A caller's context that is already over stops the request before it
	// is written.
	srv, s := server(t, http.StatusCreated, `{"sid":"x"}`, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = client(t, srv.URL, nil).Send(ctx, req())
	if err == nil || errors.Is(err, faxbridge.ErrAmbiguous) {
		t.Fatalf("err %v, want plain error", err)
	}
	if n := len(s.all()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestSendDoesNotRetry(t *testing.T) {
	srv, s := server(t, http.StatusServiceUnavailable, ``, nil)
	if _, err := client(t, srv.URL, nil).Send(context.Background(), req()); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Fatalf("err %v", err)
	}
	if n := len(s.all()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestFetch(t *testing.T) {
	body := `{"sid":"fx-9","status":"failed","to":"+15552223333","num_pages":"1","duration":33,
		"error_code":"34004","error_message":"The call dropped prematurely","date_created":"2024-05-14T10:00:05Z"}`
	srv, s := server(t, http.StatusOK, body, nil)
	st, err := client(t, srv.URL, nil).Fetch(context.Background(), "fx-9")
	if err != nil {
		t.Fatal(err)
	}
	want := faxbridge.FaxStatus{
		SID: "fx-9", Status: "failed", To: "+15552223333", Pages: 1, Duration: 33,
		ErrorCode: "34004", ErrorMessage: "The call dropped prematurely",
		CreatedAt: time.Date(2024, 5, 14, 10, 0, 5, 0, time.UTC),
		Reason:    "The call dropped before the fax was complete.",
	}
	if st != want {
		t.Errorf("got %+v\nwant %+v", st, want)
	}
	g := s.all()[0]
	if g.method != http.MethodGet || g.path != faxesPath+"/fx-9" || g.user != "proj-1" || g.pass != "tok-1" || g.accept != "application/json" {
		t.Errorf("request %+v", g)
	}
}

func TestFetchNotFound(t *testing.T) {
	srv, _ := server(t, http.StatusNotFound, `{"code":20404,"message":"not found"}`, nil)
	if _, err := client(t, srv.URL, nil).Fetch(context.Background(), "nope"); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Errorf("err %v, want not found", err)
	}
}

func TestFetchRetries(t *testing.T) {
	var (
		mu    sync.Mutex
		calls int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		io.WriteString(w, `{"sid":"fx-1","status":"delivered"}`)
	}))
	t.Cleanup(srv.Close)
	c := client(t, srv.URL, nil)
	st, err := c.Fetch(context.Background(), "fx-1")
	if err != nil || st.Status != "delivered" {
		t.Fatalf("status %+v, err %v", st, err)
	}

	// A long Retry-After is left to the caller's scheduler.
	srv2, s := server(t, http.StatusTooManyRequests, ``, http.Header{"Retry-After": {"60"}})
	_, err = client(t, srv2.URL, nil).Fetch(context.Background(), "fx-1")
	if faxbridge.RetryAfter(err) != time.Minute {
		t.Errorf("err %v, want a minute's Retry-After", err)
	}
	if n := len(s.all()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}

	// Permanent errors are not retried.
	srv3, s3 := server(t, http.StatusBadRequest, `{"code":21211}`, nil)
	if _, err = client(t, srv3.URL, nil).Fetch(context.Background(), "fx-1"); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
		t.Errorf("err %v", err)
	}
	if n := len(s3.all()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestCancel(t *testing.T) {
	srv, s := server(t, http.StatusOK, `{"sid":"fx-1","status":"canceled"}`, nil)
	if err := client(t, srv.URL, nil).Cancel(context.Background(), "fx-1"); err != nil {
		t.Fatal(err)
	}
	g := s.all()[0]
	if g.method != http.MethodPost || g.path != faxesPath+"/fx-1" || !reflect.DeepEqual(g.form, url.Values{"Status": {"canceled"}}) {
		t.Errorf("request %+v", g)
	}
}

func TestFindSent(t *testing.T) {
	const (
		to    = "+15552223333"
		media = "https://media.example/jobs/abc.pdf?X-Amz-Signature=1"
	)
	since := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	entry := func(sid, date, to, media string) string {
		return fmt.Sprintf(`{"sid":%q,"status":"sending","to":%q,"media_url":%q,"date_created":%q}`, sid, to, media, date)
	}
	pages := map[string]string{
		"0": `{"faxes":[` +
			entry("old", "Tue, 14 May 2024 09:58:59 +0000", to, media) + `,` + // before since-1min
			entry("other-media", "Tue, 14 May 2024 10:05:00 +0000", to, "https://media.example/jobs/xyz.pdf?X-Amz-Signature=1") + `,` +
			entry("other-to", "Tue, 14 May 2024 10:05:00 +0000", "+15559999999", media) + `,` +
			entry("no-date", "", to, media) +
			`],"next_page_uri":"` + faxesPath + `?To=%2B15552223333&Page=1&PageToken=t1"}`,
		"1": `{"faxes":[` +
			entry("skewed", "Tue, 14 May 2024 09:59:30 +0000", to, media) + `,` + // within the minute of skew
			entry("stripped", "Tue, 14 May 2024 10:01:00 +0000", to, "https://media.example/jobs/abc.pdf") + `,` +
			entry("other-path", "Tue, 14 May 2024 10:09:00 +0000", to, "https://media.example/jobs/abd.pdf") +
			`],"next_page_uri":"` + faxesPath + `?To=%2B15552223333&Page=2&PageToken=t2"}`,
		"2": `{"faxes":[` + entry("newest", "2024-05-14T10:02:00Z", to, media) + `],"next_page_uri":null}`,
	}
	var (
		s  seen
		mu sync.Mutex // guards pages, which the test edits between calls
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		page := r.URL.Query().Get("Page")
		if page == "" {
			page = "0"
		}
		mu.Lock()
		body, ok := pages[page]
		mu.Unlock()
		if !ok || r.URL.Path != faxesPath {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)

	got, err := client(t, srv.URL, nil).FindSent(context.Background(), faxbridge.SentQuery{To: to, Since: since}, media)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].SID != "newest" {
		t.Fatalf("got %+v, want the newest match first", got)
	}
	// The undated fax is kept (the server applied the date filter) and
	// comes last.
	var sids []string
	for _, st := range got {
		sids = append(sids, st.SID)
	}
	if want := []string{"newest", "stripped", "skewed", "no-date"}; !reflect.DeepEqual(sids, want) {
		t.Errorf("matches %v, want %v", sids, want)
	}
	reqs := s.all()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	q, _ := url.ParseQuery(reqs[0].query)
	if q.Get("To") != to || q.Get("DateCreatedAfter") != "2024-05-14T09:59:00Z" || q.Get("PageSize") == "" {
		t.Errorf("first query %v", q)
	}
	if reqs[0].user != "proj-1" || reqs[0].method != http.MethodGet {
		t.Errorf("request %+v", reqs[0])
	}
	if reqs[2].query != "To=%2B15552223333&Page=2&PageToken=t2" {
		t.Errorf("third query %q: next_page_uri not followed as given", reqs[2].query)
	}

	// Without the newest page the stripped-query match wins over the older
	// skewed one.
	mu.Lock()
	delete(pages, "2")
	pages["1"] = strings.Replace(pages["1"], `"next_page_uri":"`+faxesPath+`?To=%2B15552223333&Page=2&PageToken=t2"`, `"next_page_uri":""`, 1)
	mu.Unlock()
	got, err = client(t, srv.URL, nil).FindSent(context.Background(), faxbridge.SentQuery{To: to, Since: since}, media)
	if err != nil || len(got) == 0 || got[0].SID != "stripped" {
		t.Fatalf("got %+v, %v; want the stripped-query match", got, err)
	}

	// Nothing dated matches a later since; the undated fax is left to the
	// server's filter, which this test server does not apply.
	got, err = client(t, srv.URL, nil).FindSent(context.Background(), faxbridge.SentQuery{To: to, Since: since.Add(time.Hour)}, media)
	if err != nil || len(got) != 1 || got[0].SID != "no-date" {
		t.Fatalf("got %+v, %v; want only the undated fax", got, err)
	}
}

func TestFindSentRefusesForeignNextPage(t *testing.T) {
	srv, s := server(t, http.StatusOK, `{"faxes":[],"next_page_uri":"https://evil.example/steal"}`, nil)
	_, err := client(t, srv.URL, nil).FindSent(context.Background(), faxbridge.SentQuery{To: "+1555", Since: time.Now()}, "https://m/x")
	if faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("err %v, want unavailable", err)
	}
	if n := len(s.all()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestFindSentStopsLoops(t *testing.T) {
	srv, s := server(t, http.StatusOK, `{"faxes":[],"next_page_uri":"`+faxesPath+`?Page=1"}`, nil)
	_, err := client(t, srv.URL, nil).FindSent(context.Background(), faxbridge.SentQuery{To: "+1555", Since: time.Now()}, "https://m/x")
	if faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("err %v, want unavailable", err)
	}
	if n := len(s.all()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestSameMedia(t *testing.T) {
	ours := "https://media.example/jobs/abc.pdf?X-Amz-Signature=1&X-Amz-Date=2"
	tests := []struct {
		got  string
		want bool
	}{
		{ours, true},
		{"https://media.example/jobs/abc.pdf", true},
		{"HTTPS://MEDIA.example/jobs/abc.pdf", true},
		{"https://media.example/jobs/abc.pdf?X-Amz-Date=2&X-Amz-Signature=1", false},
		{"https://media.example/jobs/abcd.pdf", false},
		{"https://other.example/jobs/abc.pdf", false},
		{"http://media.example/jobs/abc.pdf", false},
		{"https://media.example/", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := sameMedia(tt.got, ours); got != tt.want {
			t.Errorf("sameMedia(%q) = %v, want %v", tt.got, got, tt.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	ok := Config{BaseURL: "https://example.signalwire.com", ProjectID: "p", APIToken: "t"}
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"minimal", func(*Config) {}, true},
		{"trailing slash", func(c *Config) { c.BaseURL += "/" }, true},
		{"full", func(c *Config) {
			c.TTL = 300
			c.StatusCallbackMethod = "GET"
			c.StatusCallbackEvents = []string{"initiated", "ringing", "answered", "completed", "ringing_forwarded", "ringing_queued"}
		}, true},
		{"TTL low", func(c *Config) { c.TTL = 4 }, false},
		{"TTL high", func(c *Config) { c.TTL = 301 }, false},
		{"method", func(c *Config) { c.StatusCallbackMethod = "PUT" }, false},
		{"event", func(c *Config) { c.StatusCallbackEvents = []string{"delivered"} }, false},
		{"no base", func(c *Config) { c.BaseURL = "" }, false},
		{"base with path", func(c *Config) { c.BaseURL += "/api" }, false},
		{"base without scheme", func(c *Config) { c.BaseURL = "example.signalwire.com" }, false},
		{"no project", func(c *Config) { c.ProjectID = "" }, false},
		{"no token", func(c *Config) { c.APIToken = "" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			_, err := New(cfg)
			if tt.ok && err != nil {
				t.Errorf("err %v", err)
			}
			if !tt.ok && faxbridge.ErrorCode(err) != faxbridge.EInvalid {
				t.Errorf("err %v, want invalid", err)
			}
		})
	}
}

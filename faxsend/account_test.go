package faxsend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

func TestSameNumber(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"+15552223333", "+15552223333", true},
		{"+15552223333", "15552223333", true},
		{"+1 555 222-3333", "+15552223333", true},
		{"+1 (555) 222-3333", "15552223333", true},
		{"+1.555.222.3333", "+15552223333", true},
		{"tel:+15552223333", "+15552223333", true},
		{"TEL:+1-555-222-3333;phone-context=example.com", "+15552223333", true},
		{" +15552223333 ", "+15552223333", true},
		{"+15552223333", "+15552223334", false},
		{"+15552223333", "+25552223333", false},
		{"sip:fax@Example.COM", "SIP:fax@example.com", true},
		{"sip:fax@example.com:5060;transport=tcp", "sip:fax@EXAMPLE.com:5060;transport=tcp", true},
		{"sip:Fax@example.com", "sip:fax@example.com", false}, // the user part is case-sensitive
		{"sip:fax@example.com", "sip:fax@example.org", false},
		{"sip:fax@example.com", "sips:fax@example.com", false},
		{"sip:+15552223333@example.com", "+15552223333", false},
		{"alice", "alice", true},
		{"alice", "Alice", false},
		{"alice", "+15552223333", false},
	}
	for _, tt := range tests {
		if got := sameNumber(tt.a, tt.b); got != tt.want {
			t.Errorf("sameNumber(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := sameNumber(tt.b, tt.a); got != tt.want {
			t.Errorf("sameNumber(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

// TestListSentQueryAndNumbers checks what the listing asks for (To, From,
// a full RFC 3339 DateCreatedAfter) and that it compares the numbers it
// gets back normalised, whatever form the server writes them in.
func TestListSentQueryAndNumbers(t *testing.T) {
	entry := func(sid, to, from string) string {
		return fmt.Sprintf(`{"sid":%q,"status":"delivered","to":%q,"from":%q,"date_created":"Tue, 14 May 2024 10:01:00 +0000"}`, sid, to, from)
	}
	body := `{"faxes":[` + strings.Join([]string{
		entry("plain", "+15552223333", "+15550001111"),
		entry("no-plus", "15552223333", "15550001111"),
		entry("dashes", "+1 (555) 222-3333", "+1-555-000-1111"),
		entry("tel", "tel:+15552223333", "tel:+15550001111"),
		entry("other-to", "+15552223334", "+15550001111"),
		entry("other-from", "+15552223333", "+15559990000"),
		`{"sid":"null-numbers","status":"delivered","to":null,"from":null,"date_created":"Tue, 14 May 2024 10:01:00 +0000"}`,
	}, ",") + `],"next_page_uri":null}`
	srv, s := server(t, http.StatusOK, body, nil)
	since := time.Date(2024, 5, 14, 10, 0, 0, 500e6, time.FixedZone("CEST", 2*3600))
	got, err := client(t, srv.URL, nil).ListSent(context.Background(),
		faxbridge.SentQuery{To: "+15552223333", From: "+15550001111", Since: since})
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, st := range got {
		sids = append(sids, st.SID)
	}
	if want := []string{"plain", "no-plus", "dashes", "tel", "null-numbers"}; !reflect.DeepEqual(sids, want) {
		t.Errorf("listed %v, want %v", sids, want)
	}
	reqs := s.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	q, _ := url.ParseQuery(reqs[0].query)
	// since less a minute of skew, in UTC, whole seconds.
	if q.Get("To") != "+15552223333" || q.Get("From") != "+15550001111" || q.Get("DateCreatedAfter") != "2024-05-14T07:59:00Z" {
		t.Errorf("query %v", q)
	}

	// Without From, no From is sent and any sender matches.
	srv2, s2 := server(t, http.StatusOK, body, nil)
	got, err = client(t, srv2.URL, nil).ListSent(context.Background(), faxbridge.SentQuery{To: "15552223333", Since: since})
	if err != nil || len(got) != 6 {
		t.Errorf("without From: %d faxes, %v; want 6", len(got), err)
	}
	if q, _ := url.ParseQuery(s2.all()[0].query); q.Has("From") {
		t.Errorf("From sent without one asked: %v", q)
	}
}

// TestListSentThroughSimulator runs the query against the simulator, whose
// filters are strict: From narrows the list, the date-time is accepted.
func TestListSentThroughSimulator(t *testing.T) {
	sim, media := startSim(t)
	c := client(t, sim.URL(), nil)
	since := time.Now()
	var want []string
	for _, from := range []string{"+15550001111", "+15550002222", "+15550001111"} {
		r := req()
		r.From, r.MediaURL, r.StatusCallback = from, media+"/doc.pdf", ""
		st, err := c.Send(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if from == "+15550001111" {
			want = append([]string{st.SID}, want...) // newest first
		}
	}
	got, err := c.ListSent(context.Background(), faxbridge.SentQuery{To: req().To, From: "+15550001111", Since: since})
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, st := range got {
		sids = append(sids, st.SID)
	}
	if !reflect.DeepEqual(sids, want) {
		t.Errorf("listed %v, want %v", sids, want)
	}
}

// startSim starts a simulator for client proj-1/tok-1 and a server of
// the document it fetches.
func startSim(t *testing.T) (*signalwiretest.Server, string) {
	t.Helper()
	sim, err := signalwiretest.Start(signalwiretest.Config{ProjectID: "proj-1", APIToken: "tok-1", SigningKey: psk, StepDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(inboundPDF)
	}))
	t.Cleanup(docs.Close)
	return sim, docs.URL
}

func waitIdle(t *testing.T, sim *signalwiretest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAccountErrors checks that every operation tells a refusal of the
// account (an operator fixes it; the fax waits) from a refusal of the fax.
func TestAccountErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		account bool
		code    faxbridge.Code
		message string
	}{
		{"401 revoked token", 401, `{"code":20003,"message":"Authentication Error - invalid username","status":401}`, true, faxbridge.EUnauthorized, msgAuth},
		{"403 without Fax scope", 403, `{"code":20003,"message":"Forbidden","status":403}`, true, faxbridge.EUnauthorized, msgAuth},
		{"403 without a body", 403, ``, true, faxbridge.EUnauthorized, msgAuth},
		{"20003 on a 400", 400, `{"code":20003,"message":"Authentication Error"}`, true, faxbridge.EUnauthorized, msgAuth},
		{"30002 on a 402", 402, `{"code":30002,"message":"Insufficient balance"}`, true, faxbridge.EUnavailable,
			"The fax account has run out of credit. Please tell your administrator."},
		{"30002 on a 400", 400, `{"code":"30002","message":"Insufficient balance"}`, true, faxbridge.EUnavailable,
			"The fax account has run out of credit. Please tell your administrator."},
		{"400 bad To", 400, `{"code":21211,"message":"Invalid 'To' Phone Number"}`, false, faxbridge.EInvalid,
			"The fax number is not valid. Please check the number and send again."},
		{"429", 429, `{"code":20429,"message":"Too Many Requests"}`, false, faxbridge.EUnavailable, "The fax service is busy right now."},
		{"503", 503, `<html>down</html>`, false, faxbridge.EUnavailable, msgUnavailable},
	}
	ops := map[string]func(*Client) error{
		"send": func(c *Client) error { _, err := c.Send(context.Background(), req()); return err },
		"fetch": func(c *Client) error {
			_, err := c.Fetch(context.Background(), "fx-1")
			return err
		},
		"list": func(c *Client) error {
			_, err := c.ListSent(context.Background(), faxbridge.SentQuery{To: "+15552223333", Since: time.Now()})
			return err
		},
		"find": func(c *Client) error {
			_, err := c.FindSent(context.Background(), faxbridge.SentQuery{To: "+15552223333", Since: time.Now()}, "https://m/x.pdf")
			return err
		},
		"cancel":       func(c *Client) error { return c.Cancel(context.Background(), "fx-1") },
		"delete media": func(c *Client) error { return c.DeleteMedia(context.Background(), "fx-1") },
	}
	for _, tt := range tests {
		for name, op := range ops {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				srv, _ := server(t, tt.status, tt.body, nil)
				err := op(client(t, srv.URL, nil))
				if errors.Is(err, faxbridge.ErrAccount) != tt.account {
					t.Errorf("errors.Is(%v, ErrAccount) = %v, want %v", err, !tt.account, tt.account)
				}
				if got := faxbridge.ErrorCode(err); got != tt.code {
					t.Errorf("code %q, want %q", got, tt.code)
				}
				if got := faxbridge.ErrorMessage(err); got != tt.message {
					t.Errorf("message %q, want %q", got, tt.message)
				}
			})
		}
	}
}

// sentThroughSim starts the simulator and sends one fax through it, to
// its end: the tests below then act on that fax.
func sentThroughSim(t *testing.T) (*signalwiretest.Server, *Client, faxbridge.FaxRequest, faxbridge.FaxStatus) {
	t.Helper()
	sim, media := startSim(t)
	c := client(t, sim.URL(), nil)
	r := req()
	r.MediaURL, r.StatusCallback = media+"/doc.pdf", ""
	sent, err := c.Send(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, sim)
	return sim, c, r, sent
}

// TestAccountErrorsFromSimulator checks the classification against the
// simulator's own refusals: a token refused for a while, a balance run dry.
func TestAccountErrorsFromSimulator(t *testing.T) {
	sim, c, r, sent := sentThroughSim(t)

	for _, status := range []int{401, 403} {
		sim.SetFaults(signalwiretest.Faults{AuthFailUntil: time.Now().Add(time.Hour), AuthFailStatus: status})
		errs := map[string]error{}
		_, errs["send"] = c.Send(context.Background(), r)
		_, errs["fetch"] = c.Fetch(context.Background(), sent.SID)
		_, errs["list"] = c.ListSent(context.Background(), faxbridge.SentQuery{To: r.To, Since: time.Now()})
		errs["delete media"] = c.DeleteMedia(context.Background(), sent.SID)
		for op, err := range errs {
			if !errors.Is(err, faxbridge.ErrAccount) || faxbridge.ErrorCode(err) != faxbridge.EUnauthorized {
				t.Errorf("%d: %s: %v (code %s), want an account error", status, op, err, faxbridge.ErrorCode(err))
			}
		}
	}

	sim.SetFaults(signalwiretest.Faults{NoBalanceUntil: time.Now().Add(time.Hour)})
	_, err := c.Send(context.Background(), r)
	if !errors.Is(err, faxbridge.ErrAccount) || faxbridge.ErrorCode(err) != faxbridge.EUnavailable || errors.Is(err, faxbridge.ErrAmbiguous) {
		t.Errorf("send without balance: %v (code %s), want an unambiguous account error", err, faxbridge.ErrorCode(err))
	}
	if sim.MediaDeleted(sent.SID) {
		t.Error("media deleted while the account was refused")
	}
}

func TestDeleteMediaThroughSimulator(t *testing.T) {
	sim, c, _, sent := sentThroughSim(t)

	// A refused deletion is an error worth retrying, and deletes nothing.
	sim.SetFaults(signalwiretest.Faults{MediaDeleteErrors: []signalwiretest.HTTPError{
		{Status: 503, Code: 20504, Message: "Service unavailable"},
		{Status: 503, Code: 20504, Message: "Service unavailable"},
		{Status: 503, Code: 20504, Message: "Service unavailable"},
	}})
	if err := c.DeleteMedia(context.Background(), sent.SID); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("refused deletion: %v, want unavailable", err)
	}
	if sim.MediaDeleted(sent.SID) {
		t.Fatal("media deleted by a refused request")
	}

	sim.SetFaults(signalwiretest.Faults{})
	if err := c.DeleteMedia(context.Background(), sent.SID); err != nil {
		t.Fatal(err)
	}
	if !sim.MediaDeleted(sent.SID) {
		t.Error("media not deleted")
	}
	// Again: nothing is left, which is done.
	if err := c.DeleteMedia(context.Background(), sent.SID); err != nil {
		t.Errorf("second deletion: %v", err)
	}
	// A fax the provider does not know has nothing left to delete.
	if err := c.DeleteMedia(context.Background(), "00000000-0000-4000-8000-000000000000"); err != nil {
		t.Errorf("unknown fax: %v", err)
	}
}

func TestDeleteMedia(t *testing.T) {
	const base = faxesPath + "/fx-1/Media"
	tests := []struct {
		name    string
		answers map[string]int // "METHOD path" → status; absent means 204/200
		list    string
		want    faxbridge.Code // "" for success
		deletes []string
	}{
		{"two copies", nil, `{"media":[{"sid":"me-1"},{"sid":"me-2"}],"next_page_uri":null}`, "", []string{"me-1", "me-2"}},
		{"one already gone", map[string]int{"DELETE " + base + "/me-1": 404}, `{"media":[{"sid":"me-1"},{"sid":"me-2"}]}`, "", []string{"me-1", "me-2"}},
		{"nothing stored", nil, `{"media":[]}`, "", nil},
		{"fax unknown", map[string]int{"GET " + base: 404}, ``, "", nil},
		{"deletion fails", map[string]int{"DELETE " + base + "/me-1": 500}, `{"media":[{"sid":"me-1"},{"sid":"me-2"}]}`, faxbridge.EUnavailable, []string{"me-1"}},
		{"deletion refused", map[string]int{"DELETE " + base + "/me-2": 400}, `{"media":[{"sid":"me-1"},{"sid":"me-2"}]}`, faxbridge.EInvalid, []string{"me-1", "me-2"}},
		{"listing unauthorized", map[string]int{"GET " + base: 401}, ``, faxbridge.EUnauthorized, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				deletes []string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				key := r.Method + " " + r.URL.Path
				if r.Method == http.MethodDelete {
					mu.Lock()
					deletes = append(deletes, strings.TrimPrefix(r.URL.Path, base+"/"))
					mu.Unlock()
				}
				w.Header().Set("Content-Type", "application/json")
				if code, ok := tt.answers[key]; ok {
					w.WriteHeader(code)
					io.WriteString(w, `{"code":20404,"message":"x"}`)
					return
				}
				switch {
				case r.Method == http.MethodGet && r.URL.Path == base:
					io.WriteString(w, tt.list)
				case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, base+"/"):
					w.WriteHeader(http.StatusNoContent)
				default:
					w.WriteHeader(http.StatusNotFound)
				}
			}))
			t.Cleanup(srv.Close)
			err := client(t, srv.URL, nil).DeleteMedia(context.Background(), "fx-1")
			if got := faxbridge.ErrorCode(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Errorf("err %v (code %q), want code %q", err, got, tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if !reflect.DeepEqual(deletes, tt.deletes) {
				t.Errorf("deleted %v, want %v", deletes, tt.deletes)
			}
		})
	}
}

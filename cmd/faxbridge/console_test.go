package main

// The web console as the daemon serves it, driven over HTTP the way a
// browser drives it (cookies, forms, CSRF tokens). The e2e suite drives the
// same pages in a real Chromium.

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/daemon"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newConsoleClient(t *testing.T, base string) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and returns the status, the Location and the body.
func (cc *consoleClient) do(req *http.Request) (int, string, string, http.Header) {
	cc.t.Helper()
	resp, err := cc.c.Do(req)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body), resp.Header
}

func (cc *consoleClient) get(path string) (int, string, string) {
	cc.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, cc.base+path, nil)
	st, loc, body, _ := cc.do(req)
	return st, loc, body
}

func (cc *consoleClient) post(path string, form url.Values) (int, string, string, http.Header) {
	cc.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, cc.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return cc.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a page.
func (cc *consoleClient) csrf(path string) string {
	cc.t.Helper()
	_, _, body := cc.get(path)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		cc.t.Fatalf("no CSRF token on %s:\n%s", path, body)
	}
	return m[1]
}

func (cc *consoleClient) signIn(name, password string) (int, string, http.Header) {
	cc.t.Helper()
	tok := cc.csrf("/signin")
	st, _, body, hdr := cc.post("/signin", url.Values{"csrf": {tok}, "name": {name}, "password": {password}, "next": {"/"}})
	return st, body, hdr
}

// consoleHarness runs the daemon with the console on and two users: an
// admin and a user who sends by SMTP AUTH.
func consoleHarness(t *testing.T, mutate func(*config.Config)) (*harness, string) {
	t.Helper()
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, nil, func(c *config.Config) {
		c.Users = []config.User{
			{Name: "office", PasswordHash: hash("office-secret"), Console: config.ConsoleAdmin, ReportTo: "office@example.com"},
			{Name: "bob", PasswordHash: hash("bob-secret"), Console: config.ConsoleUser, ReportTo: "bob@example.com"},
		}
		c.Console.Listen = "127.0.0.1:0"
		if mutate != nil {
			mutate(c)
		}
	}, func(m *daemon.Main) { m.ConsoleListener = ln })
	return h, "http://" + ln.Addr().String()
}

// jobs returns every job, newest first.
func (h *harness) jobs() []*faxbridge.Job {
	h.t.Helper()
	js, err := h.m.Store().List(context.Background(), faxbridge.JobFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return js
}

func TestConsole(t *testing.T) {
	h, base := consoleHarness(t, nil)
	if err := h.send("sender@example.com", []string{"15551234567@fax.example.com"},
		message("Alice <alice@example.com>", "Signed lease", attachment{"lease.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	delivered := h.waitReport().Job
	if delivered.Outcome != faxbridge.OutcomeDelivered || delivered.FaxSID == "" {
		t.Fatalf("fax by mail: %+v", delivered)
	}

	// A fresh browser: every path leads to the sign-in page, and no answer
	// carries anything about the fax.
	anon := newConsoleClient(t, base)
	for _, p := range []string{"/", "/fax/" + delivered.ID, "/fax/" + delivered.ID + "/document.pdf", "/fax/" + delivered.ID + "/report.eml",
		"/health", "/send", "/nonexistent", "/?q=5551234567"} {
		st, loc, body := anon.get(p)
		if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
			t.Errorf("GET %s before sign-in: %d %q, want a redirect to sign in", p, st, loc)
		}
		for _, secret := range []string{delivered.ID, delivered.FaxSID, "555", "lease"} {
			if strings.Contains(body, secret) && !strings.Contains(loc, secret) {
				t.Errorf("GET %s before sign-in shows %q", p, secret)
			}
		}
	}
	if st, loc, _, _ := anon.post("/fax/"+delivered.ID+"/resend", url.Values{"csrf": {"x"}}); st != http.StatusSeeOther || loc != "/signin" {
		t.Errorf("POST before sign-in: %d %q", st, loc)
	}

	// Wrong password: no session.
	if st, body, hdr := anon.signIn("office", "wrong"); st != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password") ||
		strings.Contains(strings.Join(hdr.Values("Set-Cookie"), ";"), "faxbridge_session=") {
		t.Errorf("wrong password: %d, cookies %q", st, hdr.Values("Set-Cookie"))
	}
	// The sign-in form's own CSRF check.
	if st, _, _, _ := anon.post("/signin", url.Values{"csrf": {"forged"}, "name": {"office"}, "password": {"office-secret"}}); st != http.StatusForbidden {
		t.Errorf("sign-in with a forged token: %d, want 403", st)
	}

	// The right password: a session cookie, HttpOnly and SameSite=Lax.
	admin := newConsoleClient(t, base)
	st, _, hdr := admin.signIn("office", "office-secret")
	cookie := ""
	for _, c := range hdr.Values("Set-Cookie") {
		if strings.HasPrefix(c, "faxbridge_session=") {
			cookie = c
		}
	}
	if st != http.StatusSeeOther || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") || strings.Contains(cookie, "Secure") {
		t.Fatalf("sign-in: %d, session cookie %q", st, cookie)
	}
	_, _, list := admin.get("/")
	// html/template writes "+" as "&#43;".
	for _, want := range []string{"&#43;1 555-123-4567", "delivered", "Signed lease", "/fax/" + delivered.ID} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q", want)
		}
	}
	if _, _, found := admin.get("/?q=" + url.QueryEscape("(555) 123-4567")); !strings.Contains(found, delivered.ID) {
		t.Error("search by the number as typed does not find the fax")
	}
	if _, _, none := admin.get("/?q=nobody-sent-this"); strings.Contains(none, delivered.ID) {
		t.Error("a search for something else lists the fax")
	}
	if st, _, _ := admin.get("/?state=bogus"); st != http.StatusUnprocessableEntity {
		t.Errorf("a bad filter: %d, want 422", st)
	}
	_, _, page := admin.get("/fax/" + delivered.ID)
	for _, want := range []string{delivered.FaxSID, "Timeline", "Accepted", "Attempt 1", "Finished", "Report sent", "lease.pdf", delivered.Documents[0].SHA256} {
		if !strings.Contains(page, want) {
			t.Errorf("fax page lacks %q", want)
		}
	}
	if st, _, eml := admin.get("/fax/" + delivered.ID + "/report.eml"); st != http.StatusOK || !strings.Contains(eml, "Subject:") || !strings.Contains(eml, "delivered") {
		t.Errorf("report download: %d\n%s", st, eml)
	}
	if st, _, _ := admin.get("/fax/" + delivered.ID + "/document.pdf"); st != http.StatusNotFound {
		t.Errorf("document download after cleanup: %d, want 404", st)
	}
	if _, _, health := admin.get("/health"); !strings.Contains(health, "Job database") || !strings.Contains(health, "answers") {
		t.Errorf("health page:\n%s", health)
	}

	// A form without the session's token is refused and changes nothing.
	before := len(h.jobs())
	if st, _, _, _ := admin.post("/fax/"+delivered.ID+"/retry", url.Values{"csrf": {"forged"}}); st != http.StatusForbidden {
		t.Errorf("forged CSRF: %d, want 403", st)
	}
	token := admin.csrf("/")
	req, _ := http.NewRequest(http.MethodPost, base+"/fax/"+delivered.ID+"/cancel", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if st, _, _, _ := admin.do(req); st != http.StatusForbidden {
		t.Errorf("cross-origin POST with a valid token: %d, want 403", st)
	}
	if n := len(h.jobs()); n != before {
		t.Errorf("refused forms made %d jobs", n-before)
	}

	// Send from the browser; the user's report address gets the report.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", admin.csrf("/send"))
	mw.WriteField("to", "+1 (555) 765-4321")
	mw.WriteField("subject", "From the browser")
	fw, _ := mw.CreateFormFile("files", "browser.pdf")
	fw.Write(pdf(t, "two-pages.pdf"))
	mw.Close()
	req, _ = http.NewRequest(http.MethodPost, base+"/send", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	st, loc, _, _ := admin.do(req)
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/fax/") {
		t.Fatalf("send: %d %q", st, loc)
	}
	sent := h.waitReport().Job
	if sent.Outcome != faxbridge.OutcomeDelivered || sent.Destination.To != "+15557654321" || sent.Pages != 2 || sent.Sender != "user:office" || sent.ReportTo != "office@example.com" {
		t.Errorf("fax sent from the browser: %+v", sent)
	}

	// Without keep_documents the document is gone once the fax is final,
	// and a resend says so (TestConsoleResendAndCancel keeps them).
	st, _, refusal, _ := admin.post("/fax/"+delivered.ID+"/resend", url.Values{"csrf": {admin.csrf("/fax/" + delivered.ID)}})
	if st != http.StatusNotFound || !strings.Contains(refusal, "no longer kept") {
		t.Errorf("resend without a kept document: %d", st)
	}

	// Bob, a console user, sees only his own faxes.
	bobc := newConsoleClient(t, base)
	if st, _, _ := bobc.signIn("bob", "bob-secret"); st != http.StatusSeeOther {
		t.Fatalf("bob signs in: %d", st)
	}
	if _, _, l := bobc.get("/"); strings.Contains(l, delivered.ID) || strings.Contains(l, sent.ID) {
		t.Error("bob's list shows another sender's fax")
	}
	for _, p := range []string{"/fax/" + delivered.ID, "/fax/" + delivered.ID + "/report.eml", "/fax/nosuchjob"} {
		if st, _, b := bobc.get(p); st != http.StatusNotFound || strings.Contains(b, delivered.FaxSID) {
			t.Errorf("bob GET %s: %d, want 404 with nothing about it", p, st)
		}
	}
	if st, _, _, _ := bobc.post("/fax/"+delivered.ID+"/resend", url.Values{"csrf": {bobc.csrf("/")}}); st != http.StatusNotFound {
		t.Errorf("bob resends another's fax: %d, want 404", st)
	}

	// Sign-out ends the session for good.
	if st, loc, _, _ := admin.post("/signout", url.Values{"csrf": {admin.csrf("/")}}); st != http.StatusSeeOther || loc != "/signin" {
		t.Errorf("sign out: %d %q", st, loc)
	}
	if st, loc, _ := admin.get("/"); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
		t.Errorf("after sign-out: %d %q", st, loc)
	}
}

// With documents kept, a resend makes exactly one new fax; a canceled
// queued fax is never sent; both are in the audit log.
func TestConsoleResendAndCancel(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h, base := consoleHarness(t, func(c *config.Config) { c.Storage.KeepDocument = true })
	if err := h.send("sender@example.com", []string{"15551234567@fax.example.com"},
		message("alice@example.com", "keep me", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	orig := h.waitReport().Job
	admin := newConsoleClient(t, base)
	if st, _, _ := admin.signIn("office", "office-secret"); st != http.StatusSeeOther {
		t.Fatalf("sign in: %d", st)
	}
	if st, _, doc := admin.get("/fax/" + orig.ID + "/document.pdf"); st != http.StatusOK || !strings.HasPrefix(doc, "%PDF-") {
		t.Errorf("document download while kept: %d", st)
	}
	creates := len(h.sim.Creates())
	st, loc, _, _ := admin.post("/fax/"+orig.ID+"/resend", url.Values{"csrf": {admin.csrf("/fax/" + orig.ID)}})
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/fax/") || strings.Contains(loc, orig.ID) {
		t.Fatalf("resend: %d %q", st, loc)
	}
	again := h.waitReport().Job
	if again.ID == orig.ID || again.Outcome != faxbridge.OutcomeDelivered || again.DocumentSHA256 != orig.DocumentSHA256 {
		t.Errorf("resent fax: %+v", again)
	}
	// Exactly one so far; noMoreReports below proves that no more follow.
	if n := len(h.sim.Creates()) - creates; n != 1 {
		t.Errorf("resend created %d faxes at the provider, want exactly 1", n)
	}
	_, _, page := admin.get("/fax/" + orig.ID)
	if !strings.Contains(page, "Console: resend") || !strings.Contains(page, "by office") {
		t.Error("the fax page does not show the resend in its audit trail")
	}

	// Cancel while the provider is down: the fax stays queued until the
	// operator cancels it, and is never sent.
	h.sim.SetFaults(signalwiretest.Faults{DownUntil: time.Now().Add(time.Hour), DownMode: signalwiretest.Down503})
	if err := h.send("sender@example.com", []string{"15551234567@fax.example.com"},
		message("alice@example.com", "cancel me", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	// Wait (bounded) for the first failed submission: the job is then
	// queued for its backoff of seconds, not in mid-submission.
	var queued *faxbridge.Job
	for i := 0; i < 300 && (queued == nil || queued.SendErrors == 0); i++ {
		for _, j := range h.jobs() {
			if j.Subject == "cancel me" {
				queued = j
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if queued == nil || queued.State != faxbridge.StateQueued {
		t.Fatalf("job to cancel: %+v", queued)
	}
	creates = len(h.sim.Creates())
	st, _, _, _ = admin.post("/fax/"+queued.ID+"/cancel", url.Values{"csrf": {admin.csrf("/fax/" + queued.ID)}})
	if st != http.StatusSeeOther {
		t.Fatalf("cancel: %d", st)
	}
	if rep := h.waitReport().Job; rep.ID != queued.ID || rep.Outcome != faxbridge.OutcomeCanceled {
		t.Errorf("report after cancel: %s %s", rep.ID, rep.Outcome)
	}
	h.sim.SetFaults(signalwiretest.Faults{})
	_, _, page = admin.get("/fax/" + queued.ID)
	if !strings.Contains(page, "canceled") || !strings.Contains(page, "Console: cancel") {
		t.Error("the canceled fax's page does not show the cancel")
	}
	if st, _, _, _ := admin.post("/fax/"+queued.ID+"/cancel", url.Values{"csrf": {admin.csrf("/")}}); st != http.StatusUnprocessableEntity {
		t.Errorf("second cancel: %d, want 422", st)
	}
	// Stop the daemon and count: no further report, no fax for the
	// canceled job and no second one for the resend.
	h.noMoreReports()
	if n := len(h.sim.Creates()) - creates; n != 0 {
		t.Errorf("%d faxes created after the resend's (a canceled fax sent, or a resend sent twice)", n)
	}
}

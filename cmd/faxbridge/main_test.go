package main

// In-process tests of the whole daemon as `faxbridge serve` wires it: real
// SMTP, SQLite, local storage and HTTP callbacks, against the SignalWire
// simulator. They need no outside program; the e2e suite repeats the key
// paths with the real binary, MinIO, Mailpit and real mail clients.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/faxbridge/faxbridge/daemon"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
	"github.com/faxbridge/faxbridge/httpd"
	"github.com/faxbridge/faxbridge/senderauth"
)

// recorder is a Notifier that hands every report to the test and can be
// told to fail first.
type recorder struct {
	mu        sync.Mutex
	reports   []faxbridge.Report
	failN     int // fail this many calls with EUnavailable first
	failEvery int // and then every failEvery-th call
	calls     int
	ch        chan faxbridge.Report
}

func (r *recorder) Notify(ctx context.Context, rep faxbridge.Report) error {
	r.mu.Lock()
	r.calls++
	if r.failN > 0 || (r.failEvery > 0 && r.calls%r.failEvery == 0) {
		if r.failN > 0 {
			r.failN--
		}
		r.mu.Unlock()
		return faxbridge.Errorf(faxbridge.EUnavailable, "the mail relay is unavailable")
	}
	cp := *rep.Job
	rep.Job = &cp
	r.reports = append(r.reports, rep)
	r.mu.Unlock()
	r.ch <- rep
	return nil
}

type harness struct {
	t       *testing.T
	hooks   []func(*daemon.Main) // applied to every Main before it opens
	mutate  func(*config.Config) // the test's config changes, kept for restart
	m       *daemon.Main
	sim     *signalwiretest.Server
	rec     *recorder
	cfg     *config.Config
	smtp    string
	public  string
	stop    context.CancelFunc
	stopped chan struct{}
}

const (
	// testSendTimeout bounds each provider call of the in-process daemon.
	testSendTimeout = 2 * time.Second
	testProject     = "test-project"
	testToken       = "test-token"
	testKey         = "PSK_test"
)

func newHarness(t *testing.T, mutate func(*config.Config)) *harness {
	t.Helper()
	return newHarnessWith(t, nil, mutate)
}

// newHarnessWith gives the simulator its own HTTP client (to trust a test
// certificate).
func newHarnessWith(t *testing.T, simClient *http.Client, mutate func(*config.Config), hooks ...func(*daemon.Main)) *harness {
	t.Helper()
	sim, err := signalwiretest.Start(signalwiretest.Config{
		ProjectID: testProject, APIToken: testToken, SigningKey: testKey,
		StepDelay: 5 * time.Millisecond, RetryDelay: 10 * time.Millisecond,
		HTTPClient: simClient,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	h := &harness{t: t, sim: sim, rec: &recorder{ch: make(chan faxbridge.Report, 100)}, hooks: hooks, mutate: mutate}
	h.startWith(t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", mutate)
	return h
}

func (h *harness) startWith(dir, smtpAddr, httpAddr string, mutate func(*config.Config)) {
	t := h.t
	smtpLn, err := net.Listen("tcp", smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := demoConfig(dir, smtpLn.Addr().String(), httpLn.Addr().String(), h.sim.URL(), testToken, testKey)
	cfg.SignalWire.ProjectID = testProject
	// Reports go to the recorder (Main.Notifier); the outbox is unused.
	cfg.Worker.PollAfter = config.Duration{Duration: 2 * time.Second}
	cfg.Worker.PollMax = config.Duration{Duration: 2 * time.Second}
	// The simulator takes creates as fast as they come; pacing has tests of
	// its own, and at the default one a second a test of many faxes would
	// only wait.
	cfg.SignalWire.CreatesPerSecond = 0
	// An ambiguous submission is listed reconcile_after after it and again
	// another reconcile_after later: the smallest valid value (twice
	// send_timeout) keeps those tests to seconds.
	cfg.Worker.SendTimeout = config.Duration{Duration: testSendTimeout}
	cfg.Worker.ReconcileAfter = config.Duration{Duration: 2 * testSendTimeout}
	if mutate != nil {
		mutate(cfg)
	}
	if p := cfg.Check(); len(p) > 0 {
		t.Fatal(p)
	}
	h.cfg = cfg
	h.smtp = smtpLn.Addr().String()
	h.public = cfg.HTTP.PublicURL
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := daemon.NewMain(cfg, log)
	m.Notifier = h.rec
	m.SMTPListener, m.HTTPListener = smtpLn, httpLn
	m.ShutdownGrace = 5 * time.Second
	for _, hook := range h.hooks {
		hook(m)
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.m, h.stop, h.stopped = m, cancel, make(chan struct{})
	go func() {
		defer close(h.stopped)
		m.Run(ctx)
	}()
	t.Cleanup(h.shutdown)
}

func (h *harness) shutdown() {
	h.stop()
	<-h.stopped
}

// restart starts a new daemon on the state, addresses and configuration of
// the stopped one: the public URL in stored media URLs must stay valid, as
// it does in a real deployment.
func (h *harness) restart() {
	dir := strings.TrimSuffix(h.cfg.StateDir, "/state")
	worker := h.cfg.Worker
	h.startWith(dir, h.smtp, strings.TrimPrefix(h.public, "http://"), func(c *config.Config) {
		if h.mutate != nil {
			h.mutate(c)
		}
		c.Worker = worker
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type attachment struct {
	name, ctype, disposition string
	data                     []byte
}

// message builds a MIME message with a text body and attachments.
func message(from, subject string, atts ...attachment) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fmt.Fprintf(&b, "From: %s\r\nTo: fax@fax.example.com\r\nSubject: %s\r\nMessage-ID: <%d@test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n",
		from, subject, time.Now().UnixNano(), mw.Boundary())
	w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	io.WriteString(w, "Please fax the attached.\r\n")
	for _, a := range atts {
		disp := a.disposition
		if disp == "" {
			disp = "attachment"
		}
		w, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {a.ctype},
			"Content-Disposition":       {fmt.Sprintf("%s; filename=%q", disp, a.name)},
			"Content-Transfer-Encoding": {"base64"},
		})
		enc := base64.StdEncoding.EncodeToString(a.data)
		for len(enc) > 76 {
			io.WriteString(w, enc[:76]+"\r\n")
			enc = enc[76:]
		}
		io.WriteString(w, enc+"\r\n")
	}
	mw.Close()
	return b.Bytes()
}

func pdf(t *testing.T, name string) []byte {
	t.Helper()
	if name == "sample.pdf" {
		return samplePDF
	}
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send delivers msg over SMTP and returns the reply to the first failing
// command, or nil for a 250.
func (h *harness) send(from string, rcpts []string, msg []byte) error {
	return h.sendAt(h.smtp, from, rcpts, msg)
}

func (h *harness) sendAt(addr, from string, rcpts []string, msg []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

func (h *harness) waitReport() faxbridge.Report {
	h.t.Helper()
	select {
	case r := <-h.rec.ch:
		return r
	case <-time.After(30 * time.Second):
		h.t.Fatal("no report within 30s")
	}
	return faxbridge.Report{}
}

// noMoreReports proves that nothing more will be reported, without
// waiting for a time in which something might have happened: once the
// simulator is idle it stops the daemon, which finishes every step in
// flight, and then wants no report beyond those the test has taken and no
// job in the database with work still scheduled (which could report
// later). The daemon stays stopped; its database can be read with
// openStore(ctx, h.cfg).
func (h *harness) noMoreReports() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.sim.WaitIdle(ctx); err != nil {
		h.t.Errorf("the simulator did not become idle: %v", err)
	}
	// Let the daemon finish every job that could still report (bounded):
	// whatever is left then is reported below. (After its report a job
	// may still have to delete its fax's media at the provider: that step
	// reports nothing, and may wait out a retry; it is not waited for.)
	settle, cancelSettle := context.WithTimeout(context.Background(), 20*time.Second)
	h.waitSettled(settle)
	cancelSettle()
	h.shutdown()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := len(h.rec.ch); n > 0; n-- {
		r := <-h.rec.ch
		h.t.Errorf("unexpected further report: job %s, outcome %s", r.Job.ID, r.Job.Outcome)
	}
	db, err := openStore(ctx, h.cfg)
	if err != nil {
		h.t.Fatalf("open the stopped daemon's database: %v", err)
	}
	defer db.Close()
	active, err := db.List(ctx, faxbridge.JobFilter{Active: true})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, j := range active {
		if mayReport(j) {
			h.t.Errorf("job %s still has work scheduled at %v (state %s, report %q): it could report again",
				j.ID, j.NextAt, j.State, j.ReportState)
		}
	}
}

// mayReport tells whether a job with work scheduled could still report:
// any but a finished job whose report is settled, which has only the
// provider's copy of its media left to delete.
func mayReport(j *faxbridge.Job) bool {
	if j.State != faxbridge.StateDone {
		return true
	}
	switch j.ReportState {
	case faxbridge.ReportSent, faxbridge.ReportSuppressed, faxbridge.ReportAbandoned:
		return false
	}
	return true
}

// waitSettled waits, until ctx ends, for the running daemon to have no job
// that could still report.
func (h *harness) waitSettled(ctx context.Context) {
	h.t.Helper()
	for {
		active, err := h.m.Store().List(ctx, faxbridge.JobFilter{Active: true})
		if err == nil && !slices.ContainsFunc(active, mayReport) || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestDeliveredFaxEndToEnd(t *testing.T) {
	h := newHarness(t, nil)
	doc := pdf(t, "sample.pdf")
	if err := h.send("sender@example.com", []string{"15551234567@fax.example.com"}, message("Alice <alice@example.com>", "contract", attachment{"contract.pdf", "application/pdf", "", doc})); err != nil {
		t.Fatal(err)
	}
	rep := h.waitReport()
	j := rep.Job
	if j.Outcome != "delivered" || j.ReportTo != "alice@example.com" || j.NumPages != 1 || j.Duration == 0 {
		t.Errorf("job = outcome %q report_to %q pages %d duration %d", j.Outcome, j.ReportTo, j.NumPages, j.Duration)
	}
	creates := h.sim.Creates()
	if len(creates) != 1 {
		t.Fatalf("%d fax creates, want 1", len(creates))
	}
	f := creates[0].Form
	for k, want := range map[string]string{"To": "+15551234567", "From": "+15550100000", "Quality": "fine", "Ttl": "60", "StatusCallbackMethod": "POST"} {
		if got := f.Get(k); got != want {
			t.Errorf("create %s = %q, want %q", k, got, want)
		}
	}
	if cb := f.Get("StatusCallback"); !strings.HasPrefix(cb, h.public+httpd.CallbackPath+"?job="+j.ID) {
		t.Errorf("StatusCallback = %q", cb)
	}
	sum := sha256.Sum256(doc)
	if m := creates[0].Media; m.SHA256 != hex.EncodeToString(sum[:]) || m.ContentType != "application/pdf" || m.Status != 200 {
		t.Errorf("media fetched = %+v, want the PDF's exact bytes", m)
	}
	// The document is gone once the fax is final (the report comes after
	// the cleanup).
	resp, err := http.Get(f.Get("MediaUrl"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("media after completion: %d, want 404", resp.StatusCode)
	}
	h.noMoreReports()
}

func TestTwoPDFsOneFax(t *testing.T) {
	h := newHarness(t, nil)
	msg := message("a@example.com", "two", attachment{"one.pdf", "application/pdf", "", pdf(t, "sample.pdf")},
		attachment{"two.pdf", "application/octet-stream", "inline", pdf(t, "two-pages.pdf")})
	if err := h.send("a@example.com", []string{"+15551234567@fax.example.com", "15557654321@fax.example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		j := h.waitReport().Job
		seen[j.Destination.To] = true
		if j.Pages != 3 || j.NumPages != 3 || len(j.Documents) != 2 {
			t.Errorf("job to %s: pages %d, provider pages %d, documents %d; want 3, 3, 2", j.Destination.To, j.Pages, j.NumPages, len(j.Documents))
		}
	}
	if !seen["+15551234567"] || !seen["+15557654321"] || len(h.sim.Creates()) != 2 {
		t.Errorf("recipients %v, creates %d", seen, len(h.sim.Creates()))
	}
	h.noMoreReports()
}

func TestRefusedMessages(t *testing.T) {
	h := newHarness(t, nil)
	good := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	tests := []struct {
		name   string
		rcpt   string
		msg    []byte
		code   int
		enh    smtp.EnhancedCode
		phrase string
	}{
		{"nothing to fax", "15551234567@fax.example.com", []byte("From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: application/zip; name=x.zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBAoAAAAAAA==\r\n"), 554, smtp.EnhancedCode{5, 6, 0}, "nothing to fax"},
		{"encrypted", "15551234567@fax.example.com", message("a@example.com", "s", attachment{"locked.pdf", "application/pdf", "", pdf(t, "encrypted.pdf")}), 554, smtp.EnhancedCode{5, 6, 0}, "locked.pdf"},
		{"broken", "15551234567@fax.example.com", message("a@example.com", "s", attachment{"cut.pdf", "application/pdf", "", pdf(t, "sample.pdf")[:600]}), 554, smtp.EnhancedCode{5, 6, 0}, "cut.pdf"},
		{"other domain", "15551234567@example.org", good, 550, smtp.EnhancedCode{5, 7, 1}, "relay"},
		{"malformed number", "12@fax.example.com", good, 553, smtp.EnhancedCode{5, 1, 3}, "12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.send("a@example.com", []string{tt.rcpt}, tt.msg)
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want an SMTP refusal", err)
			}
			if se.Code != tt.code || se.EnhancedCode != tt.enh || !strings.Contains(se.Message, tt.phrase) {
				t.Errorf("got %d %v %q, want %d %v containing %q", se.Code, se.EnhancedCode, se.Message, tt.code, tt.enh, tt.phrase)
			}
		})
	}
	if n := len(h.sim.Creates()); n != 0 {
		t.Errorf("%d faxes sent for refused messages", n)
	}
}

func TestLostCallbacksArePolled(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h := newHarness(t, nil)
	h.sim.SetFaults(signalwiretest.Faults{DropAllCallbacks: true})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != "delivered" || j.Polls == 0 {
		t.Errorf("outcome %q after %d polls; want delivered by polling", j.Outcome, j.Polls)
	}
	h.noMoreReports()
}

func TestDuplicatedReorderedCallbacksOneReport(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.SignalWire.StatusCallbackEvents = []string{"initiated", "ringing", "answered", "completed"}
	})
	h.sim.SetFaults(signalwiretest.Faults{DuplicateCallbacks: true, ReorderCallbacks: true})
	for i := 0; i < 3; i++ {
		if err := h.send("a@example.com", []string{fmt.Sprintf("1555123456%d@fax.example.com", i)}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if j := h.waitReport().Job; j.Outcome != "delivered" {
			t.Errorf("outcome %q", j.Outcome)
		}
	}
	h.noMoreReports()
	if n := len(h.sim.Creates()); n != 3 {
		t.Errorf("%d creates, want 3", n)
	}
}

func TestProviderErrorsRetriedThenSent(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h := newHarness(t, nil)
	h.sim.SetFaults(signalwiretest.Faults{CreateErrors: []signalwiretest.HTTPError{
		{Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "1"},
		{Status: 503, Code: 20504, Message: "Service Unavailable"},
	}})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != "delivered" || len(j.Attempts) != 1 {
		t.Errorf("outcome %q with %d attempts; want delivered after invisible retries", j.Outcome, len(j.Attempts))
	}
	ok := 0
	for _, c := range h.sim.Creates() {
		if c.Answer == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d successful creates, want exactly 1", ok)
	}
	h.noMoreReports()
}

func TestAmbiguousSubmissionIsReconciled(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h := newHarness(t, nil)
	// The fax is created but the answer is lost, and so are its
	// callbacks (which would otherwise name it): the daemon must find it in
	// the provider's list instead of sending it again.
	h.sim.SetFaults(signalwiretest.Faults{DropAllCallbacks: true, CreateErrors: []signalwiretest.HTTPError{{Accept: true, Reset: true}}})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != "delivered" {
		t.Errorf("outcome %q", j.Outcome)
	}
	creates := h.sim.Creates()
	if n := len(creates); n != 1 {
		t.Fatalf("%d fax creates after an ambiguous answer; want exactly 1", n)
	}
	if j.FaxSID != creates[0].SID || len(j.Attempts) != 1 || len(j.ExtraFaxes) != 0 {
		t.Errorf("job follows fax %s with %d attempts and extras %+v; want the created fax %s, one attempt, no extra", j.FaxSID, len(j.Attempts), j.ExtraFaxes, creates[0].SID)
	}
	h.noMoreReports()
}

// A submission whose answer was lost and that the provider never carried
// out is sent again, but only after two listings reconcile_after apart
// found nothing: the second fax is created no sooner than twice
// reconcile_after after the first attempt.
func TestAmbiguousSubmissionNeverCreatedIsSentAfterTwoListings(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h := newHarness(t, nil)
	h.sim.SetFaults(signalwiretest.Faults{DropAllCallbacks: true, CreateErrors: []signalwiretest.HTTPError{{Reset: true}}})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	creates := h.sim.Creates()
	if j.Outcome != "delivered" || len(creates) != 1 || len(j.Attempts) != 2 {
		t.Fatalf("outcome %q, %d creates, %d attempts; want delivered, 1 fax, 2 attempts", j.Outcome, len(creates), len(j.Attempts))
	}
	first, second := j.Attempts[0], j.Attempts[1]
	if first.FaxSID != "" || first.Status != "lost" || second.FaxSID != creates[0].SID || j.FaxSID != creates[0].SID {
		t.Errorf("attempts %+v, job fax %s; want the first lost without a fax and the second the created one %s", j.Attempts, j.FaxSID, creates[0].SID)
	}
	if gap, min := creates[0].Time.Sub(first.StartedAt), 2*h.cfg.Worker.ReconcileAfter.Duration; gap < min {
		t.Errorf("sent again %v after the lost submission; want at least 2 × reconcile_after = %v", gap, min)
	}
	h.noMoreReports()
}

// The provider finishes a create after the client gave up (SlowCreate
// beyond send_timeout) and lists it only later (ListLag), with every
// callback lost: the first listing does not show it, the second does, and
// the fax is adopted, never sent twice. (The e2e TestSlowCreateLaggingList
// runs the same with the issue's own numbers.)
func TestSlowCreateLaggingListOneFax(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h := newHarness(t, nil)
	rec := h.cfg.Worker.ReconcileAfter.Duration
	h.sim.SetFaults(signalwiretest.Faults{
		DropAllCallbacks: true,
		SlowCreate:       testSendTimeout + time.Second, // lands after the client gave up
		ListLag:          rec,                           // hidden from the first listing, not from the second
	})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	creates := h.sim.Creates()
	if j.Outcome != "delivered" || len(creates) != 1 || creates[0].Answer != 0 {
		t.Fatalf("outcome %q, creates %+v; want delivered with the one fax whose answer never came", j.Outcome, creates)
	}
	if j.FaxSID != creates[0].SID || len(j.Attempts) != 1 || len(j.ExtraFaxes) != 0 {
		t.Errorf("job follows %s with %d attempts, extras %+v; want %s, 1 attempt, none", j.FaxSID, len(j.Attempts), j.ExtraFaxes, creates[0].SID)
	}
	h.noMoreReports()
	if n := len(h.sim.Creates()); n != 1 {
		t.Errorf("%d faxes after the daemon stopped, want 1", n)
	}
}

func TestPermanentRefusalReported(t *testing.T) {
	h := newHarness(t, nil)
	h.sim.SetFaults(signalwiretest.Faults{CreateErrors: []signalwiretest.HTTPError{{Status: 400, Code: 21211, Message: "Invalid 'To' Phone Number"}}})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != faxbridge.OutcomeRejected || j.Reason == "" || strings.Contains(j.Reason, "21211") {
		t.Errorf("outcome %q reason %q; want rejected with a plain reason", j.Outcome, j.Reason)
	}
	h.noMoreReports()
}

func TestBusyRedialAndResolutionRetry(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h := newHarness(t, func(c *config.Config) {
		c.Worker.RedialBusy = 2
		c.Worker.RedialSpacing = config.Duration{Duration: 50 * time.Millisecond}
	})
	var mu sync.Mutex
	tries := map[string]int{}
	h.sim.SetFaults(signalwiretest.Faults{Outcome: func(f signalwiretest.Fax) signalwiretest.Outcome {
		mu.Lock()
		defer mu.Unlock()
		tries[f.To]++
		switch f.To {
		case "+15550000001": // always busy
			return signalwiretest.Outcome{Status: "busy"}
		case "+15550000002": // cannot take fine resolution
			if f.Quality != "standard" {
				return signalwiretest.Outcome{Status: "failed", ErrorCode: "34005", ErrorMessage: "Far end cannot receive at the resolution of the image"}
			}
		}
		return signalwiretest.Outcome{}
	}})
	msg := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	if err := h.send("a@example.com", []string{"15550000001@fax.example.com", "15550000002@fax.example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		j := h.waitReport().Job
		switch j.Destination.To {
		case "+15550000001":
			if j.Outcome != "busy" || len(j.Attempts) != 3 || j.Reason == "" {
				t.Errorf("busy line: outcome %q after %d attempts, reason %q; want busy after 3", j.Outcome, len(j.Attempts), j.Reason)
			}
		case "+15550000002":
			if j.Outcome != "delivered" || len(j.Attempts) != 2 || j.Attempts[1].Quality != "standard" {
				t.Errorf("resolution: outcome %q attempts %+v", j.Outcome, j.Attempts)
			}
		}
	}
	h.noMoreReports()
}

func TestRelayDownReportRetriedOnce(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Mail.RetryAfter = config.Duration{Duration: 50 * time.Millisecond} })
	h.rec.mu.Lock()
	h.rec.failN = 3
	h.rec.mu.Unlock()
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != "delivered" || j.ReportTries != 3 {
		t.Errorf("outcome %q after %d failed report tries; want delivered after 3", j.Outcome, j.ReportTries)
	}
	h.noMoreReports()
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if h.rec.calls != 4 || len(h.rec.reports) != 1 {
		t.Errorf("%d relay calls, %d reports; want 4 and 1", h.rec.calls, len(h.rec.reports))
	}
}

func TestUnsignedCallbackRefused(t *testing.T) {
	h := newHarness(t, nil)
	form := url.Values{"FaxSid": {"x"}, "FaxStatus": {"delivered"}}
	for _, sig := range []string{"", "bm90IGEgc2lnbmF0dXJl"} {
		req, _ := http.NewRequest("POST", h.public+httpd.CallbackPath+"?job=x", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-SignalWire-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("signature %q: status %d, want 403", sig, resp.StatusCode)
		}
	}
	// Correctly signed, but for a fax we never sent: 404, nothing revealed.
	u := h.public + httpd.CallbackPath + "?job=x"
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-SignalWire-Signature", signalwiretest.Sign(testKey, u, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown fax: status %d, want 404", resp.StatusCode)
	}
}

func TestRestartResumesAcceptedJob(t *testing.T) {
	h := newHarness(t, nil)
	// The provider is down when the message arrives; the daemon stops
	// before the fax is sent and a new one sends it exactly once.
	h.sim.SetFaults(signalwiretest.Faults{DownUntil: time.Now().Add(time.Hour), DownMode: signalwiretest.Down503})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	h.shutdown()
	h.sim.SetFaults(signalwiretest.Faults{})
	// Make the queued job due now instead of after its backoff, while no
	// daemon runs: a write beside a running worker would race with it.
	ctx := context.Background()
	db, err := openStore(ctx, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	js, err := db.List(ctx, faxbridge.JobFilter{})
	if err != nil || len(js) != 1 {
		t.Fatalf("jobs after shutdown: %d, %v", len(js), err)
	}
	if js[0].State != faxbridge.StateQueued || js[0].Final() {
		t.Fatalf("job after shutdown: state %s, outcome %q; want queued", js[0].State, js[0].Outcome)
	}
	js[0].NextAt = time.Now()
	if err := db.Update(ctx, js[0]); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	h.restart()
	if j := h.waitReport().Job; j.Outcome != "delivered" {
		t.Errorf("outcome %q", j.Outcome)
	}
	h.noMoreReports()
	ok := 0
	for _, c := range h.sim.Creates() {
		if c.Answer == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d faxes created, want 1", ok)
	}
}

// SignalWire may report its own copy of the media in media_url rather than
// the URL we sent; reconciliation must still find the fax and not send it
// twice, also with a second job to the same number in flight.
//
// The two jobs' reconciliation steps run at once, so both can list before
// either has adopted and both pick the same, oldest fax: the store refuses
// the second adoption (one fax is one job's) and that job looks again.
func TestAmbiguousSubmissionWithHostedMedia(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h := newHarness(t, nil)
	// Callbacks are lost too: they would name each fax to its job and
	// spare the daemon the listing this test is about.
	h.sim.SetFaults(signalwiretest.Faults{
		HostedMediaURL:   true,
		DropAllCallbacks: true,
		CreateErrors:     []signalwiretest.HTTPError{{Accept: true, Reset: true}, {Accept: true, Reset: true}},
	})
	msg := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	for i := 0; i < 2; i++ {
		if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, msg); err != nil {
			t.Fatal(err)
		}
	}
	sids := map[string]bool{}
	for i := 0; i < 2; i++ {
		j := h.waitReport().Job
		if j.Outcome != "delivered" {
			t.Errorf("outcome %q", j.Outcome)
		}
		sids[j.FaxSID] = true
	}
	if n := len(h.sim.Creates()); n != 2 || len(sids) != 2 {
		t.Errorf("%d fax creates for 2 jobs with %d distinct SIDs; want 2 and 2", n, len(sids))
	}
	h.noMoreReports()
}

func TestGetCallbacksAndTwilioHeader(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.SignalWire.StatusCallbackMethod = "GET" })
	h.sim.SetFaults(signalwiretest.Faults{TwilioSignatureHeader: true})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != "delivered" || j.Polls != 0 {
		t.Errorf("outcome %q after %d polls; want delivered by the GET callback", j.Outcome, j.Polls)
	}
	for _, cb := range h.sim.Callbacks() {
		if cb.Method != "GET" || cb.Code != 200 {
			t.Errorf("callback %s answered %d", cb.Method, cb.Code)
		}
	}
}

func TestOperatorListAndCancel(t *testing.T) {
	h := newHarness(t, nil)
	h.sim.SetFaults(signalwiretest.Faults{DownUntil: time.Now().Add(time.Hour), DownMode: signalwiretest.Down503})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var js []*faxbridge.Job
	for i := 0; i < 200; i++ { // wait (bounded) for the first failed submission
		js, _ = h.m.Store().List(ctx, faxbridge.JobFilter{})
		if len(js) == 1 && js[0].SendErrors > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(js) != 1 || js[0].State != faxbridge.StateQueued || js[0].LastError == "" {
		t.Fatalf("job while the provider is down: %+v", js)
	}
	var out bytes.Buffer
	if code := jobsList(ctx, h.m.Store(), nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), js[0].ID) || !strings.Contains(out.String(), "queued") {
		t.Errorf("list exit %d:\n%s", code, out.String())
	}
	j, err := adminService(h.cfg, h.m.Store()).Cancel(ctx, js[0].ID)
	if err != nil || j.Outcome != faxbridge.OutcomeCanceled {
		t.Fatalf("cancel: %v %+v", err, j)
	}
	h.m.Service().Wake()
	if rep := h.waitReport().Job; rep.Outcome != faxbridge.OutcomeCanceled || rep.Reason == "" {
		t.Errorf("report outcome %q reason %q", rep.Outcome, rep.Reason)
	}
	if _, err := adminService(h.cfg, h.m.Store()).Cancel(ctx, js[0].ID); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
		t.Errorf("second cancel: %v", err)
	}
	if n := len(h.sim.Creates()); n != 0 {
		t.Errorf("%d faxes created for a canceled job", n)
	}
}

func TestSweepDeletesOnlyOrphanedUploads(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Storage.KeepDocument = true })
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	kept := h.waitReport().Job.DocumentKey
	docs := h.cfg.StateDir + "/documents/"
	orphan := faxbridge.NewID() + ".pdf"
	if err := os.WriteFile(docs+orphan, samplePDF, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, k := range []string{orphan, kept} {
		if err := os.Chtimes(docs+k, old, old); err != nil {
			t.Fatal(err)
		}
	}
	n, err := h.m.Service().Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 orphan deleted", n, err)
	}
	if _, err := os.Stat(docs + orphan); !os.IsNotExist(err) {
		t.Errorf("orphan still there: %v", err)
	}
	if _, err := os.Stat(docs + kept); err != nil {
		t.Errorf("kept document of a real job deleted: %v", err)
	}
}

func TestTextOnlyMessageBecomesCoverPage(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("Alice <alice@example.com>", "Lab results [standard]")); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != "delivered" || j.Pages != 1 || len(j.Documents) != 1 || j.Documents[0].Type != "text" || j.Quality != "standard" {
		t.Errorf("outcome %q pages %d documents %+v quality %q", j.Outcome, j.Pages, j.Documents, j.Quality)
	}
	if n := h.sim.Creates(); len(n) != 1 || n[0].Form.Get("Quality") != "standard" {
		t.Errorf("creates %+v", n)
	}
}

func TestImagesAreFaxedAndLogosSkipped(t *testing.T) {
	h := newHarness(t, nil)
	scan := image.NewGray(image.Rect(0, 0, 1700, 2200))
	for x := 100; x < 1600; x++ {
		scan.SetGray(x, 300, color.Gray{})
	}
	var scanPNG, logoPNG bytes.Buffer
	png.Encode(&scanPNG, scan)
	png.Encode(&logoPNG, image.NewGray(image.Rect(0, 0, 40, 40)))
	msg := message("a@example.com", "scan", attachment{"scan.png", "image/png", "", scanPNG.Bytes()},
		attachment{"logo.png", "image/png", "inline", logoPNG.Bytes()}, attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != "delivered" || j.Pages != 2 || j.NumPages != 2 {
		t.Errorf("outcome %q pages %d provider pages %d; want the scan and the PDF", j.Outcome, j.Pages, j.NumPages)
	}
	if len(j.Skipped) != 1 || !strings.Contains(j.Skipped[0], "logo.png") {
		t.Errorf("skipped = %q, want the logo", j.Skipped)
	}
}

// With http.cert_file the daemon serves HTTPS itself: SignalWire fetches the
// document and calls back over TLS, against the https public URL.
func TestHTTPSListener(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "127.0.0.1")
	pemBytes, err := os.ReadFile(dir + "/cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	h := newHarnessWith(t, client, func(c *config.Config) {
		c.HTTP.PublicURL = strings.Replace(c.HTTP.PublicURL, "http://", "https://", 1)
		c.HTTP.CertFile, c.HTTP.KeyFile = dir+"/cert.pem", dir+"/key.pem"
	})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != "delivered" || j.Polls != 0 || !strings.HasPrefix(h.sim.Creates()[0].Form.Get("MediaUrl"), "https://") {
		t.Errorf("outcome %q after %d polls, media %q; want delivered by an HTTPS callback", j.Outcome, j.Polls, h.sim.Creates()[0].Form.Get("MediaUrl"))
	}
}

// Per-sender rules for a named scanner network: its own caller ID, a page
// limit per fax and a quota of faxes per hour, each refused with the limit
// named; a destination outside its own allowed prefixes is refused at RCPT.
func TestSenderPolicyAndQuota(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h := newHarness(t, func(c *config.Config) {
		c.SMTP.Networks = []config.Network{{Name: "scanners", CIDRs: []string{"127.0.0.0/8"}, SenderPolicy: config.SenderPolicy{
			FaxFrom: "+15550109999", MaxPages: 2, FaxesPerHour: 2, AllowPrefixes: []string{"+1555"},
		}}}
	})
	one := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	three := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")}, attachment{"b.pdf", "application/pdf", "", pdf(t, "two-pages.pdf")})
	refusal := func(err error, code int, phrase string) {
		t.Helper()
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != code || !strings.Contains(se.Message, phrase) {
			t.Errorf("got %v, want %d containing %q", err, code, phrase)
		}
	}
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, one); err != nil {
		t.Fatal(err)
	}
	refusal(h.send("a@example.com", []string{"15551234567@fax.example.com"}, three), 552, "at most 2 pages")
	refusal(h.send("a@example.com", []string{"12125551234@fax.example.com"}, one), 550, "not allowed")
	if err := h.send("a@example.com", []string{"15551234568@fax.example.com"}, one); err != nil {
		t.Fatal(err)
	}
	refusal(h.send("a@example.com", []string{"15551234569@fax.example.com"}, one), 452, "quota of 2 faxes per hour")
	for i := 0; i < 2; i++ {
		if j := h.waitReport().Job; j.From != "+15550109999" || j.Sender != "network:scanners" {
			t.Errorf("job from %q sender %q", j.From, j.Sender)
		}
	}
	for _, c := range h.sim.Creates() {
		if c.Form.Get("From") != "+15550109999" {
			t.Errorf("fax sent from %q", c.Form.Get("From"))
		}
	}
	h.noMoreReports()
}

// An MX listener takes mail from the internet only when DMARC proves the
// From (here: an aligned DKIM signature) and the sender is allowed; a
// spoofed From, a broken signature and an unlisted sender are refused at
// the end of DATA, so nothing is accepted and no bounce is sent by us.
func TestMXModeAcceptsOnlyProvenSenders(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	dns := &senderauth.StaticResolver{}
	for _, k := range []struct {
		domain string
		key    *rsa.PrivateKey
	}{{"example.com", key}, {"attacker.example", attacker}, {"other.example", attacker}} {
		if err := dns.AddDKIMKey("sel", k.domain, &k.key.PublicKey); err != nil {
			t.Fatal(err)
		}
		dns.AddTXT("_dmarc."+k.domain, "v=DMARC1; p=reject")
	}
	h := newHarnessWith(t, nil, func(c *config.Config) {
		c.SMTP.Listeners = append(c.SMTP.Listeners, config.Listener{Name: "mx", Listen: "127.0.0.1:0", MX: true})
		c.MX.AllowSenders = []string{"example.com"}
	}, func(m *daemon.Main) { m.Resolver = dns })
	mx := h.m.SMTPAddrOf("mx")
	sign := func(msg []byte, domain string, k *rsa.PrivateKey) []byte {
		var b bytes.Buffer
		// The fax number must be named in a signed To (see TestMXReplay).
		msg = bytes.Replace(msg, []byte("To: fax@fax.example.com"), []byte("To: 15551234567@fax.example.com"), 1)
		if err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "sel", Signer: k}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	doc := attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")}
	good := sign(message("Alice <alice@example.com>", "from the internet", doc), "example.com", key)
	spoofed := sign(message("Alice <alice@example.com>", "spoofed", doc), "attacker.example", attacker)
	broken := bytes.Replace(sign(message("Alice <alice@example.com>", "altered", doc), "example.com", key), []byte("Please fax"), []byte("Please FAX"), 1)
	unlisted := sign(message("Bob <bob@other.example>", "unlisted", doc), "other.example", attacker)
	for name, msg := range map[string][]byte{"spoofed From": spoofed, "broken signature": broken, "sender not allowed": unlisted} {
		err := h.sendAt(mx, "alice@example.com", []string{"15551234567@fax.example.com"}, msg)
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
			t.Errorf("%s: got %v, want 550 5.7.1", name, err)
		}
	}
	if err := h.sendAt(mx, "alice@example.com", []string{"15551234567@fax.example.com"}, good); err != nil {
		t.Fatalf("proven sender refused: %v", err)
	}
	if j := h.waitReport().Job; j.Outcome != "delivered" || j.ReportTo != "alice@example.com" {
		t.Errorf("outcome %q report to %q", j.Outcome, j.ReportTo)
	}
	h.noMoreReports()
	if n := len(h.sim.Creates()); n != 1 {
		t.Errorf("%d faxes, want 1", n)
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Metrics.Listen = "127.0.0.1:0" })
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	h.send("a@example.com", []string{"15551234567@fax.example.com"}, []byte("Subject: nothing\r\n\r\n"))
	h.waitReport()
	// The public listener faces the internet: no metrics there.
	if resp, err := http.Get(h.public + "/metrics"); err != nil {
		t.Error(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics: %s, want 404", resp.Status)
	}
	resp, err := http.Get("http://" + h.m.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`faxbridge_smtp_messages_total{code="250",listener="smtp"} 1`,
		`faxbridge_smtp_messages_total{code="554",listener="smtp"} 1`,
		`faxbridge_job_events_total{event="outcome",value="delivered"} 1`,
		`faxbridge_job_events_total{event="report",value="sent"} 1`,
		`faxbridge_callbacks_total{code="200"}`,
		`faxbridge_job_store_up 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The provider's callback can arrive before its answer to our POST: the
// outcome must still be taken from the callback, not waited for by polling.
func TestCallbackBeforeSubmissionAnswer(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.Worker.PollAfter = config.Duration{Duration: time.Minute}
		c.Worker.PollMax = config.Duration{Duration: time.Minute}
	})
	h.sim.SetFaults(signalwiretest.Faults{Latency: 300 * time.Millisecond})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	j := h.waitReport().Job
	if j.Outcome != "delivered" || j.Polls != 0 || len(h.sim.Creates()) != 1 {
		t.Errorf("outcome %q after %d polls, %d creates; want delivered from the early callback", j.Outcome, j.Polls, len(h.sim.Creates()))
	}
	h.noMoreReports()
}

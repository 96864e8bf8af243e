package jobs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/faxsend"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
	"github.com/faxbridge/faxbridge/storage"
	"github.com/faxbridge/faxbridge/store"
)

var threePages = []byte("%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n2 0 obj << /Type /Page >> endobj\n3 0 obj << /Type /Page >> endobj\n%%EOF\n")

// mailbox is a FaxMailer a test can take down and read.
type mailbox struct {
	mu   sync.Mutex
	down error
	got  []faxbridge.FaxMail
}

func (m *mailbox) MailFax(_ context.Context, fm faxbridge.FaxMail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down != nil {
		return m.down
	}
	c := *fm.Job
	fm.Job = &c
	m.got = append(m.got, fm)
	return nil
}

func (m *mailbox) mails() []faxbridge.FaxMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]faxbridge.FaxMail(nil), m.got...)
}

type inboundRig struct {
	t     *testing.T
	svc   *Service
	db    *store.DB
	blobs *storage.Local
	sim   *signalwiretest.Server
	mail  *mailbox
	clock time.Time

	mu     sync.Mutex
	events []string // inbound events, as metrics count them
}

const ourNumber = "+15550100000"

// newInboundRig wires the service to a real SQLite store, local storage
// and the simulator, whose number's webhook takes every fax and whose
// action callbacks go nowhere: the polls find the faxes.
func newInboundRig(t *testing.T, mod func(*InboundConfig)) *inboundRig {
	t.Helper()
	dir := t.TempDir()
	db, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(dir, "docs"), PublicURL: "http://127.0.0.1", Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := signalwiretest.Start(signalwiretest.Config{ProjectID: "p", APIToken: "tok", SigningKey: "PSK_k", StepDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/in" {
			io.WriteString(w, `<Response><Receive action="/in/done" method="POST" mediaType="application/pdf" pageSize="letter"/></Response>`)
		}
	}))
	t.Cleanup(hook.Close)
	sim.SetFaxWebhook(ourNumber, hook.URL+"/in", "POST")
	fax, err := faxsend.New(faxsend.Config{BaseURL: sim.URL(), ProjectID: "p", APIToken: "tok", SigningKey: "PSK_k"})
	if err != nil {
		t.Fatal(err)
	}
	r := &inboundRig{t: t, db: db, blobs: blobs, sim: sim, mail: &mailbox{}, clock: time.Now()}
	in := InboundConfig{
		Inbox: fax, Mailer: r.mail, FailureNotices: true,
		Routes: []InboundRoute{{Number: ourNumber, MailTo: []string{"desk@clinic.example"}}},
	}
	if mod != nil {
		mod(&in)
	}
	onEvent := func(event, value string) {
		if event == "inbound" {
			r.mu.Lock()
			r.events = append(r.events, value)
			r.mu.Unlock()
		}
	}
	r.svc = New(Config{ReportFrom: "Fax <fax@gw.example>", Hostname: "gw.example", Inbound: in, OnEvent: onEvent}, db, blobs, fax, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.svc.now = func() time.Time { return r.clock }
	return r
}

// arrive makes a fax arrive and waits until the simulator has it.
func (r *inboundRig) arrive(in signalwiretest.Incoming) string {
	r.t.Helper()
	if in.From == "" {
		in.From = "+15557654321"
	}
	if in.To == "" {
		in.To = ourNumber
	}
	sid, err := r.sim.Receive(in)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.sim.WaitIdle(ctx); err != nil {
		r.t.Fatal(err)
	}
	return sid
}

// drain runs every step that is due now, until none is.
func (r *inboundRig) drain() {
	r.t.Helper()
	for range 50 {
		claimed, err := r.db.Claim(context.Background(), "test", r.clock.Add(time.Millisecond), time.Minute, 10)
		if err != nil {
			r.t.Fatal(err)
		}
		if len(claimed) == 0 {
			return
		}
		for _, j := range claimed {
			r.svc.step(context.Background(), j)
		}
	}
	r.t.Fatal("jobs still due after 50 rounds")
}

func (r *inboundRig) job(sid string) *faxbridge.Job {
	r.t.Helper()
	j, err := r.db.Get(context.Background(), InboundID(sid))
	if err != nil {
		r.t.Fatal(err)
	}
	return j
}

func (r *inboundRig) poll(want int) {
	r.t.Helper()
	n, err := r.svc.PollInbound(context.Background())
	if err != nil || n != want {
		r.t.Fatalf("PollInbound took %d (%v), want %d", n, err, want)
	}
}

// A fax whose action callback was lost is found by the poll, mailed once
// with its document byte for byte, then deleted at the provider and here.
func TestInboundPolledMailedOnceAndReleased(t *testing.T) {
	r := newInboundRig(t, nil)
	sid := r.arrive(signalwiretest.Incoming{Document: threePages})
	r.poll(1)
	r.poll(0) // known now: a second find is a no-op
	r.drain()

	mails := r.mail.mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	m := mails[0]
	if !bytes.Equal(m.Document, threePages) || m.Job.From != "+15557654321" || m.Job.NumPages != 3 || m.Job.MailTo[0] != "desk@clinic.example" {
		t.Errorf("mail: %d bytes, job %+v", len(m.Document), m.Job)
	}
	if f := r.sim.MediaFetches(); len(f) != 1 || !f[0].Auth {
		t.Errorf("media fetches %+v, want one with credentials", f)
	}
	if f, _ := r.sim.Fax(sid); !f.Deleted || !f.MediaDeleted {
		t.Errorf("at the provider: deleted %v, media deleted %v", f.Deleted, f.MediaDeleted)
	}
	j := r.job(sid)
	if j.Dir() != faxbridge.Inbound || j.ReportState != faxbridge.ReportSent || j.ProviderDeletedAt.IsZero() || j.CleanedAt.IsZero() || !j.NextAt.IsZero() {
		t.Errorf("job: %+v", j)
	}
	if _, err := r.blobs.Open(context.Background(), j.DocumentKey); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Errorf("our copy after cleanup: %v, want gone", err)
	}
	r.mu.Lock()
	if got := strings.Join(r.events, ","); got != "received,mailed" {
		t.Errorf("inbound events %q, want received,mailed", got)
	}
	r.mu.Unlock()
	// A late action callback for the same fax changes nothing.
	if err := r.svc.ReceiveFax(context.Background(), faxbridge.FaxStatus{SID: sid, Status: "received", To: ourNumber}); err != nil {
		t.Fatal(err)
	}
	r.drain()
	if n := len(r.mail.mails()); n != 1 {
		t.Errorf("%d mails after a repeated callback, want 1", n)
	}
}

// While the relay is down nothing is deleted at the provider; the fax is
// mailed once when it is back.
func TestInboundRelayDown(t *testing.T) {
	r := newInboundRig(t, nil)
	sid := r.arrive(signalwiretest.Incoming{Document: threePages})
	r.mail.down = faxbridge.Errorf(faxbridge.EUnavailable, "the mail relay is unavailable")
	r.poll(1)
	for range 3 {
		r.drain()
		r.clock = r.clock.Add(time.Hour)
	}
	if f, _ := r.sim.Fax(sid); f.Deleted || f.MediaDeleted {
		t.Fatal("the provider's copy was deleted before the mail went out")
	}
	if j := r.job(sid); j.ReportState != faxbridge.ReportPending || j.ReportTries < 3 {
		t.Fatalf("job while the relay is down: report %q, tries %d", j.ReportState, j.ReportTries)
	}
	r.mail.mu.Lock()
	r.mail.down = nil
	r.mail.mu.Unlock()
	r.clock = r.clock.Add(time.Hour)
	r.drain()
	if n := len(r.mail.mails()); n != 1 {
		t.Fatalf("%d mails, want 1", n)
	}
	if f, _ := r.sim.Fax(sid); !f.Deleted {
		t.Error("the provider's copy is left after the mail")
	}
}

// A failed reception sends a notice without a document; with notices off,
// nothing is mailed.
func TestInboundFailedNotice(t *testing.T) {
	for _, notices := range []bool{true, false} {
		r := newInboundRig(t, func(c *InboundConfig) { c.FailureNotices = notices })
		sid := r.arrive(signalwiretest.Incoming{FailCode: "34004", FailMessage: "The call dropped prematurely"})
		r.poll(1)
		r.drain()
		mails := r.mail.mails()
		want := 0
		if notices {
			want = 1
		}
		if len(mails) != want {
			t.Fatalf("notices %v: %d mails, want %d", notices, len(mails), want)
		}
		if notices && (mails[0].Document != nil || mails[0].Job.Outcome != faxbridge.OutcomeFailed || mails[0].Job.Reason == "") {
			t.Errorf("notice: %+v", mails[0].Job)
		}
		if f, _ := r.sim.Fax(sid); !f.Deleted {
			t.Errorf("notices %v: the failed fax is left at the provider", notices)
		}
		r.mu.Lock()
		if got := strings.Join(r.events, ","); got != "failed" {
			t.Errorf("inbound events %q, want failed", got)
		}
		r.mu.Unlock()
	}
}

// Above the attachment limit the mail carries a link, and our copy lives
// until the link expires.
func TestInboundLargeAsLink(t *testing.T) {
	r := newInboundRig(t, func(c *InboundConfig) { c.MaxAttachmentBytes = 10; c.LinkTTL = 24 * time.Hour })
	sid := r.arrive(signalwiretest.Incoming{Document: threePages})
	r.poll(1)
	r.drain()
	mails := r.mail.mails()
	if len(mails) != 1 || mails[0].Document != nil || mails[0].Link == "" {
		t.Fatalf("mails %+v, want one with a link", mails)
	}
	j := r.job(sid)
	if !j.CleanedAt.IsZero() || j.NextAt.Before(r.clock.Add(23*time.Hour)) {
		t.Fatalf("our copy is to go at %v (cleaned %v), want when the link expires", j.NextAt, j.CleanedAt)
	}
	r.clock = r.clock.Add(25 * time.Hour)
	r.drain()
	if j := r.job(sid); j.CleanedAt.IsZero() {
		t.Error("our copy outlived its link")
	}
}

// A fax to a number without a route makes no job; unrouted_mail_to takes it.
func TestInboundRouting(t *testing.T) {
	r := newInboundRig(t, nil)
	if err := r.svc.ReceiveFax(context.Background(), faxbridge.FaxStatus{SID: "x1", Status: "received", To: "+15559999999"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.Get(context.Background(), InboundID("x1")); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Fatalf("unrouted fax: %v, want no job", err)
	}
	r.svc.cfg.Inbound.UnroutedMailTo = []string{"ops@clinic.example"}
	if got := r.svc.Route("+15559999999"); len(got) != 1 || got[0] != "ops@clinic.example" {
		t.Errorf("Route with unrouted_mail_to: %v", got)
	}
	r.svc.cfg.Inbound.Routes = append(r.svc.cfg.Inbound.Routes, InboundRoute{Number: "*", MailTo: []string{"any@clinic.example"}})
	if got := r.svc.Route(ourNumber); got[0] != "desk@clinic.example" {
		t.Errorf("an exact route must win over *: %v", got)
	}
	if got := r.svc.Route("+15559999999"); got[0] != "any@clinic.example" {
		t.Errorf("* must take other numbers: %v", got)
	}
}

func TestInboundID(t *testing.T) {
	if got := InboundID("5d0b6a3e-7c41-4f0e-9e5a-3b2c1d0e9f8a"); got != "in-5d0b6a3e-7c41-4f0e-9e5a-3b2c1d0e9f8a" {
		t.Errorf("UUID SID: %q", got)
	}
	odd := InboundID("FX/../Weird SID")
	if odd != InboundID("FX/../Weird SID") || len(odd) != 35 || odd == InboundID("FX/../weird sid") {
		t.Errorf("other SID: %q", odd)
	}
}

// An operator's cancel must not drop a received fax unmailed.
func TestInboundCannotBeCanceled(t *testing.T) {
	r := newInboundRig(t, nil)
	sid := r.arrive(signalwiretest.Incoming{Document: threePages})
	r.poll(1)
	if _, err := r.svc.Cancel(context.Background(), InboundID(sid)); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
		t.Fatalf("Cancel of a received fax: %v, want invalid", err)
	}
	r.drain()
	if n := len(r.mail.mails()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
}

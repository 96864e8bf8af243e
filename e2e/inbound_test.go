//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
	"github.com/faxbridge/faxbridge/internal/testenv"
	"github.com/faxbridge/faxbridge/store"
)

// Receiving faxes with the real binary: the simulator calls the daemon's
// signed webhook, the fax is stored in MinIO and mailed through Mailpit.

const (
	caller   = "+15557654321"
	unrouted = "+15550109999"
	deskAddr = "desk@clinic.example"
)

// inboundOpts routes faxBridge's own number (faxFrom) to deskAddr and polls
// for lost callbacks every 15 s.
func inboundOpts(env ...string) opts {
	return opts{env: env, extraTOML: func(*stack) string {
		return "[inbound]\npoll_every = \"15s\"\n\n[[inbound.routes]]\nnumber = \"" + faxFrom + "\"\nmail_to = [\"Front Desk <" + deskAddr + ">\"]\n"
	}}
}

// arrive points the simulator's numbers at the daemon's webhook and makes a
// fax of the PDF at path arrive on `to`.
func (s *stack) arrive(to, path string) (sid string, doc []byte) {
	s.t.Helper()
	s.sim.SetFaxWebhook(faxFrom, s.publicURL+"/callbacks/inbound", "POST")
	s.sim.SetFaxWebhook(unrouted, s.publicURL+"/callbacks/inbound", "POST")
	doc, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatal(err)
	}
	sid, err = s.sim.Receive(signalwiretest.Incoming{From: caller, To: to, Document: doc})
	if err != nil {
		s.t.Fatal(err)
	}
	return sid, doc
}

// checkFaxMail checks the one mail of a received fax: to the route, caller
// and pages in the subject, the document attached byte for byte.
func (s *stack) checkFaxMail(m testenv.MailMessage, doc []byte, pages string) {
	s.t.Helper()
	if len(m.To) != 1 || m.To[0].Address != deskAddr {
		s.t.Errorf("mail to %v, want %s", m.To, deskAddr)
	}
	if want := "Fax from " + caller + " (" + pages + ")"; m.Subject != want {
		s.t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].ContentType != "application/pdf" ||
		!strings.HasPrefix(m.Attachments[0].FileName, "fax-") || !strings.HasSuffix(m.Attachments[0].FileName, "-from-15557654321.pdf") {
		s.t.Fatalf("attachments %+v", m.Attachments)
	}
	if got := s.mail.Part(s.t, m.ID, m.Attachments[0].PartID); !bytes.Equal(got, doc) {
		s.t.Errorf("the attachment (%d bytes) is not the received document (%d bytes)", len(got), len(doc))
	}
}

// waitReleased waits until the fax is gone at the provider.
func (s *stack) waitReleased(sid string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if f, _ := s.sim.Fax(sid); f.Deleted && f.MediaDeleted {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("fax %s still at the provider after %v", sid, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settleInbound stops the daemon and checks its database: one inbound job
// per fax, mailed, released at the provider, our copy deleted, nothing
// scheduled; Mailpit has exactly `mails` messages and the bucket is empty.
func (s *stack) settleInbound(mails int, sids ...string) {
	s.t.Helper()
	s.waitIdle(30 * time.Second)
	for _, sid := range sids {
		s.waitReleased(sid, 30*time.Second)
	}
	// The cleanup of our copy follows the release; let it run.
	deadline := time.Now().Add(30 * time.Second)
	for len(s.objects()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.OpenSQLite(ctx, filepath.Join(s.stateDir, "faxbridge.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	jobs, err := db.List(ctx, faxbridge.JobFilter{Direction: faxbridge.Inbound})
	if err != nil {
		s.t.Fatal(err)
	}
	if len(jobs) != len(sids) {
		s.t.Errorf("%d inbound jobs, want %d", len(jobs), len(sids))
	}
	for _, j := range jobs {
		if j.State != faxbridge.StateDone || j.ReportState != faxbridge.ReportSent || j.ProviderDeletedAt.IsZero() || j.CleanedAt.IsZero() || !j.NextAt.IsZero() {
			s.t.Errorf("job %s: state %s, mail %q, released %v, cleaned %v, next %v", j.ID, j.State, j.ReportState, j.ProviderDeletedAt, j.CleanedAt, j.NextAt)
		}
	}
	if got := len(s.mail.Messages(s.t)); got != mails {
		s.t.Errorf("%d messages in Mailpit, want exactly %d", got, mails)
	}
	if keys := s.objects(); len(keys) != 0 {
		s.t.Errorf("documents left in the bucket: %v", keys)
	}
}

// TestInboundThreePages: a 3-page fax to a routed number is mailed once to
// the route with the PDF as received, fetched with credentials, and deleted
// at the provider after the mail.
func TestInboundThreePages(t *testing.T) {
	t.Parallel()
	s := newStack(t, inboundOpts())
	sid, doc := s.arrive(faxFrom, pdf(t, "incoming.pdf", 3))
	mails := s.waitReports(1, 30*time.Second)
	s.checkFaxMail(mails[0], doc, "3 pages")
	if f := s.sim.MediaFetches(); len(f) != 1 || !f[0].Auth || f[0].Status != http.StatusOK {
		t.Errorf("media fetches %+v, want one, with credentials", f)
	}
	if w := s.sim.Webhooks(); len(w) != 1 || w[0].Verb != "Receive" {
		t.Errorf("webhook %+v", w)
	}
	s.settleInbound(1, sid)
}

// TestInboundRefusals: a webhook or action signed with the wrong key gets
// 403 and mails nothing; a fax to an unrouted number gets <Reject/>.
func TestInboundRefusals(t *testing.T) {
	t.Parallel()
	s := newStack(t, inboundOpts())
	sid, _ := s.arrive(unrouted, pdf(t, "incoming.pdf", 1))
	s.waitIdle(30 * time.Second)
	if w := s.sim.Webhooks(); len(w) != 1 || w[0].Verb != "Reject" || !strings.Contains(w[0].Body, "<Reject/>") {
		t.Errorf("unrouted webhook %+v", w)
	}
	if f, _ := s.sim.Fax(sid); f.Status != "canceled" {
		t.Errorf("unrouted fax is %s", f.Status)
	}
	for _, path := range []string{"/callbacks/inbound", "/callbacks/inbound/received"} {
		form := url.Values{"FaxSid": {"forged"}, "From": {caller}, "To": {faxFrom}, "FaxStatus": {"received"}, "MediaUrl": {s.sim.URL() + "/x"}}
		req, _ := http.NewRequest(http.MethodPost, s.publicURL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-SignalWire-Signature", signalwiretest.Sign("PSK_not-the-key", s.publicURL+path, form))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with the wrong key: %d, want 403", path, resp.StatusCode)
		}
	}
	s.settleInbound(0)
}

// TestInboundLostCallback: the action callback never comes; the poll
// (every 15 s) finds the fax and it is mailed once within a minute.
func TestInboundLostCallback(t *testing.T) {
	t.Parallel()
	s := newStack(t, inboundOpts())
	s.sim.SetFaults(signalwiretest.Faults{DropAllCallbacks: true})
	start := time.Now()
	sid, doc := s.arrive(faxFrom, pdf(t, "incoming.pdf", 2))
	mails := s.waitReports(1, time.Minute)
	t.Logf("mailed %v after the fax arrived", time.Since(start).Round(time.Second))
	s.checkFaxMail(mails[0], doc, "2 pages")
	if cb := s.sim.Callbacks(); len(cb) != 1 || !cb[0].Dropped {
		t.Errorf("callbacks %+v, want the one action callback dropped", cb)
	}
	s.waitLog("poll found received faxes whose callback was lost", 1, 10*time.Second)
	s.settleInbound(1, sid)
}

// TestInboundRelayDown: the relay is down when the fax arrives; nothing is
// deleted at the provider until the fax is mailed, once, after the relay
// is back.
func TestInboundRelayDown(t *testing.T) {
	t.Parallel()
	s := newStack(t, inboundOpts())
	s.mail.Stop()
	sid, doc := s.arrive(faxFrom, pdf(t, "incoming.pdf", 1))
	s.waitLog("received fax not mailed yet; will retry", 1, 30*time.Second)
	if f, _ := s.sim.Fax(sid); f.Deleted || f.MediaDeleted {
		t.Fatal("the provider's copy was deleted while the relay was down")
	}
	s.mail.Start()
	// mail.retry_after is 30 s, with jitter, plus a margin.
	mails := s.waitReports(1, 75*time.Second)
	s.checkFaxMail(mails[0], doc, "1 page")
	s.settleInbound(1, sid)
}

// TestInboundCrashBeforeMail: the daemon is killed (SIGKILL) after the
// inbound job is committed and the document stored, just before the mail;
// after a restart the fax is mailed once.
func TestInboundCrashBeforeMail(t *testing.T) {
	t.Parallel()
	o := inboundOpts("FAXBRIDGE_CRASH_AT=inbound-before-mail")
	o.quick = true // the dead daemon's lease on the job ends within seconds
	s := newStack(t, o)
	sid, doc := s.arrive(faxFrom, pdf(t, "incoming.pdf", 1))
	s.waitCrash("inbound-before-mail", 30*time.Second)
	if n := len(s.mail.Messages(t)); n != 0 {
		t.Fatalf("%d mails before the crash", n)
	}
	if f, _ := s.sim.Fax(sid); f.Deleted {
		t.Fatal("the provider's copy was deleted before the mail")
	}
	s.start()
	mails := s.waitReports(1, recoveryTimeout)
	s.checkFaxMail(mails[0], doc, "1 page")
	s.settleInbound(1, sid)
}

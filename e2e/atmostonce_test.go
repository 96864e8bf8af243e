//go:build e2e

package e2e

import (
	"crypto/rand"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

// TestSlowCreateLaggingList is issue 8's first "done when", with its own
// numbers: send_timeout 5s and reconcile_after 60s; SignalWire creates the
// fax 14 s after the request, 9 s after the client gave up; its list shows
// a fax only 90 s after it was created; every callback is lost. The first
// listing (60 s after the submission) cannot show the fax, the second
// (120 s) does: exactly one fax, one delivered report.
func TestSlowCreateLaggingList(t *testing.T) {
	t.Parallel()
	const (
		sendTimeout    = 5 * time.Second
		reconcileAfter = 60 * time.Second
		slowCreate     = 14 * time.Second
		listLag        = 90 * time.Second
	)
	s := newStack(t, opts{sendTimeout: sendTimeout, reconcileAfter: reconcileAfter})
	s.sim.SetFaults(signalwiretest.Faults{SlowCreate: slowCreate, ListLag: listLag, DropAllCallbacks: true})
	doc := pdf(t, "slow.pdf", 2)
	msgID := "<slow-" + rand.Text() + "@client.example>"
	sent := time.Now()
	s.mustSend(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", messageID: msgID, pdfs: []string{doc}})
	jobID := s.jobFor("+15551234567")

	// While it waits, the job stays submitting and `faxbridge jobs` says why.
	s.waitLog("fax submission outcome unknown; will reconcile", 1, 2*sendTimeout+30*time.Second)
	s.checkJobsSays(jobID, "submitting", "The answer to the submission was lost")
	s.waitLog("reconcile: the provider does not list the fax yet; will look again", 1, reconcileAfter+30*time.Second)
	s.checkJobsSays(jobID, "submitting", "The fax service does not list the fax yet")

	// Two listings reconcile_after apart, a poll for the outcome, the
	// report: a little over two minutes.
	reports := s.waitReports(1, 2*reconcileAfter+90*time.Second)
	checkReport(t, reports[0], "+15551234567", "delivered", "bob@client.example", msgID, 2)

	c := s.createFor("+15551234567")
	if c.Answer != 0 {
		t.Errorf("the create was answered %d; want no answer (the client gave up before it landed)", c.Answer)
	}
	if landed := c.Time.Sub(sent); landed < slowCreate {
		t.Errorf("the fax was created %v after the message was sent; want at least %v (SlowCreate)", landed, slowCreate)
	}
	if n := len(s.logLines("fax submission outcome unknown; will reconcile")); n != 1 {
		t.Errorf("%d ambiguous submissions logged, want 1", n)
	}
	// The lag hid the fax from the first listing; the second found it.
	empty := s.logLines("reconcile: the provider does not list the fax yet; will look again")
	found := s.logLines("reconciled: the provider has the fax")
	if len(empty) != 1 || len(found) != 1 || attr(found[0], "fax_sid") != c.SID || attr(found[0], "job_id") != jobID {
		t.Errorf("reconciliation: %d empty listings, found %q; want 1 empty listing, then fax %s found for job %s", len(empty), found, c.SID, jobID)
	}
	if n := len(s.logLines("reconciled: two listings did not show the fax; sending it again")); n != 0 {
		t.Errorf("the fax was sent again %d times", n)
	}
	jobs := s.settle(1) // stops the daemon: 1 job, 1 fax, 1 report, nothing more
	s.checkMediaDeletedAfterReport(jobID)
	if j := jobs[0]; j.FaxSID != c.SID || len(j.Attempts) != 1 || j.Outcome != "delivered" {
		t.Errorf("job: fax %s, %d attempts, outcome %q; want fax %s, 1 attempt, delivered", j.FaxSID, len(j.Attempts), j.Outcome, c.SID)
	}
	t.Logf("sent to report: %v", time.Since(sent).Round(time.Second))
}

// TestAccountRefusedWaits is issue 8's second "done when": SignalWire
// answers 401 to everything for a minute (a rotated API token). The fax is
// not failed and no report goes out; /readyz says not ready while it lasts
// and ready again after; then the fax goes out once and is reported once.
func TestAccountRefusedWaits(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{})
	authFailUntil := time.Now().Add(time.Minute)
	s.sim.SetFaults(signalwiretest.Faults{AuthFailUntil: authFailUntil})
	doc := pdf(t, "token.pdf", 1)
	msgID := "<token-" + rand.Text() + "@client.example>"
	s.mustSend(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", messageID: msgID, pdfs: []string{doc}})

	// Not ready once the provider has refused the account...
	notReadyAt := s.waitReadyz(http.StatusServiceUnavailable, 30*time.Second)
	if !notReadyAt.Before(authFailUntil) {
		t.Fatalf("/readyz turned not ready only at %v, after the refusals ended", notReadyAt)
	}
	// ...and ready again only after the refusals ended.
	readyAt := s.waitReadyz(http.StatusOK, time.Until(authFailUntil)+60*time.Second)
	if readyAt.Before(authFailUntil) {
		t.Errorf("/readyz ready again at %v, before SignalWire accepted the token (%v)", readyAt, authFailUntil)
	}
	if n := len(s.mail.Messages(t)); n != 0 {
		t.Errorf("%d reports while the account was refused, want none", n)
	}
	refused := 0
	for _, r := range s.sim.Rejected() {
		if r.Status == http.StatusUnauthorized && r.Forced {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("SignalWire refused no request; the test proved nothing")
	}
	if len(s.logLines("fax provider refused this gateway's account; the fax waits until an operator fixes it")) == 0 {
		t.Errorf("no ERROR log line says why the fax waits")
	}

	reports := s.waitReports(1, 60*time.Second)
	checkReport(t, reports[0], "+15551234567", "delivered", "bob@client.example", msgID, 1)
	jobID := s.jobFor("+15551234567")
	s.checkCreate(s.createFor("+15551234567"), "+15551234567", jobID, sha256File(t, doc))
	jobs := s.settle(1) // stops the daemon: 1 fax, 1 report (the delivered one), nothing more
	s.checkMediaDeletedAfterReport(jobID)
	if j := jobs[0]; j.Outcome != "delivered" || len(j.Attempts) != 1 {
		t.Errorf("job: outcome %q after %d attempts; want delivered after 1 (refusals are not attempts)", j.Outcome, len(j.Attempts))
	}
	t.Logf("%d requests refused with 401; not ready at +%v, ready again %v after the refusals ended",
		refused, notReadyAt.Sub(authFailUntil.Add(-time.Minute)).Round(time.Millisecond), readyAt.Sub(authFailUntil).Round(time.Millisecond))
}

// TestProviderMediaKept: with signalwire.keep_media = true the fax's media
// stays at SignalWire after the report (settle stops the daemon before it
// looks). Without it, settle (every other test) wants it deleted.
func TestProviderMediaKept(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{keepMedia: true})
	doc := pdf(t, "kept.pdf", 1)
	s.mustSend(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", pdfs: []string{doc}})
	s.waitReports(1, 30*time.Second)
	c := s.createFor("+15551234567")
	s.settle(1)
	if s.sim.MediaDeleted(c.SID) {
		t.Errorf("fax %s: media deleted at the provider with keep_media = true", c.SID)
	}
	if f, ok := s.sim.Fax(c.SID); !ok || f.MediaSID == "" || f.Deleted {
		t.Errorf("fax %s at the provider: %+v; want it and its media kept", c.SID, f)
	}
}

// checkJobsSays runs `faxbridge jobs list` beside the running daemon and
// wants the job's line to show the state and the reason.
func (s *stack) checkJobsSays(jobID, state, reason string) {
	s.t.Helper()
	out, err := exec.Command(binPath, "jobs", "-config", s.config, "list").CombinedOutput()
	if err != nil {
		s.t.Fatalf("faxbridge jobs list: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, jobID) {
			if !strings.Contains(l, " "+state+" ") || !strings.Contains(l, reason) {
				s.t.Errorf("faxbridge jobs list shows %q; want state %s and %q", l, state, reason)
			}
			return
		}
	}
	s.t.Errorf("faxbridge jobs list does not show job %s:\n%s", jobID, out)
}

// waitReadyz polls /readyz until it answers want and returns when it did.
func (s *stack) waitReadyz(want int, timeout time.Duration) time.Time {
	s.t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		now := time.Now()
		resp, err := c.Get(s.publicURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return now
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("/readyz still %s after %v, want %d", last, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkMediaDeletedAfterReport checks, from the daemon's log, that the
// provider's media was deleted only after the report went out.
func (s *stack) checkMediaDeletedAfterReport(jobID string) {
	s.t.Helper()
	lines := strings.Split(s.log(), "\n")
	report, deleted := -1, -1
	for i, l := range lines {
		if attr(l, "job_id") != jobID {
			continue
		}
		switch attr(l, "msg") {
		case "report sent":
			report = i
		case "fax media deleted at the provider":
			deleted = i
		}
	}
	if report < 0 || deleted < report {
		s.t.Errorf("job %s: report logged at line %d, media deletion at line %d; want the deletion after the report", jobID, report, deleted)
	}
}

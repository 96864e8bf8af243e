//go:build e2e

package e2e

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

// recoveryTimeout bounds how long a restarted daemon may take to finish a
// job caught by a crash: a job left in "submitting" waits out
// send_timeout (2s in quick stacks) + 30s before it is reconciled.
const recoveryTimeout = 75 * time.Second

// TestKilledWhileProviderDown: the message is accepted (250) while
// SignalWire answers 503, the daemon is killed with SIGKILL, SignalWire
// recovers and a new daemon sends the fax once and reports it once.
func TestKilledWhileProviderDown(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{quick: true})
	s.sim.SetFaults(signalwiretest.Faults{DownUntil: time.Now().Add(time.Hour), DownMode: signalwiretest.Down503})
	doc := pdf(t, "invoice.pdf", 1)
	msgID := "<down-" + rand.Text() + "@client.example>"
	s.mustSend(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", messageID: msgID, pdfs: []string{doc}})
	jobID := s.jobFor("+15551234567")
	// Kill only once the submission has failed and is recorded as such, so
	// the job is queued again rather than caught mid-submission.
	s.waitLog("fax provider unavailable; will retry", 1, 30*time.Second)
	s.kill()
	if n := len(s.sim.Creates()); n != 0 {
		t.Fatalf("%d faxes created while SignalWire was down", n)
	}
	s.sim.SetFaults(signalwiretest.Faults{})
	s.start()

	reports := s.waitReports(1, recoveryTimeout)
	s.checkCreate(s.createFor("+15551234567"), "+15551234567", jobID, sha256File(t, doc))
	checkReport(t, reports[0], "+15551234567", "delivered", "bob@client.example", msgID, 1)
	s.settle(1)
}

// TestCrashAfterCommit: the daemon dies right after the job is committed,
// before the client has its 250. The job must survive and be faxed once.
func TestCrashAfterCommit(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{quick: true, env: []string{"FAXBRIDGE_CRASH_AT=after-commit"}})
	doc := pdf(t, "invoice.pdf", 1)
	msgID := "<commit-" + rand.Text() + "@client.example>"
	code, out := s.sendSwaks(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", messageID: msgID, pdfs: []string{doc}})
	s.waitCrash("after-commit", 30*time.Second)
	// The reply to DATA never comes; the client sees the connection drop.
	t.Logf("swaks exit %d", code)
	if strings.Contains(lastReplies(out), "<-  250 ") {
		t.Errorf("the client got 250 from a daemon that died before answering:\n%s", out)
	}
	jobID := s.jobFor("+15551234567")
	s.start()

	reports := s.waitReports(1, recoveryTimeout)
	s.checkCreate(s.createFor("+15551234567"), "+15551234567", jobID, sha256File(t, doc))
	checkReport(t, reports[0], "+15551234567", "delivered", "bob@client.example", msgID, 1)
	s.settle(1)
}

// TestCrashBeforeCommit: a daemon that dies before the commit (or while
// uploading) never said 250, and must leave nothing that becomes a fax.
func TestCrashBeforeCommit(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"during-upload", "before-commit"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, opts{quick: true, env: []string{"FAXBRIDGE_CRASH_AT=" + step}})
			doc := pdf(t, "invoice.pdf", 1)
			_, out := s.sendSwaks(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", pdfs: []string{doc}})
			s.waitCrash(step, 30*time.Second)
			if strings.Contains(lastReplies(out), "<-  250 ") {
				t.Errorf("the client got 250 from a daemon that died before committing:\n%s", out)
			}
			if ids := s.acceptedJobs(); len(ids) != 0 {
				t.Errorf("jobs %v accepted by a daemon that died before committing", ids)
			}
			s.start()
			// The client retries, as a real one does after a dropped
			// connection: that message is the only fax.
			s.mustSend(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", pdfs: []string{doc}})
			s.waitReports(1, 30*time.Second)
			// The retried message's document is gone with its fax; the
			// first upload belongs to no job and must not stay either.
			// The janitor sweeps uploads older than orphan_age (3s) that
			// belong to no job: wait for it, bounded.
			var keys []string
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				if keys = s.objects(); len(keys) == 0 || time.Now().After(deadline) {
					break
				}
			}
			if len(keys) != 0 {
				t.Errorf("documents left in the bucket: %v", keys)
			}
			s.settleJobs(1)
		})
	}
}

// TestCrashPoints kills the daemon at each step boundary after the job is
// committed, restarts it without the hook and wants exactly one fax and
// one report.
func TestCrashPoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		step string
		// logged is a message the restarted daemon must log on the way:
		// proof that the recovery path under test was taken.
		logged string
	}{
		// The intent was recorded, the fax never created: two listings
		// find nothing and it is sent.
		{"before-send", "reconciled: two listings did not show the fax; sending it again"},
		// The fax was created but its SID never recorded: reconciliation
		// must find it through FindSent and not send again.
		{"after-send", "reconciled: the provider has the fax"},
		// The final callback was applied; the report had not been sent.
		{"after-callback", "report sent"},
		// The report was about to go out; the lease expires, and it goes.
		{"before-report", "report sent"},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, opts{quick: true, env: []string{"FAXBRIDGE_CRASH_AT=" + tt.step}})
			doc := pdf(t, "invoice.pdf", 2)
			msgID := "<" + tt.step + "-" + rand.Text() + "@client.example>"
			s.mustSendBeforeCrash(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", messageID: msgID, pdfs: []string{doc}})
			jobID := s.jobFor("+15551234567")
			s.waitCrash(tt.step, 60*time.Second)
			// Callbacks sent to the dead daemon fail and are given up;
			// wait for that so the restarted daemon works from its
			// database alone.
			s.waitIdle(30 * time.Second)
			if n := len(s.mail.Messages(t)); n != 0 {
				t.Fatalf("%d reports before the restart", n)
			}
			s.start()

			reports := s.waitReports(1, recoveryTimeout)
			s.waitLog(tt.logged, 1, 10*time.Second)
			s.checkCreate(s.createFor("+15551234567"), "+15551234567", jobID, sha256File(t, doc))
			checkReport(t, reports[0], "+15551234567", "delivered", "bob@client.example", msgID, 2)
			s.settle(1)
		})
	}
}

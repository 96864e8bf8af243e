//go:build e2e

package e2e

import (
	"crypto/rand"
	"regexp"
	"testing"
	"time"
)

// TestStorageOutage: with MinIO down the message is deferred (451 4.x.x),
// so the client keeps it and nothing is queued; once MinIO is back the same
// message goes through.
func TestStorageOutage(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{})
	doc := pdf(t, "report.pdf", 1)
	msgID := "<storage-" + rand.Text() + "@client.example>"
	m := mail{to: "15551234567@" + faxDomain, from: "bob@client.example", messageID: msgID, pdfs: []string{doc}}

	s.minio.Stop()
	start := time.Now()
	code, out := s.sendSwaks(m)
	t.Logf("deferred after %v", time.Since(start).Round(time.Millisecond))
	if code == 0 || !regexp.MustCompile(`(?m)^<\*\* 451 4\.\d+\.\d+ `).MatchString(out) {
		t.Errorf("swaks exit %d; want a 451 4.x.x deferral:\n%s", code, out)
	}
	if ids := s.acceptedJobs(); len(ids) != 0 {
		t.Errorf("jobs %v accepted while storage was down", ids)
	}

	s.minio.Start()
	s.mustSend(m)
	reports := s.waitReports(1, 30*time.Second)
	checkReport(t, reports[0], "+15551234567", "delivered", "bob@client.example", msgID, 1)
	s.settle(1)
}

// TestRelayOutage: the mail relay is down when the fax completes; the
// report is retried (the first retry comes after about 30 s) and arrives
// exactly once after the relay is back.
func TestRelayOutage(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{})
	doc := pdf(t, "report.pdf", 1)
	msgID := "<relay-" + rand.Text() + "@client.example>"
	s.mail.Stop()
	s.mustSend(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", messageID: msgID, pdfs: []string{doc}})
	s.waitLog("report not delivered yet; will retry", 1, 30*time.Second)
	s.mail.Start()

	// 30 s backoff with ±20% jitter, plus a margin.
	reports := s.waitReports(1, 60*time.Second)
	checkReport(t, reports[0], "+15551234567", "delivered", "bob@client.example", msgID, 1)
	if n := len(s.logLines("report sent")); n != 1 {
		t.Errorf("%d \"report sent\" log lines, want 1", n)
	}
	s.settle(1)
}

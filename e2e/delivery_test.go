//go:build e2e

package e2e

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
	"github.com/faxbridge/faxbridge/internal/testenv"
)

const callbackPath = "/callbacks/fax"

// checkCreate checks one fax create against the config and SignalWire's
// documented parameters, and that the simulator fetched exactly the
// document from MinIO.
func (s *stack) checkCreate(c signalwiretest.Create, to, jobID, docSHA256 string) {
	t := s.t
	t.Helper()
	if c.Answer != http.StatusOK {
		t.Errorf("create answered %d, want 200", c.Answer)
	}
	f := c.Form
	want := map[string]string{
		"To":      to,
		"From":    faxFrom,
		"Quality": faxQuality,
		"Ttl":     strconv.Itoa(faxTTL),
	}
	for k, v := range want {
		if got := f.Get(k); got != v {
			t.Errorf("create %s = %q, want %q", k, got, v)
		}
	}
	// The callback URL names the job and, signed with it, the submission
	// (a token of its own), so that a callback is adopted only for the
	// submission it was set up for.
	cb, err := url.Parse(f.Get("StatusCallback"))
	if err != nil || cb.Scheme+"://"+cb.Host != s.publicURL || cb.Path != callbackPath ||
		cb.Query().Get("job") != jobID || cb.Query().Get("sub") == "" || len(cb.Query()) != 2 {
		t.Errorf("create StatusCallback = %q, want %s%s?job=%s&sub=<submission token>", f.Get("StatusCallback"), s.publicURL, callbackPath, jobID)
	}
	// Anything SignalWire does not document is refused by the simulator
	// before it gets here; these are the ones the daemon must not invent.
	if m := f.Get("StatusCallbackMethod"); m != "" && m != http.MethodPost {
		t.Errorf("create StatusCallbackMethod = %q, want POST or unset", m)
	}
	media, err := url.Parse(f.Get("MediaUrl"))
	switch {
	case err != nil:
		t.Errorf("create MediaUrl %q: %v", f.Get("MediaUrl"), err)
	case media.Scheme+"://"+media.Host != s.minio.URL() || media.Path != "/"+bucket+"/documents/"+jobID+".pdf":
		t.Errorf("create MediaUrl = %q, want the object documents/%s.pdf in MinIO bucket %s", f.Get("MediaUrl"), jobID, bucket)
	case media.Query().Get("X-Amz-Signature") == "" || media.Query().Get("X-Amz-Expires") == "":
		t.Errorf("create MediaUrl = %q is not a presigned URL", f.Get("MediaUrl"))
	}
	if m := c.Media; !m.Fetched || m.Status != http.StatusOK || m.SHA256 != docSHA256 || m.Err != "" {
		t.Errorf("media fetch = %+v, want 200 with the document's exact bytes (sha256 %s)", m, docSHA256)
	}
	if ct := c.Media.ContentType; !strings.HasPrefix(ct, "application/pdf") {
		t.Errorf("media served as %q, want application/pdf", ct)
	}
}

// checkCallbacks checks that the simulator's final callback for the fax was
// signed, went to the create's StatusCallback and was taken with 200.
func (s *stack) checkCallbacks(c signalwiretest.Create, status string) {
	t := s.t
	t.Helper()
	var final []signalwiretest.CallbackRecord
	for _, cb := range s.sim.Callbacks() {
		if cb.FaxSID == c.SID && cb.Event == "completed" {
			final = append(final, cb)
		}
	}
	if len(final) != 1 {
		t.Fatalf("%d completed callbacks for fax %s, want 1: %+v", len(final), c.SID, final)
	}
	cb := final[0]
	if cb.FaxStatus != status || cb.Code != http.StatusOK || cb.URL != c.Form.Get("StatusCallback") || cb.Method != http.MethodPost {
		t.Errorf("completed callback: status %q, answer %d, %s %s; want %s answered 200 by POST to %s",
			cb.FaxStatus, cb.Code, cb.Method, cb.URL, status, c.Form.Get("StatusCallback"))
	}
	if want := signalwiretest.Sign(s.key, cb.URL, cb.Params); cb.Signature != want {
		t.Errorf("callback signature %q, want %q", cb.Signature, want)
	}
}

var pagesRe = regexp.MustCompile(`(?m)^Pages:\s*(\d+)\s*$`)

// checkReport checks one report email. inReplyTo "" means the original
// message had no Message-ID, so the report must not claim to answer one.
func checkReport(t *testing.T, m testenv.MailMessage, to, status, reportTo, inReplyTo string, pages int) {
	t.Helper()
	if want := "Fax to " + to + ": " + status; m.Subject != want {
		t.Errorf("report subject %q, want %q", m.Subject, want)
	}
	if len(m.To) != 1 || m.To[0].Address != reportTo || len(m.Cc) != 0 || len(m.Bcc) != 0 {
		t.Errorf("report to %v cc %v bcc %v, want only %s", m.To, m.Cc, m.Bcc, reportTo)
	}
	if m.From.Address != reportFrom {
		t.Errorf("report from %q, want %s", m.From.Address, reportFrom)
	}
	if got := m.Header("In-Reply-To"); got != inReplyTo {
		t.Errorf("report In-Reply-To %q, want %q", got, inReplyTo)
	}
	if inReplyTo != "" && !strings.Contains(m.Header("References"), inReplyTo) {
		t.Errorf("report References %q, want it to name %s", m.Header("References"), inReplyTo)
	}
	if got := m.Header("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("report Auto-Submitted %q, want auto-replied", got)
	}
	if got := pagesRe.FindStringSubmatch(m.Text); got == nil || got[1] != strconv.Itoa(pages) {
		t.Errorf("report pages line %q, want %d; text:\n%s", got, pages, m.Text)
	}
}

// jobFor returns the ID of the one accepted job faxing to `to`.
func (s *stack) jobFor(to string) string {
	s.t.Helper()
	var ids []string
	for _, l := range s.logLines("job accepted") {
		if attr(l, "to") == to {
			ids = append(ids, attr(l, "job_id"))
		}
	}
	if len(ids) != 1 {
		s.t.Fatalf("%d jobs accepted for %s, want 1", len(ids), to)
	}
	return ids[0]
}

// createFor returns the one create faxing to `to`.
func (s *stack) createFor(to string) signalwiretest.Create {
	s.t.Helper()
	var out []signalwiretest.Create
	for _, c := range s.sim.Creates() {
		if c.Form.Get("To") == to {
			out = append(out, c)
		}
	}
	if len(out) != 1 {
		s.t.Fatalf("%d faxes created to %s, want 1", len(out), to)
	}
	return out[0]
}

// reportFor returns the one report about a fax to `to`.
func (s *stack) reportFor(msgs []testenv.MailMessage, to string) testenv.MailMessage {
	s.t.Helper()
	var out []testenv.MailMessage
	for _, m := range msgs {
		if strings.HasPrefix(m.Subject, "Fax to "+to+":") {
			out = append(out, m)
		}
	}
	if len(out) != 1 {
		s.t.Fatalf("%d reports about %s, want 1", len(out), to)
	}
	return out[0]
}

// TestDeliveredWithSwaks is the whole path once: swaks → faxbridge → MinIO
// → SignalWire (simulated) fetching the presigned URL → signed callback →
// report through Mailpit → document deleted.
func TestDeliveredWithSwaks(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{})
	doc := pdf(t, "contract.pdf", 1)
	msgID := "<swaks-" + rand.Text() + "@client.example>"
	s.mustSend(mail{
		to: "15551234567@" + faxDomain, from: "scanner@client.example",
		header: "Alice Example <alice@client.example>", messageID: msgID, subject: "Signed contract",
		pdfs: []string{doc},
	})
	jobID := s.jobFor("+15551234567")

	reports := s.waitReports(1, 30*time.Second)
	c := s.createFor("+15551234567")
	s.checkCreate(c, "+15551234567", jobID, sha256File(t, doc))
	if f, ok := s.sim.Fax(c.SID); !ok || f.Status != "delivered" || f.NumPages != 1 {
		t.Errorf("simulator fax %s: %+v, want delivered with 1 page", c.SID, f)
	}
	s.checkCallbacks(c, "delivered")
	// The report goes to the From header's address, not the envelope sender.
	checkReport(t, reports[0], "+15551234567", "delivered", "alice@client.example", msgID, 1)
	if got := reports[0].ReturnPath; got != reportFrom {
		t.Errorf("report envelope sender %q, want %s", got, reportFrom)
	}

	// The document is deleted before the report is sent, so by now the
	// presigned URL, still within its lifetime, finds nothing.
	if code := httpStatus(t, c.Form.Get("MediaUrl")); code != http.StatusNotFound {
		t.Errorf("presigned media URL after completion: %d, want 404", code)
	}
	s.settle(1)
}

// TestOtherClients sends with curl (no Date, no Message-ID), s-nail and
// mutt, each to its own number, on one stack.
func TestOtherClients(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{})
	doc := pdf(t, "letter.pdf", 1)
	sum := sha256File(t, doc)
	home := t.TempDir() // s-nail and mutt want a writable HOME
	env := []string{"HOME=" + home}

	// Each send returns the exit code and transcript of the client.
	clients := []struct {
		name     string
		reportTo string
		msgID    string
		send     func(rcpt, msgID string) (int, string)
	}{
		{"curl", "carol@client.example", "", func(rcpt, _ string) (int, string) {
			return s.curl("--url", "smtp://"+s.smtpAddr, "--mail-from", "carol@client.example", "--mail-rcpt", rcpt,
				"-H", "Subject: via curl", "-H", "From: Carol <carol@client.example>", "-H", "To: "+rcpt,
				"-F", "=Please fax this.;type=text/plain",
				"-F", "=@"+doc+";type=application/pdf;encoder=base64;filename=letter.pdf")
		}},
		{"s-nail", "dave@client.example", "<snail-" + rand.Text() + "@client.example>", func(rcpt, id string) (int, string) {
			// -t reads the header from the template: the only way s-nail
			// lets the test choose the Message-ID.
			tmpl := "From: Dave <dave@client.example>\nTo: " + rcpt + "\nSubject: via s-nail\nMessage-ID: " + id + "\n\nPlease fax this.\n"
			return s.client(tmpl, env, "s-nail", "-:/", "-S", "v15-compat", "-S", "mta=smtp://"+s.smtpAddr,
				"-S", "smtp-auth=none", "-S", "sendwait", "-t", "-a", doc)
		}},
		{"mutt", "erin@client.example", "<mutt-" + rand.Text() + "@client.example>", func(rcpt, id string) (int, string) {
			return s.client("Please fax this.\n", env, "mutt", "-n", "-F", "/dev/null",
				"-e", `set smtp_url="smtp://`+s.smtpAddr+`" ssl_starttls=no ssl_force_tls=no from="Erin <erin@client.example>" record="" copy=no`,
				"-e", "my_hdr Message-ID: "+id,
				"-s", "via mutt", "-a", doc, "--", rcpt)
		}},
	}
	// One client after the other on the same stack (no subtests: the
	// stack's helpers fail the parent test).
	for i, c := range clients {
		to := "+1555123000" + strconv.Itoa(i+1)
		if code, out := c.send(strings.TrimPrefix(to, "+")+"@"+faxDomain, c.msgID); code != 0 {
			t.Fatalf("%s exit %d:\n%s", c.name, code, out)
		}
		reports := s.waitReports(i+1, 30*time.Second)
		s.checkCreate(s.createFor(to), to, s.jobFor(to), sum)
		checkReport(t, s.reportFor(reports, to), to, "delivered", c.reportTo, c.msgID, 1)
	}
	jobs := s.settle(len(clients))
	for _, j := range jobs {
		if j.Destination.To == "+15551230001" && j.MessageID != "" {
			t.Errorf("curl sent no Message-ID, but the job has %q", j.MessageID)
		}
	}
}

// TestForgedCallbacks posts unsigned and wrongly signed "failed" callbacks
// for a real fax in flight: each must get 403 and change nothing, and the
// genuine callback must then give one "delivered" report.
func TestForgedCallbacks(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{})
	// Hold every fax in "sending" until the forgeries are done.
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the simulator closes
	s.sim.SetFaults(signalwiretest.Faults{Outcome: func(signalwiretest.Fax) signalwiretest.Outcome {
		<-release
		return signalwiretest.Outcome{}
	}})
	doc := pdf(t, "memo.pdf", 1)
	msgID := "<forged-" + rand.Text() + "@client.example>"
	s.mustSend(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", messageID: msgID, pdfs: []string{doc}})
	c := s.waitCreates(1, 30*time.Second)[0]
	s.waitLog("fax submitted", 1, 30*time.Second)
	cbURL := c.Form.Get("StatusCallback")

	form := url.Values{
		"FaxSid": {c.SID}, "AccountSid": {projectID}, "From": {faxFrom}, "To": {"+15551234567"},
		"FaxStatus": {"failed"}, "ApiVersion": {"v1"}, "NumPages": {"0"},
		"ErrorCode": {"34001"}, "ErrorMessage": {"forged"},
	}
	delivered := url.Values{}
	for k, v := range form {
		delivered[k] = v
	}
	delivered.Set("FaxStatus", "delivered")
	forgeries := []struct {
		name, header, sig string
	}{
		{"unsigned", "", ""},
		{"signed with another key", "X-SignalWire-Signature", signalwiretest.Sign("PSK_"+rand.Text(), cbURL, form)},
		{"signature of other parameters", "X-SignalWire-Signature", signalwiretest.Sign(s.key, cbURL, delivered)},
		{"signature of another URL", "X-SignalWire-Signature", signalwiretest.Sign(s.key, s.publicURL+callbackPath+"?job=other", form)},
		{"legacy header, wrong key", "X-Twilio-Signature", signalwiretest.Sign("PSK_"+rand.Text(), cbURL, form)},
		{"not base64", "X-SignalWire-Signature", "not a signature"},
	}
	for _, f := range forgeries {
		req, err := http.NewRequest(http.MethodPost, cbURL, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if f.header != "" {
			req.Header.Set(f.header, f.sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s callback: %d, want 403", f.name, resp.StatusCode)
		}
	}
	s.waitLog("status callback refused", len(forgeries), 10*time.Second)
	if n := len(s.mail.Messages(t)); n != 0 {
		t.Errorf("%d reports after forged callbacks, want none", n)
	}

	once.Do(func() { close(release) })
	reports := s.waitReports(1, 30*time.Second)
	checkReport(t, reports[0], "+15551234567", "delivered", "bob@client.example", msgID, 1)
	s.checkCallbacks(c, "delivered")
	s.settle(1)
}

// TestTwoPDFsOneFax attaches a 1-page and a 2-page PDF: one fax of 3 pages.
func TestTwoPDFsOneFax(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{})
	one, two := pdf(t, "cover.pdf", 1), pdf(t, "body.pdf", 2)
	msgID := "<two-" + rand.Text() + "@client.example>"
	s.mustSend(mail{to: "15551234567@" + faxDomain, from: "bob@client.example", messageID: msgID, pdfs: []string{one, two}})
	reports := s.waitReports(1, 30*time.Second)
	c := s.createFor("+15551234567")
	f, ok := s.sim.Fax(c.SID)
	if !ok || f.Status != "delivered" || f.NumPages != 3 {
		t.Errorf("simulator fax: status %q, %d pages; want delivered, 3", f.Status, f.NumPages)
	}
	if m := c.Media; m.Status != http.StatusOK || m.SHA256 == sha256File(t, one) || m.SHA256 == sha256File(t, two) {
		t.Errorf("media fetch %+v: want 200 with a merged document, not one of the inputs", m)
	}
	checkReport(t, reports[0], "+15551234567", "delivered", "bob@client.example", msgID, 3)
	for _, name := range []string{"cover.pdf", "body.pdf"} {
		if !strings.Contains(reports[0].Text, name) {
			t.Errorf("the report does not name %s:\n%s", name, reports[0].Text)
		}
	}
	s.settle(1)
}

// TestRefusals checks the SMTP replies swaks sees for mail that cannot be
// faxed, and that none of it makes a job; a good message afterwards shows
// the stack itself was working.
func TestRefusals(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	s := newStack(t, opts{maxMessageBytes: limit})
	good := pdf(t, "good.pdf", 1)
	locked := encrypted(t, good, "locked.pdf")
	big := filepath.Join(t.TempDir(), "big.pdf")
	junk := make([]byte, 2*limit)
	rand.Read(junk)
	if err := os.WriteFile(big, append([]byte("%PDF-1.4\n"), junk...), 0o644); err != nil {
		t.Fatal(err)
	}
	zip := filepath.Join(t.TempDir(), "scans.zip")
	if err := os.WriteFile(zip, []byte("PK\x03\x04not really a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	rcpt := "15551234567@" + faxDomain
	tests := []struct {
		name  string
		m     mail
		reply string // the refusal, as swaks prints it
		says  string // part of the sentence that must be in it
	}{
		// A zip and no text: nothing a fax could carry (text alone would
		// become a cover page).
		{"nothing to fax", mail{to: rcpt, from: "a@client.example", extra: []string{"--body", " ",
			"--attach-type", "application/zip", "--attach-name", "scans.zip", "--attach", "@" + zip}}, "554 5.6.0", "nothing to fax"},
		{"encrypted PDF", mail{to: rcpt, from: "a@client.example", pdfs: []string{locked}}, "554 5.6.0", "locked.pdf"},
		{"another domain", mail{to: "15551234567@example.org", from: "a@client.example", pdfs: []string{good}}, "550 5.7.1", ""},
		{"malformed number", mail{to: "12@" + faxDomain, from: "a@client.example", pdfs: []string{good}}, "553 5.1.3", ""},
		{"too large", mail{to: rcpt, from: "a@client.example", pdfs: []string{big}}, "552 5.3.4", ""},
	}
	// No subtests: the stack's helpers fail the parent test.
	for _, tt := range tests {
		code, out := s.sendSwaks(tt.m)
		if code == 0 {
			t.Errorf("%s: swaks succeeded; want a refusal:\n%s", tt.name, out)
			continue
		}
		re := regexp.MustCompile(`(?m)^<\*\* ` + regexp.QuoteMeta(tt.reply) + ` (.*)$`)
		got := re.FindStringSubmatch(out)
		if got == nil {
			t.Errorf("%s: no %q reply in the transcript:\n%s", tt.name, tt.reply, out)
			continue
		}
		if !strings.Contains(got[1], tt.says) {
			t.Errorf("%s: reply %q does not say %q", tt.name, got[0], tt.says)
		}
		if strings.Count(out, "<** ") != 1 {
			t.Errorf("%s: want exactly one refusal in the transcript:\n%s", tt.name, out)
		}
		t.Logf("%s: %s", tt.name, strings.TrimSpace(got[0]))
	}
	if ids := s.acceptedJobs(); len(ids) != 0 {
		t.Errorf("refused messages made jobs %v", ids)
	}
	if n := len(s.sim.Creates()); n != 0 {
		t.Errorf("refused messages made %d faxes", n)
	}

	s.mustSend(mail{to: rcpt, from: "a@client.example", pdfs: []string{good}})
	s.waitReports(1, 30*time.Second)
	s.settle(1)
}

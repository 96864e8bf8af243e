package notify

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/faxbridge/faxbridge"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Secrets every fixture carries; none may appear in a report.
const (
	secretSIP   = "s1p-Secret-pw"
	secretMedia = "https://media.example/sig=TOKEN123"
	secretKey   = "blobs/7f3a9c-storage-key"
)

var (
	reportDate = time.Date(2026, 3, 3, 14, 20, 0, 0, time.UTC)
	created    = time.Date(2026, 3, 3, 14, 5, 12, 0, time.UTC)
)

func baseJob() *faxbridge.Job {
	return &faxbridge.Job{
		ID:          "k2m5q7s9u3w4y6a8c1e3g5i7k9",
		State:       faxbridge.StateDone,
		CreatedAt:   created,
		MailFrom:    "anna@clinic.example",
		ReportTo:    "Anna Smith <anna@clinic.example>",
		MessageID:   "<CAF=orig-42@mail.clinic.example>",
		Subject:     "Referral for Mr Jones",
		Destination: faxbridge.Destination{To: "+15551234567", SipAuthPassword: secretSIP},
		From:        "+15557654321",
		Quality:     "fine",
		DocumentKey: secretKey,
		Pages:       3,
		Documents: []faxbridge.DocumentInfo{
			{Name: "referral.pdf", Type: "pdf", Bytes: 81234, Pages: 2, SHA256: strings.Repeat("ab", 32)},
			{Name: "scan.png", Type: "png", Bytes: 40960, Pages: 1, SHA256: strings.Repeat("0f", 32)},
		},
		MediaURL: secretMedia,
		FaxSID:   "b3f1c6a2-0d4e-4c1b-9a57-2f8e6d0c9b11",
	}
}

func attemptAt(n int, min int, status, code, msg string) faxbridge.Attempt {
	return faxbridge.Attempt{
		Number: n, Quality: "fine", FaxSID: "sid-" + status,
		StartedAt: created.Add(time.Duration(min) * time.Minute),
		Status:    status, ErrorCode: code, ErrorMessage: msg,
	}
}

// reports are the golden cases, one file each in testdata.
func reports() map[string]faxbridge.Report {
	rep := func(j *faxbridge.Job) faxbridge.Report {
		return faxbridge.Report{Job: j, From: "Fax Gateway <fax@gw.example>", Hostname: "gw.example", Date: reportDate}
	}
	cases := map[string]faxbridge.Report{}

	j := baseJob()
	j.Outcome, j.FaxStatus = faxbridge.OutcomeDelivered, "delivered"
	j.NumPages, j.Duration, j.RemoteStationID = 3, 65, "HOSPITAL FAX 2"
	j.Attempts = []faxbridge.Attempt{attemptAt(1, 0, "delivered", "", "")}
	cases["delivered"] = rep(j)

	// A submission whose answer was lost landed twice at the provider.
	j = baseJob()
	j.Outcome, j.FaxStatus = faxbridge.OutcomeDelivered, "delivered"
	j.NumPages, j.Duration = 3, 65
	j.Attempts = []faxbridge.Attempt{attemptAt(1, 0, "delivered", "", "")}
	j.ExtraFaxes = []faxbridge.ExtraFax{{SID: "FX-second", Status: "delivered", Attempt: 1, Source: "listing", SeenAt: reportDate}}
	cases["duplicate"] = rep(j)

	j = baseJob()
	j.Outcome, j.FaxStatus = faxbridge.OutcomeBusy, "busy"
	j.Reason = "The line was busy."
	j.Attempts = []faxbridge.Attempt{
		attemptAt(1, 0, "busy", "", ""),
		attemptAt(2, 5, "busy", "", ""),
		attemptAt(3, 15, "busy", "", ""),
	}
	cases["busy"] = rep(j)

	j = baseJob()
	j.Outcome, j.FaxStatus = faxbridge.OutcomeFailed, "failed"
	j.NumPages, j.Duration = 1, 48
	j.ErrorCode, j.ErrorMessage = "FAX_NEGOTIATION_FAILED", "Negotiation failed"
	j.Reason = "The receiving machine stopped answering after page 1"
	j.Attempts = []faxbridge.Attempt{attemptAt(1, 0, "failed", "FAX_NEGOTIATION_FAILED", "Negotiation failed")}
	cases["failed"] = rep(j)

	j = baseJob()
	j.Outcome = faxbridge.OutcomeRejected
	j.Reason = "The fax service does not accept this number."
	j.FaxSID = ""
	j.MessageID = ""
	j.Skipped = []string{"logo.gif: not a PDF, TIFF or image the fax can carry", "notes.docx: not a PDF, TIFF or image the fax can carry"}
	cases["rejected"] = rep(j)

	j = baseJob()
	j.Outcome = faxbridge.OutcomeExpired
	j.Attempts = []faxbridge.Attempt{attemptAt(1, 0, "", "", "")}
	cases["expired"] = rep(j)

	j = baseJob()
	j.Destination.Contact = "reception"
	j.Outcome = faxbridge.OutcomeDelivered
	j.NumPages, j.Duration = 3, 3725
	j.Attempts = []faxbridge.Attempt{attemptAt(1, 0, "delivered", "", "")}
	cases["contact"] = rep(j)

	j = baseJob()
	j.Destination = faxbridge.Destination{
		To: "sip:frontdesk:" + secretSIP + "@pbx.clinic.example", Contact: "front desk",
		SipAuthUsername: "gw", SipAuthPassword: secretSIP,
	}
	j.Outcome = faxbridge.OutcomeNoAnswer
	j.Attempts = []faxbridge.Attempt{attemptAt(1, 0, "no-answer", "", "")}
	cases["sip"] = rep(j)

	j = baseJob()
	j.ReportTo = "Jürgen Müller <jm@praxis.example>"
	j.Subject = "Überweisung für Frau Größe – dringend"
	j.Destination.Contact = "Büro Köln"
	j.Destination.To = "+4922112345678"
	j.Documents = []faxbridge.DocumentInfo{
		{Name: "Überweisung_März.pdf", Type: "pdf", Pages: 1, SHA256: strings.Repeat("c3", 32)},
		{Name: "Befund (2).tiff", Type: "tiff", Pages: 2, SHA256: strings.Repeat("9e", 32)},
	}
	j.Outcome = faxbridge.OutcomeDelivered
	j.NumPages = 3
	cases["nonascii"] = rep(j)
	return cases
}

func TestComposeGolden(t *testing.T) {
	for name, rep := range reports() {
		t.Run(name, func(t *testing.T) {
			got, err := Compose(rep)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Compose differs from %s (go test -update rewrites it)\ngot:\n%s", path, got)
			}
			again, _ := Compose(rep)
			if !bytes.Equal(got, again) {
				t.Error("Compose is not deterministic")
			}
			checkMessage(t, rep, got)
		})
	}
}

// checkMessage parses the report as a mail client would and checks what
// the golden files cannot say on their own.
func checkMessage(t *testing.T, rep faxbridge.Report, raw []byte) {
	t.Helper()
	j := rep.Job
	for i, l := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if !bytes.HasSuffix(l, []byte("\r\n")) || bytes.Count(l, []byte("\r")) != 1 {
			t.Errorf("line %d does not end in a single CRLF: %q", i+1, l)
		}
		if len(l) > 78 {
			t.Errorf("line %d is longer than 78 characters: %q", i+1, l)
		}
		for _, c := range l {
			if c >= 0x80 {
				t.Fatalf("line %d has a non-ASCII byte: %q", i+1, l)
			}
		}
	}

	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("go-message cannot read the report: %v", err)
	}
	h := mr.Header
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "fax@gw.example" || from[0].Name != "Fax Gateway" {
		t.Errorf("From = %v, %v", from, err)
	}
	to, err := h.AddressList("To")
	wantTo, _ := mail.ParseAddress(j.ReportTo)
	if err != nil || len(to) != 1 || *to[0] != *wantTo {
		t.Errorf("To = %v, %v; want %v", to, err, wantTo)
	}
	if s, err := h.Subject(); err != nil || s != Subject(j) {
		t.Errorf("Subject = %q, %v; want %q", s, err, Subject(j))
	}
	if d, err := h.Date(); err != nil || !d.Equal(rep.Date) {
		t.Errorf("Date = %v, %v", d, err)
	}
	if id, err := h.MessageID(); err != nil || id != j.ID+".report@gw.example" {
		t.Errorf("Message-ID = %q, %v", id, err)
	}
	for _, k := range []string{"In-Reply-To", "References"} {
		ids, err := h.MsgIDList(k)
		if err != nil {
			t.Errorf("%s: %v", k, err)
		}
		switch {
		case j.MessageID == "" && ids != nil:
			t.Errorf("%s = %q without an original Message-ID", k, ids)
		case j.MessageID != "" && (len(ids) != 1 || "<"+ids[0]+">" != j.MessageID):
			t.Errorf("%s = %q, want %s", k, ids, j.MessageID)
		}
	}
	for k, want := range map[string]string{
		"Auto-Submitted":            "auto-replied",
		"X-Faxbridge-Job":           j.ID,
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	p, err := mr.NextPart()
	if err != nil {
		t.Fatalf("no body: %v", err)
	}
	text, err := io.ReadAll(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(text)
	if !strings.HasPrefix(body, "Your fax to ") && !strings.HasPrefix(body, "We could not find out") {
		t.Errorf("body does not open with the outcome: %q", body)
	}
	for _, want := range []string{"Status:", fmt.Sprintf("%-*s%s", labelWidth, "Job ID:", j.ID)} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	if j.Subject != "" && !strings.Contains(body, j.Subject) {
		t.Errorf("body lacks the original subject %q", j.Subject)
	}
	for _, d := range j.Documents {
		if !strings.Contains(body, d.Name) || !strings.Contains(body, d.SHA256) {
			t.Errorf("body lacks document %q with its SHA-256", d.Name)
		}
	}
	for _, secret := range []string{secretSIP, secretMedia, "TOKEN123", secretKey, "storage-key"} {
		if strings.Contains(body, secret) || bytes.Contains(raw, []byte(secret)) {
			t.Errorf("report contains the secret %q", secret)
		}
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		outcome, to, contact, want string
	}{
		{faxbridge.OutcomeDelivered, "+15551234567", "", "Fax to +15551234567: delivered"},
		{faxbridge.OutcomeBusy, "+15551234567", "", "Fax to +15551234567: busy"},
		{faxbridge.OutcomeNoAnswer, "+15551234567", "", "Fax to +15551234567: no-answer"},
		{faxbridge.OutcomeFailed, "+15551234567", "", "Fax to +15551234567: failed"},
		{faxbridge.OutcomeCanceled, "+15551234567", "", "Fax to +15551234567: canceled"},
		{faxbridge.OutcomeRejected, "+15551234567", "", "Fax to +15551234567: not sent"},
		{faxbridge.OutcomeExpired, "+15551234567", "", "Fax to +15551234567: unknown"},
		{"", "+15551234567", "", "Fax to +15551234567: unknown"},
		{faxbridge.OutcomeDelivered, "+15551234567", "reception", "Fax to reception (+15551234567): delivered"},
		{faxbridge.OutcomeDelivered, "sip:desk@pbx.example", "", "Fax to sip:desk@pbx.example: delivered"},
		{faxbridge.OutcomeDelivered, "sip:desk:pw@pbx.example;transport=tls", "desk", "Fax to desk (sip:desk@pbx.example;transport=tls): delivered"},
		{faxbridge.OutcomeDelivered, "+15551234567", "evil\r\nBcc: x@y", "Fax to evil  Bcc: x@y (+15551234567): delivered"},
	}
	for _, tt := range tests {
		j := &faxbridge.Job{Outcome: tt.outcome, Destination: faxbridge.Destination{To: tt.to, Contact: tt.contact}}
		if got := Subject(j); got != tt.want {
			t.Errorf("Subject(%s, %q, %q) = %q, want %q", tt.outcome, tt.to, tt.contact, got, tt.want)
		}
	}
}

func TestSentence(t *testing.T) {
	tests := []struct {
		outcome, reason, want string
	}{
		{faxbridge.OutcomeDelivered, "", "Your fax to +1 555 123 4567 was delivered."},
		{faxbridge.OutcomeBusy, "", "Your fax to +1 555 123 4567 could not be delivered: The line was busy."},
		{faxbridge.OutcomeBusy, "The line was busy", "Your fax to +1 555 123 4567 could not be delivered: The line was busy."},
		{faxbridge.OutcomeNoAnswer, "", "Your fax to +1 555 123 4567 could not be delivered: Nobody answered the call."},
		{faxbridge.OutcomeFailed, "", "Your fax to +1 555 123 4567 could not be delivered: The transmission failed."},
		{faxbridge.OutcomeCanceled, "", "Your fax to +1 555 123 4567 was canceled."},
		{faxbridge.OutcomeCanceled, "  ", "Your fax to +1 555 123 4567 was canceled."},
		{faxbridge.OutcomeRejected, "The number is barred.", "Your fax to +1 555 123 4567 was not sent: The number is barred."},
		{faxbridge.OutcomeExpired, "", "We could not find out whether your fax to +1 555 123 4567 was delivered: The fax service never reported a result.\nPlease check with the recipient before sending it again."},
	}
	for _, tt := range tests {
		j := &faxbridge.Job{Outcome: tt.outcome, Reason: tt.reason, Destination: faxbridge.Destination{To: "+15551234567"}}
		if got := sentence(j); got != tt.want {
			t.Errorf("sentence(%s, %q) = %q, want %q", tt.outcome, tt.reason, got, tt.want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for sec, want := range map[int]string{0: "", -3: "", 9: "9 s", 60: "1 min 00 s", 65: "1 min 05 s", 3725: "1 h 02 min 05 s"} {
		if got := duration(sec); got != want {
			t.Errorf("duration(%d) = %q, want %q", sec, got, want)
		}
	}
	for in, want := range map[string]string{
		"+15551234567":    "+1 555 123 4567",
		"+4922112345678":  "+4922112345678",
		"+1555123456":     "+1555123456",
		"+1555123456x":    "+1555123456x",
		"sip:a@b.example": "sip:a@b.example",
	} {
		if got := readableNumber(in); got != want {
			t.Errorf("readableNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestComposeInvalid(t *testing.T) {
	ok := func() faxbridge.Report {
		j := baseJob()
		j.Outcome = faxbridge.OutcomeDelivered
		return faxbridge.Report{Job: j, From: "fax@gw.example", Hostname: "gw.example", Date: reportDate}
	}
	if _, err := Compose(ok()); err != nil {
		t.Fatalf("the valid base case fails: %v", err)
	}
	tests := map[string]func(*faxbridge.Report){
		"no job":             func(r *faxbridge.Report) { r.Job = nil },
		"no from":            func(r *faxbridge.Report) { r.From = "" },
		"bad from":           func(r *faxbridge.Report) { r.From = "not an address" },
		"no report address":  func(r *faxbridge.Report) { r.Job.ReportTo = "" },
		"no date":            func(r *faxbridge.Report) { r.Date = time.Time{} },
		"no id":              func(r *faxbridge.Report) { r.Job.ID = "" },
		"id with a path":     func(r *faxbridge.Report) { r.Job.ID = "../etc/passwd" },
		"hostname with junk": func(r *faxbridge.Report) { r.Hostname = "gw.example>\r\nBcc: x" },
	}
	for name, mutate := range tests {
		r := ok()
		mutate(&r)
		_, err := Compose(r)
		if faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("%s: err = %v, want code %s", name, err, faxbridge.EInvalid)
		}
	}
}

func TestComposeFallbacks(t *testing.T) {
	j := baseJob()
	j.Outcome = faxbridge.OutcomeDelivered
	j.FinishedAt = reportDate.Add(-time.Minute)
	j.MessageID = "bad id with spaces"
	raw, err := Compose(faxbridge.Report{Job: j, From: "fax@gw.example"})
	if err != nil {
		t.Fatal(err)
	}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := mr.Header.Date(); !d.Equal(j.FinishedAt) {
		t.Errorf("Date = %v, want FinishedAt %v", d, j.FinishedAt)
	}
	if id, _ := mr.Header.MessageID(); id != j.ID+".report@gw.example" {
		t.Errorf("Message-ID = %q, want the From domain as host", id)
	}
	if mr.Header.Has("In-Reply-To") || mr.Header.Has("References") {
		t.Error("a malformed original Message-ID was copied into the report")
	}
}

package notify

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/internal/testenv"
)

var (
	faxDate     = time.Date(2026, 12, 6, 14, 33, 10, 0, time.UTC)
	faxReceived = time.Date(2026, 12, 6, 14, 32, 41, 0, time.UTC)
	// faxPDF stands in for a received document: the mail carries it as is.
	faxPDF = []byte("%PDF-1.4\n% received fax\n1 0 obj << /Type /Page >> endobj\n%%EOF\n")
)

func inboundJob() *faxbridge.Job {
	return &faxbridge.Job{
		ID:              "in-5d0b6a3e-7c41-4f0e-9e5a-3b2c1d0e9f8a",
		Direction:       faxbridge.Inbound,
		State:           faxbridge.StateDone,
		Outcome:         faxbridge.OutcomeReceived,
		From:            "+15557654321",
		Destination:     faxbridge.Destination{To: "+15550100000"},
		MailTo:          []string{"Front Desk <desk@clinic.example>", "records@clinic.example"},
		FaxSID:          "5d0b6a3e-7c41-4f0e-9e5a-3b2c1d0e9f8a",
		NumPages:        3,
		RemoteStationID: "ACME LEGAL",
		ReceivedAt:      faxReceived,
		DocumentKey:     "in-5d0b6a3e-7c41-4f0e-9e5a-3b2c1d0e9f8a.pdf",
		DocumentBytes:   int64(len(faxPDF)),
		DocumentSHA256:  strings.Repeat("5e", 32),
		DocumentType:    "pdf",
		MediaURL:        secretMedia,
	}
}

// faxMails are the golden cases of received-fax mail.
func faxMails() map[string]faxbridge.FaxMail {
	fm := func(j *faxbridge.Job) faxbridge.FaxMail {
		return faxbridge.FaxMail{Job: j, From: "Fax Gateway <fax@gw.example>", Hostname: "gw.example", Date: faxDate}
	}
	cases := map[string]faxbridge.FaxMail{}

	m := fm(inboundJob())
	m.Document = faxPDF
	cases["fax-attached"] = m

	m = fm(inboundJob())
	m.Link = "https://fax.example/media/in-5d0b.pdf?expires=1765636390&sig=abc"
	m.LinkExpires = faxDate.Add(7 * 24 * time.Hour)
	cases["fax-link"] = m

	j := inboundJob()
	j.Outcome = faxbridge.OutcomeFailed
	j.NumPages = 0
	j.DocumentKey, j.DocumentBytes, j.DocumentSHA256 = "", 0, ""
	j.ErrorCode, j.ErrorMessage = "34004", "The call dropped prematurely"
	j.Reason = "The call dropped before the fax was complete."
	j.From = "anonymous"
	cases["fax-failed"] = fm(j)
	return cases
}

func TestComposeFaxGolden(t *testing.T) {
	for name, m := range faxMails() {
		t.Run(name, func(t *testing.T) {
			got, err := ComposeFax(m)
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
				t.Errorf("ComposeFax differs from %s (go test -update rewrites it)\ngot:\n%s", path, got)
			}
			if again, _ := ComposeFax(m); !bytes.Equal(got, again) {
				t.Error("ComposeFax is not deterministic")
			}
			if bytes.Contains(got, []byte(secretMedia)) {
				t.Error("the mail shows the provider's media URL")
			}
			checkFaxMail(t, m, got)
		})
	}
}

// checkFaxMail parses the mail as a client would: the attachment is the
// document byte for byte under its name, the subject names the caller.
func checkFaxMail(t *testing.T, m faxbridge.FaxMail, raw []byte) {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := r.Header.Subject()
	if subj != FaxSubject(m.Job) {
		t.Errorf("subject %q", subj)
	}
	to, _ := r.Header.AddressList("To")
	if len(to) != 2 {
		t.Errorf("To: %v, want both route addresses", to)
	}
	var attachments [][]byte
	var names []string
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		if h, ok := p.Header.(*mail.AttachmentHeader); ok {
			name, _ := h.Filename()
			body := new(bytes.Buffer)
			body.ReadFrom(p.Body)
			attachments = append(attachments, body.Bytes())
			names = append(names, name)
		}
	}
	switch {
	case m.Document != nil:
		if len(attachments) != 1 || !bytes.Equal(attachments[0], m.Document) || names[0] != "fax-2026-12-06-1432-from-15557654321.pdf" {
			t.Errorf("attachments %q, want the document byte for byte", names)
		}
	case len(attachments) != 0:
		t.Errorf("attachments %q, want none", names)
	}
}

func TestFaxSubject(t *testing.T) {
	j := inboundJob()
	if got := FaxSubject(j); got != "Fax from +15557654321 (3 pages)" {
		t.Errorf("subject %q", got)
	}
	j.NumPages, j.From = 1, ""
	if got := FaxSubject(j); got != "Fax from an unknown caller (1 page)" {
		t.Errorf("subject %q", got)
	}
}

// TestMailFaxMailpit sends a received fax through a real Mailpit to two
// route addresses and reads the attachment back.
func TestMailFaxMailpit(t *testing.T) {
	mp := testenv.Mailpit(t)
	r, err := NewRelay(RelayConfig{Addr: mp.SMTPAddr, TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	m := faxMails()["fax-attached"]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.MailFax(ctx, m); err != nil {
		t.Fatal(err)
	}
	msgs := mp.WaitMessages(t, 1, 10*time.Second)
	got := mp.Message(t, msgs[0].ID)
	if got.Subject != "Fax from +15557654321 (3 pages)" || got.MessageID != m.Job.ID+".fax@gw.example" {
		t.Errorf("subject %q, Message-ID %q", got.Subject, got.MessageID)
	}
	if len(got.To) != 2 || got.To[0].Address != "desk@clinic.example" || got.To[1].Address != "records@clinic.example" {
		t.Errorf("To %v", got.To)
	}
	if len(got.Attachments) != 1 || got.Attachments[0].FileName != "fax-2026-12-06-1432-from-15557654321.pdf" || got.Attachments[0].ContentType != "application/pdf" {
		t.Fatalf("attachments %+v", got.Attachments)
	}
	if body := mp.Part(t, got.ID, got.Attachments[0].PartID); !bytes.Equal(body, faxPDF) {
		t.Errorf("attachment is %d bytes, not the document", len(body))
	}
	for _, want := range []string{"ACME LEGAL", "SHA-256:", strings.Repeat("5e", 32), m.Job.FaxSID, fmt.Sprintf("%-*s%s", labelWidth, "To:", "+15550100000")} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, got.Text)
		}
	}
}

// TestOutboxMailFax writes the fax mail into the outbox, once per job.
func TestOutboxMailFax(t *testing.T) {
	o := &Outbox{Dir: t.TempDir()}
	m := faxMails()["fax-attached"]
	for range 2 {
		if err := o.MailFax(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(o.Dir, "*.eml"))
	if len(files) != 1 || filepath.Base(files[0]) != m.Job.ID+".eml" {
		t.Fatalf("outbox holds %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	checkFaxMail(t, m, raw)
}

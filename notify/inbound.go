package notify

import (
	"bytes"
	"context"
	"fmt"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/faxbridge/faxbridge"
)

// The email that delivers a received fax. Like the report it is pure: the
// same FaxMail always gives the same bytes (the multipart boundary comes
// from the job ID), so a mail sent again after a crash in the moment
// between the relay's acceptance and our record of it is recognisably the
// same message.

var (
	_ faxbridge.FaxMailer = (*Relay)(nil)
	_ faxbridge.FaxMailer = (*Outbox)(nil)
)

// FaxSubject is the subject of the mail of a received fax, e.g.
// "Fax from +15557654321 (3 pages)".
func FaxSubject(j *faxbridge.Job) string {
	if j.Outcome == faxbridge.OutcomeFailed {
		return "Fax from " + caller(j) + " could not be received"
	}
	pages := j.NumPages
	if pages == 0 {
		pages = j.Pages
	}
	if pages > 0 {
		return "Fax from " + caller(j) + " (" + plural(pages, "page") + ")"
	}
	return "Fax from " + caller(j)
}

// caller names who sent the fax: their number as SignalWire gave it
// (E.164), or words when it did not give one.
func caller(j *faxbridge.Job) string {
	if c := line(j.From); c != "" && !strings.EqualFold(c, "anonymous") {
		return c
	}
	return "an unknown caller"
}

// AttachmentName is the file name of a received fax, by time received and
// caller: fax-2026-12-06-1432-from-15557654321.pdf.
func AttachmentName(j *faxbridge.Job, loc *time.Location) string {
	var digits strings.Builder
	for _, c := range j.From {
		if c >= '0' && c <= '9' {
			digits.WriteRune(c)
		}
	}
	from := digits.String()
	if from == "" {
		from = "unknown"
	}
	ext := ".pdf"
	if j.DocumentType == "tiff" {
		ext = ".tif"
	}
	return "fax-" + j.ReceivedAt.In(loc).Format("2006-01-02-1504") + "-from-" + from + ext
}

// ComposeFax returns the mail of a received fax, or the notice of a failed
// reception, as an RFC 5322 message with CRLF line endings. Times are
// shown in the location of m.Date. Its errors have code EInvalid.
func ComposeFax(m faxbridge.FaxMail) ([]byte, error) {
	j := m.Job
	if j == nil || !isToken(j.ID) {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the fax mail has no usable job")
	}
	from, err := netmail.ParseAddress(m.From)
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "the mail sender address is not valid")
	}
	to, err := mailTo(j)
	if err != nil {
		return nil, err
	}
	if m.Date.IsZero() {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the fax mail has no date")
	}
	host := m.Hostname
	if host == "" {
		host = domain(from.Address)
	}
	if !isToken(host) {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the fax mail has no usable hostname")
	}
	loc := m.Date.Location()
	attach := j.Outcome != faxbridge.OutcomeFailed && m.Document != nil

	var h mail.Header
	// Bottom-up, as in Compose: go-message writes fields in reverse order.
	if attach {
		h.SetContentType("multipart/mixed", map[string]string{"boundary": "=_faxbridge-" + j.ID})
	} else {
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	}
	h.AddRaw([]byte("MIME-Version: 1.0\r\n"))
	h.Set("X-Faxbridge-Job", j.ID)
	// RFC 3834: an automatic message, so responders do not answer it.
	h.Set("Auto-Submitted", "auto-generated")
	h.AddRaw([]byte("Message-ID: <" + j.ID + ".fax@" + host + ">\r\n"))
	h.SetDate(m.Date)
	h.SetSubject(FaxSubject(j))
	h.SetAddressList("To", to)
	h.SetAddressList("From", []*mail.Address{from})

	text := faxBody(m, loc)
	var buf bytes.Buffer
	if !attach {
		w, err := mail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "the fax mail header cannot be written")
		}
		if _, err := w.Write([]byte(text)); err != nil {
			return nil, fmt.Errorf("write fax mail: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("write fax mail: %w", err)
		}
		return buf.Bytes(), nil
	}

	// go-message's mail.CreateWriter would pick a random boundary; the one
	// set above keeps the message the same on every composition, and its
	// "=_" can never occur in quoted-printable or base64 text.
	mw, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "the fax mail header cannot be written")
	}
	var th mail.InlineHeader
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Disposition", "inline")
	tw, err := mw.CreatePart(th.Header)
	if err != nil {
		return nil, fmt.Errorf("write fax mail: %w", err)
	}
	if _, err := tw.Write([]byte(text)); err != nil {
		return nil, fmt.Errorf("write fax mail: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write fax mail: %w", err)
	}
	var ah mail.AttachmentHeader
	ah.Set("Content-Transfer-Encoding", "base64")
	ah.SetContentType(contentType(j), nil)
	ah.SetFilename(AttachmentName(j, loc))
	aw, err := mw.CreatePart(ah.Header)
	if err != nil {
		return nil, fmt.Errorf("write fax mail: %w", err)
	}
	if _, err := aw.Write(m.Document); err != nil {
		return nil, fmt.Errorf("write fax mail: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("write fax mail: %w", err)
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("write fax mail: %w", err)
	}
	return buf.Bytes(), nil
}

func contentType(j *faxbridge.Job) string {
	if j.DocumentType == "tiff" {
		return "image/tiff"
	}
	return "application/pdf"
}

func mailTo(j *faxbridge.Job) ([]*mail.Address, error) {
	if len(j.MailTo) == 0 {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the received fax has no address to go to")
	}
	out := make([]*mail.Address, 0, len(j.MailTo))
	for _, s := range j.MailTo {
		a, err := netmail.ParseAddress(s)
		if err != nil {
			return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "a route address of the received fax is not valid")
		}
		out = append(out, (*mail.Address)(a))
	}
	return out, nil
}

// faxBody says what arrived, then the details a receptionist may need.
func faxBody(m faxbridge.FaxMail, loc *time.Location) string {
	j := m.Job
	var b strings.Builder
	to := readableNumber(line(j.Destination.To))
	from := caller(j)
	if from != "an unknown caller" {
		from = readableNumber(from)
	}
	switch {
	case j.Outcome == faxbridge.OutcomeFailed:
		reason := line(j.Reason)
		if reason == "" {
			reason = "The transmission failed."
		}
		if !strings.ContainsAny(reason[len(reason)-1:], ".!?") {
			reason += "."
		}
		fmt.Fprintf(&b, "A fax from %s to %s could not be received: %s\nThe caller may send it again.\n\n", from, to, reason)
	case m.Document != nil:
		fmt.Fprintf(&b, "A fax from %s arrived for %s. The document is attached.\n\n", from, to)
	default:
		fmt.Fprintf(&b, "A fax from %s arrived for %s. It is too large to attach;\ndownload it until %s from:\n%s\n\n",
			from, to, m.LinkExpires.In(loc).Format(timeLayout), m.Link)
	}

	field := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-*s%s\n", labelWidth, label+":", value)
		}
	}
	field("From", line(j.From))
	field("Remote station ID", line(j.RemoteStationID))
	field("To", line(j.Destination.To))
	pages := j.NumPages
	if pages == 0 {
		pages = j.Pages
	}
	if pages > 0 {
		field("Pages", fmt.Sprint(pages))
	}
	if !j.ReceivedAt.IsZero() {
		field("Received", j.ReceivedAt.In(loc).Format(timeLayout))
	}
	if j.Outcome == faxbridge.OutcomeFailed {
		code, msg := line(j.ErrorCode), line(j.ErrorMessage)
		switch {
		case code != "" && msg != "":
			field("Error", code+": "+msg)
		default:
			field("Error", code+msg)
		}
	} else {
		field("Document", AttachmentName(j, loc)+fmt.Sprintf(", %d bytes", j.DocumentBytes))
		field("SHA-256", line(j.DocumentSHA256))
	}
	field("Fax SID", line(j.FaxSID))
	field("Job ID", j.ID)
	b.WriteString("\nThis message was sent automatically by the fax gateway.\n")
	return b.String()
}

// MailFax composes the mail of a received fax and hands it to the relay
// for every route address at once. Errors are as for Notify.
func (r *Relay) MailFax(ctx context.Context, m faxbridge.FaxMail) error {
	msg, err := ComposeFax(m)
	if err != nil {
		return err
	}
	from, err := r.envelopeFrom(m.From)
	if err != nil {
		return err
	}
	to, _ := mailTo(m.Job) // ComposeFax checked them
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.Address
	}
	return r.send(ctx, m.Hostname, from, rcpts, msg)
}

// MailFax writes the mail of a received fax as <job id>.eml, atomically;
// writing it again replaces it.
func (o *Outbox) MailFax(ctx context.Context, m faxbridge.FaxMail) error {
	msg, err := ComposeFax(m)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return outboxError(err)
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return outboxError(err)
	}
	if err := writeFile(o.Dir, filepath.Join(o.Dir, m.Job.ID+".eml"), msg); err != nil {
		return outboxError(err)
	}
	return nil
}

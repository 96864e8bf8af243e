package jobs

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"

	"github.com/faxbridge/faxbridge"
)

// DocumentKept reports whether a job's document is still in storage: until
// its cleanup, or for good when documents are kept.
func DocumentKept(j *faxbridge.Job) bool {
	return j.DocumentKey != "" && (j.KeepDocument || j.CleanedAt.IsZero())
}

// OpenDocument returns the job's faxed document (the merged PDF) while it
// is kept.
func (s *Service) OpenDocument(ctx context.Context, id string) (*faxbridge.Job, io.ReadCloser, error) {
	j, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !DocumentKept(j) {
		return nil, nil, faxbridge.Errorf(faxbridge.ENotFound, "the document of this fax is no longer kept")
	}
	rc, err := s.blobs.Open(ctx, j.DocumentKey)
	if faxbridge.ErrorCode(err) == faxbridge.ENotFound {
		return nil, nil, faxbridge.WrapError(faxbridge.ENotFound, err, "the document of this fax is no longer kept")
	}
	if err != nil {
		return nil, nil, err
	}
	return j, rc, nil
}

// Resend faxes a job's document again as a new job, to the same
// destination or to rcpt when it is given (already checked against the
// gateway's rules by the caller, as SMTP checks RCPT TO). by names who asked
// (Job.Sender of the new job, for quotas and who may see it). The new job
// gets its own copy of the document, so each job's cleanup stays its own.
func (s *Service) Resend(ctx context.Context, id string, rcpt *faxbridge.Recipient, by string) (*faxbridge.Job, error) {
	// A received fax's number is our own: it is refused before its
	// document is looked for, so the answer says why whatever was kept.
	if j, err := s.store.Get(ctx, id); err != nil {
		return nil, err
	} else if j.Dir() != faxbridge.Outbound {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "only faxes sent by the gateway can be sent again")
	}
	old, rc, err := s.OpenDocument(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if err := s.checkPages(ctx, by, old.Pages, 1); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	j := &faxbridge.Job{
		ID:             faxbridge.NewJobID(now),
		State:          faxbridge.StateQueued,
		CreatedAt:      now,
		UpdatedAt:      now,
		MailFrom:       old.MailFrom,
		ReportTo:       old.ReportTo,
		MessageID:      old.MessageID,
		Subject:        old.Subject,
		RemoteAddr:     old.RemoteAddr,
		Sender:         by,
		Destination:    old.Destination,
		From:           old.From,
		Quality:        old.Quality,
		DocumentBytes:  old.DocumentBytes,
		DocumentSHA256: old.DocumentSHA256,
		Pages:          old.Pages,
		Documents:      old.Documents,
		KeepDocument:   s.cfg.KeepDocument,
		NextAt:         now,
	}
	if rcpt != nil {
		j.Destination = rcpt.Destination
		j.Quality = firstNonEmpty(rcpt.Quality, old.Quality)
	}
	if p, ok := s.cfg.Policies[by]; ok && p.FaxFrom != "" {
		j.From = p.FaxFrom
	}
	j.DocumentKey = j.ID + ".pdf"
	if err := s.blobs.Put(ctx, j.DocumentKey, rc, old.DocumentBytes, "application/pdf"); err != nil {
		return nil, fmt.Errorf("copy document of %s: %w", old.ID, err)
	}
	if err := s.commit(ctx, by, []*faxbridge.Job{j}); err != nil {
		return nil, err
	}
	s.log.Info("job resent", "job_id", j.ID, "resend_of", old.ID, "to", s.number(j.Destination.To), "pages", j.Pages, "sender", by)
	s.Wake()
	return j, nil
}

// commit stores new jobs under the sender's quotas, removing their
// uploads if they cannot be stored.
func (s *Service) commit(ctx context.Context, sender string, jobs []*faxbridge.Job) error {
	var err error
	if adm, ok := s.admission(sender, ""); ok {
		err = admissionError(sender, s.store.CreateAdmitted(ctx, jobs, adm))
	} else {
		err = s.store.Create(ctx, jobs)
	}
	if err != nil {
		s.discard(jobs)
	}
	return err
}

// Upload is one file sent without email (from the console or the shell).
type Upload struct {
	Name string
	Data []byte
}

// SendFiles faxes files without email: they travel the same path as a
// message (the same document checks, limits, quotas and job), built into
// a message here so that no rule is skipped. A non-empty cover text becomes
// a cover page before the documents.
func (s *Service) SendFiles(ctx context.Context, env faxbridge.Envelope, subject, cover string, files []Upload) ([]*faxbridge.Job, error) {
	msg, err := composeUpload(env.ReportTo, subject, cover, files)
	if err != nil {
		return nil, err
	}
	return s.accept(ctx, env, bytes.NewReader(msg), nil, strings.TrimSpace(cover) != "")
}

// composeUpload writes files and cover text as a MIME message.
func composeUpload(from, subject, cover string, files []Upload) ([]byte, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	if from != "" {
		hdr("From", from)
	}
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/mixed; boundary="`+w.Boundary()+`"`)
	b.WriteString("\r\n")
	tp, err := w.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return nil, err
	}
	writeBase64(tp, []byte(cover))
	for _, f := range files {
		name := mime.QEncoding.Encode("utf-8", f.Name)
		fp, err := w.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {"application/octet-stream"},
			"Content-Disposition":       {fmt.Sprintf(`attachment; filename="%s"`, strings.ReplaceAll(name, `"`, ""))},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return nil, err
		}
		writeBase64(fp, f.Data)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeBase64 writes data in base64 lines of 76 characters (RFC 2045).
func writeBase64(w io.Writer, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		io.WriteString(w, enc[:76]+"\r\n")
		enc = enc[76:]
	}
	io.WriteString(w, enc+"\r\n")
}

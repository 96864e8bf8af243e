package jobs

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/document"
	"github.com/faxbridge/faxbridge/mailparse"
)

// stickyReader remembers the first read error, so that an error of the SMTP
// data stream (message too large, connection lost) is never mistaken for the
// end of a leniently parsed message.
type stickyReader struct {
	r   io.Reader
	err error
}

func (s *stickyReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// Accept reads a message, builds the document to fax, stores it and commits
// one job per recipient. It returns nil only when every job is durably
// committed: the caller may then say 250. Any error leaves nothing behind
// that a worker would act on.
func (s *Service) Accept(ctx context.Context, env faxbridge.Envelope, r io.Reader) ([]*faxbridge.Job, error) {
	return s.AcceptVerified(ctx, env, r, nil)
}

// AcceptVerified is Accept with a gate: once the whole message has been
// read, and before anything is built or stored, gate decides whether the
// message may be faxed at all (the MX listener's proof of the sender). Its
// error refuses the message; its Proof says who the proven sender is, for
// quotas, and which message this is, so that a replay is refused.
func (s *Service) AcceptVerified(ctx context.Context, env faxbridge.Envelope, r io.Reader, gate func() (Proof, error)) ([]*faxbridge.Job, error) {
	return s.accept(ctx, env, r, gate, false)
}

// Proof is what a gate proved about a message from the internet.
type Proof struct {
	// Sender is the Job.Sender of the proven sender ("mx:" and its From
	// address): MXPolicy's quotas count per Sender.
	Sender string
	// MessageKey identifies the message (its signed Message-ID): a message
	// with a key faxed within ReplayWindow is refused.
	MessageKey string
}

// accept is AcceptVerified; cover puts a cover page before the documents
// whatever the configured cover_page (the console's cover text).
func (s *Service) accept(ctx context.Context, env faxbridge.Envelope, r io.Reader, gate func() (Proof, error), cover bool) ([]*faxbridge.Job, error) {
	if len(env.Recipients) == 0 {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "no valid recipients")
	}
	if err := os.MkdirAll(s.cfg.SpoolDir, 0o700); err != nil {
		return nil, faxbridge.WrapError(faxbridge.EUnavailable, err, "the spool directory is unavailable")
	}
	sr := &stickyReader{r: r}
	msg, perr := mailparse.Parse(sr, mailparse.Options{SpoolDir: s.cfg.SpoolDir})
	// Read to the end so that a size limit or a broken connection surfaces
	// as the stream's error, whatever the parser made of the bytes before it.
	if _, err := io.Copy(io.Discard, sr); err != nil {
		if msg != nil {
			msg.Remove()
		}
		return nil, err
	}
	if sr.err != nil && sr.err != io.EOF {
		if msg != nil {
			msg.Remove()
		}
		return nil, sr.err
	}
	var proof Proof
	if gate != nil {
		var err error
		if proof, err = gate(); err != nil {
			if msg != nil {
				msg.Remove()
			}
			return nil, err
		}
		env.Sender = proof.Sender
	}
	if perr != nil {
		return nil, perr
	}
	defer msg.Remove()

	if msg.IsReport {
		return nil, faxbridge.Errorf(faxbridge.EBadContent, "delivery reports are not faxed")
	}

	if err := unreadableDocument(msg); err != nil {
		return nil, err
	}
	inputs, skipped := s.pickDocuments(msg)
	opts := document.Options{TempDir: s.cfg.SpoolDir, MaxPages: s.cfg.MaxPages, MaxBytes: s.cfg.MaxDocBytes, Paper: s.cfg.Paper}
	opts.MaxMessagePixels = s.cfg.MaxMessagePixels
	text := strings.TrimSpace(msg.Text)
	// A text-only message becomes a cover page; one whose attachments
	// cannot be faxed does not: a page saying "see attached" with nothing
	// attached is worse than a refusal that names the attachment.
	if s.cfg.CoverPage == "always" || cover || (s.cfg.CoverPage == "auto" && len(inputs) == 0 && text != "" && !hasAttachments(msg)) {
		opts.Cover = &document.CoverInfo{
			From:    firstNonEmpty(msg.From, env.MailFrom),
			To:      recipientsText(env.Recipients),
			Date:    s.now(),
			Subject: msg.Subject,
			Body:    msg.Text,
		}
	}
	// The paper shapes only pages faxbridge draws (a cover, images): PDFs
	// pass as they are, so a PDF-only fax skips the number's region lookup
	// (libphonenumber's patterns, a few per cent of accepting one).
	if s.cfg.PaperFor != nil && strings.HasPrefix(env.Recipients[0].Destination.To, "+") && (opts.Cover != nil || !allPDF(inputs)) {
		opts.Paper = s.cfg.PaperFor(env.Recipients[0].Destination.To)
	}
	if len(inputs) == 0 && opts.Cover == nil {
		if text == "" && len(msg.Parts) == 0 {
			return nil, faxbridge.Errorf(faxbridge.EBadContent, "nothing to fax: the message has no document and no text; attach the document as PDF, TIFF, JPEG or PNG")
		}
		return nil, faxbridge.Errorf(faxbridge.EBadContent, "nothing to fax: no PDF, TIFF, JPEG or PNG document (%s); attach the document in one of those forms", describeFound(msg))
	}
	select {
	case s.builds <- struct{}{}:
	case <-ctx.Done():
		return nil, faxbridge.WrapError(faxbridge.EUnavailable, ctx.Err(), "the server is busy")
	}
	doc, err := document.Build(ctx, inputs, opts)
	<-s.builds
	if err != nil {
		return nil, err
	}
	defer os.Remove(doc.Path) // Build's result is always a file of our own
	if doc.CoverPages > 0 {
		cover := faxbridge.DocumentInfo{Name: "cover page (subject and message text)", Type: "text", Pages: doc.CoverPages}
		doc.Docs = append([]faxbridge.DocumentInfo{cover}, doc.Docs...)
	}

	if err := s.checkPages(ctx, env.Sender, doc.Pages, len(env.Recipients)); err != nil {
		return nil, err
	}
	from := s.cfg.From
	if p, ok := s.cfg.Policies[env.Sender]; ok && p.FaxFrom != "" {
		from = p.FaxFrom
	}
	quality := subjectQuality(msg.Subject)

	reportTo := reportAddress(env, msg)

	now := s.now().UTC()
	jobs := make([]*faxbridge.Job, 0, len(env.Recipients))
	for _, rcpt := range env.Recipients {
		// The address extension wins over a subject tag, which wins over
		// the configured default.
		quality := firstNonEmpty(rcpt.Quality, quality, s.cfg.Quality)
		j := &faxbridge.Job{
			ID:             faxbridge.NewJobID(now),
			State:          faxbridge.StateQueued,
			CreatedAt:      now,
			UpdatedAt:      now,
			MailFrom:       env.MailFrom,
			ReportTo:       reportTo,
			MessageID:      msg.MessageID,
			Subject:        msg.Subject,
			RemoteAddr:     env.RemoteAddr,
			Sender:         env.Sender,
			Destination:    rcpt.Destination,
			From:           from,
			Quality:        quality,
			DocumentBytes:  doc.Bytes,
			DocumentSHA256: doc.SHA256,
			Pages:          doc.Pages,
			Documents:      doc.Docs,
			Skipped:        skipped,
			KeepDocument:   s.cfg.KeepDocument,
			NextAt:         now,
		}
		// Each job gets its own object under a random key, so that a
		// document's URL reveals nothing and its cleanup depends on no
		// other job.
		j.DocumentKey = j.ID + ".pdf"
		jobs = append(jobs, j)
	}

	for _, j := range jobs {
		if err := s.upload(ctx, j.DocumentKey, doc.Path, doc.Bytes); err != nil {
			s.discard(jobs)
			return nil, err
		}
	}
	// Jobs this process's worker has room for go to it straight from here
	// (handoff.go).
	handed := make([]bool, len(jobs))
	for i, j := range jobs {
		if handed[i] = s.reserveHandoff(j.ID); handed[i] {
			j.NextAt = s.handoffDue()
		}
	}
	s.crash("before-commit")
	if adm, ok := s.admission(env.Sender, proof.MessageKey); ok {
		err = admissionError(env.Sender, s.store.CreateAdmitted(ctx, jobs, adm))
	} else {
		err = s.store.Create(ctx, jobs)
	}
	for i, j := range jobs {
		if handed[i] {
			s.handOff(j, err == nil)
		}
	}
	if err != nil {
		s.discard(jobs)
		if c := faxbridge.ErrorCode(err); c == faxbridge.ELimit || c == faxbridge.EDenied {
			return nil, err
		}
		if c := faxbridge.ErrorCode(err); c != faxbridge.EUnavailable {
			err = faxbridge.WrapError(faxbridge.EUnavailable, err, "the job could not be stored")
		}
		return nil, err
	}
	for _, j := range jobs {
		s.log.Info("job accepted", "job_id", j.ID, "to", s.number(j.Destination.To), "pages", j.Pages,
			"document_bytes", j.DocumentBytes, "document_sha256", j.DocumentSHA256, "remote_addr", env.RemoteAddr, "sender", env.Sender)
	}
	s.crash("after-commit")
	if slices.Contains(handed, false) {
		s.Wake() // a job written due now, for a claim
	}
	return jobs, nil
}

// allPDF says whether every input is a PDF by its bytes.
func allPDF(inputs []document.Input) bool {
	for _, in := range inputs {
		if in.Kind != string(mailparse.KindPDF) {
			return false
		}
	}
	return true
}

func (s *Service) upload(ctx context.Context, key, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return faxbridge.WrapError(faxbridge.EUnavailable, err, "the document could not be read back from the spool")
	}
	defer f.Close()
	s.crash("during-upload")
	if err := s.blobs.Put(ctx, key, f, size, "application/pdf"); err != nil {
		if faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
			err = faxbridge.WrapError(faxbridge.EUnavailable, err, "document storage is unavailable")
		}
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// discard removes uploads of a transaction that will not be committed. It
// is best effort: an object left behind is never referenced by a job.
func (s *Service) discard(jobs []*faxbridge.Job) {
	for _, j := range jobs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.blobs.Delete(ctx, j.DocumentKey); err != nil {
			s.log.Warn("could not remove upload of refused message", "key", j.DocumentKey, "err", err)
		}
		cancel()
	}
}

// pickDocuments chooses what to fax: every part whose bytes are a PDF,
// TIFF, JPEG or PNG, in message order, less signature logos next to a real
// document and repeats of the same file (a forwarded message often carries
// the attachment again). Everything else is listed with the reason it was
// not faxed.
func (s *Service) pickDocuments(msg *mailparse.Message) ([]document.Input, []string) {
	var cands []document.Candidate
	var names []string
	var skipped []string
	seen := map[string]bool{}
	for _, p := range msg.Parts {
		name := partName(p)
		switch {
		case p.Kind == mailparse.KindOther:
			skipped = append(skipped, fmt.Sprintf("%s: not a document that can be faxed (send PDF, TIFF, JPEG or PNG)", name))
		case seen[p.SHA256]:
			skipped = append(skipped, fmt.Sprintf("%s: the same document is already in the fax", name))
		default:
			seen[p.SHA256] = true
			cands = append(cands, document.Candidate{
				Input:     document.Input{Name: p.Name, Kind: string(p.Kind), Path: p.Path, Size: p.Size, SHA256: p.SHA256},
				Inline:    p.Disposition == "inline",
				InRelated: p.InRelated,
			})
			names = append(names, name)
		}
	}
	var in []document.Input
	for i, why := range document.SkipLogos(cands, s.cfg.LogoPixels) {
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("%s: %s", names[i], why))
			continue
		}
		in = append(in, cands[i].Input)
	}
	return in, skipped
}

// documentTypes are declared types and name endings that say "this is a
// document": a part that claims so but is not one is damaged, and refusing
// it by name beats faxing the rest without it.
var documentTypes = map[string]string{
	"application/pdf": "PDF", "image/tiff": "TIFF", "image/tif": "TIFF", "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/png": "PNG",
	".pdf": "PDF", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG",
}

// unreadableDocument refuses a message with an attachment that is declared
// a document but whose bytes are not one (or are empty). Images that only
// decorate an HTML body are not documents anyone means to fax.
func unreadableDocument(msg *mailparse.Message) error {
	for _, p := range msg.Parts {
		if p.Kind != mailparse.KindOther || p.InRelated {
			continue
		}
		what := documentTypes[p.DeclaredType]
		if dot := strings.LastIndexByte(p.Name, '.'); what == "" && dot >= 0 {
			what = documentTypes[strings.ToLower(p.Name[dot:])]
		}
		if what == "" {
			continue
		}
		name := p.Name
		if name == "" {
			name = "the " + p.DeclaredType + " attachment"
		} else {
			name = fmt.Sprintf("attachment %q", name)
		}
		if p.Size == 0 {
			return faxbridge.Errorf(faxbridge.EBadContent, "%s is empty; attach the document again", name)
		}
		return faxbridge.Errorf(faxbridge.EBadContent, "%s is not a readable %s (damaged, or another kind of file); export it again and resend", name, what)
	}
	return nil
}

// hasAttachments reports whether the message carries parts a person
// attached, as opposed to pictures in its HTML body.
func hasAttachments(msg *mailparse.Message) bool {
	for _, p := range msg.Parts {
		if !p.InRelated && (p.Name != "" || p.Disposition == "attachment") {
			return true
		}
	}
	return false
}

// subjectQuality reads a quality tag such as "[standard]" from a subject.
func subjectQuality(subject string) string {
	l := strings.ToLower(subject)
	for _, q := range []string{"standard", "fine", "superfine"} {
		if strings.Contains(l, "["+q+"]") {
			return q
		}
	}
	return ""
}

func recipientsText(rs []faxbridge.Recipient) string {
	var out []string
	for _, r := range rs {
		if r.Destination.Contact != "" {
			out = append(out, fmt.Sprintf("%s (%s)", r.Destination.Contact, r.Destination.To))
		} else {
			out = append(out, r.Destination.To)
		}
	}
	return strings.Join(out, ", ")
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func partName(p mailparse.Part) string {
	if p.Name != "" {
		return fmt.Sprintf("%q (%s)", p.Name, p.DeclaredType)
	}
	return p.DeclaredType
}

func describeFound(msg *mailparse.Message) string {
	if len(msg.Parts) == 0 {
		if strings.TrimSpace(msg.Text) != "" {
			return "found only text"
		}
		return "found nothing attached"
	}
	var names []string
	for i, p := range msg.Parts {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(msg.Parts)-5))
			break
		}
		names = append(names, partName(p))
	}
	return "found " + strings.Join(names, ", ")
}

package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Faxes in take the mirror path of faxes out, through the same store and
// the same worker, each step one read, one outside call and one versioned
// write:
//
//	ReceiveFax (signed action callback or poll find): the job is committed,
//	  keyed by the FaxSid, so repeats are no-ops      → StateQueued
//	fetch:   download the provider's media into our storage → StateDone
//	mail:    send it to the route's addresses (ReportState pending → sent)
//	release: delete the fax and its media at the provider
//	cleanup: delete our copy (unless keep_documents, or while a mailed
//	         link to it is still valid)
//
// A failed reception is committed done with a notice due. Nothing is
// deleted at the provider before the mail was accepted, so a relay that is
// down, a crash or a refused mail never loses a fax.

// InboundRoute sends faxes to Number ("*" for any) to MailTo.
type InboundRoute struct {
	Number string
	MailTo []string
}

// InboundConfig is the service's policy for received faxes.
type InboundConfig struct {
	Inbox  faxbridge.FaxInbox
	Mailer faxbridge.FaxMailer
	Routes []InboundRoute
	// UnroutedMailTo takes faxes to numbers no route names; empty refuses them.
	UnroutedMailTo []string
	// PollEvery is how often the provider is asked for received faxes no
	// job knows (lost callbacks); 0 turns polling off.
	PollEvery time.Duration
	// MaxAttachmentBytes: a larger document is mailed as a signed link
	// valid for LinkTTL (default 20 MB and 7 days).
	MaxAttachmentBytes int64
	LinkTTL            time.Duration
	// MaxDocumentBytes bounds a download (default 64 MB), DownloadTimeout
	// its time (default 5 minutes).
	MaxDocumentBytes int64
	DownloadTimeout  time.Duration
	// FailureNotices mails the route when a reception fails.
	FailureNotices bool
}

func (c *InboundConfig) defaults() {
	if c.MaxAttachmentBytes <= 0 {
		c.MaxAttachmentBytes = 20 << 20
	}
	if c.LinkTTL <= 0 {
		c.LinkTTL = 7 * 24 * time.Hour
	}
	if c.MaxDocumentBytes <= 0 {
		c.MaxDocumentBytes = 64 << 20
	}
	if c.DownloadTimeout <= 0 {
		c.DownloadTimeout = 5 * time.Minute
	}
}

// pollLookback is how far back a poll looks: received faxes are deleted at
// the provider once mailed, so what the list holds stays small.
const pollLookback = 48 * time.Hour

// fetchGiveUp is how many times a media URL that answers 404 is tried: the
// provider may announce a fax a moment before its media is ready.
const fetchGiveUp = 5

// Route returns the addresses a fax to our number `to` goes to, or nil
// when it is to be refused.
func (s *Service) Route(to string) []string {
	in := s.cfg.Inbound
	for _, r := range in.Routes {
		if r.Number == to {
			return r.MailTo
		}
	}
	for _, r := range in.Routes {
		if r.Number == "*" {
			return r.MailTo
		}
	}
	return in.UnroutedMailTo
}

// InboundID is the job ID of the received fax sid: the same fax always
// gets the same job, so a repeated callback or a poll find of a known fax
// cannot make a second one.
func InboundID(sid string) string {
	if plainSID.MatchString(sid) {
		return "in-" + sid
	}
	sum := sha256.Sum256([]byte(sid))
	return "in-" + hex.EncodeToString(sum[:16])
}

var plainSID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,99}$`)

// ReceiveFax commits the inbound job of a fax the provider reports as
// received or failed (a verified action callback or a poll find). A fax
// some job already knows, or one still being received, changes nothing.
// The caller may answer the provider once it returns nil.
func (s *Service) ReceiveFax(ctx context.Context, st faxbridge.FaxStatus) error {
	if st.Status != faxbridge.FaxReceived && st.Status != faxbridge.OutcomeFailed {
		return nil
	}
	log := s.log.With("fax_sid", st.SID, "to", s.number(st.To))
	id := InboundID(st.SID)
	if _, err := s.store.Get(ctx, id); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		return err // nil: known already
	}
	mailTo := s.Route(st.To)
	if len(mailTo) == 0 {
		// Our webhook refused the fax (or the route was removed since):
		// the provider keeps it, and nobody here can receive it.
		log.Warn("received fax to a number without a route; left at the provider")
		return nil
	}
	now := s.now().UTC()
	received := st.CreatedAt
	if received.IsZero() || received.After(now) {
		received = now
	}
	j := &faxbridge.Job{
		ID:              id,
		Direction:       faxbridge.Inbound,
		State:           faxbridge.StateQueued,
		CreatedAt:       now,
		UpdatedAt:       now,
		From:            st.From,
		Destination:     faxbridge.Destination{To: st.To},
		FaxSID:          st.SID,
		FaxStatus:       st.Status,
		MediaURL:        st.MediaURL,
		NumPages:        st.Pages,
		RemoteStationID: st.RemoteStationID,
		ErrorCode:       st.ErrorCode,
		ErrorMessage:    st.ErrorMessage,
		MailTo:          mailTo,
		ReceivedAt:      received,
		KeepDocument:    s.cfg.KeepDocument,
		NextAt:          now,
	}
	if st.Status == faxbridge.OutcomeFailed {
		reason := st.Reason
		if reason == "" {
			reason = "The transmission failed."
		}
		s.finishInbound(j, faxbridge.OutcomeFailed, reason)
		if !s.cfg.Inbound.FailureNotices {
			j.ReportState = faxbridge.ReportSuppressed
		}
	}
	err := s.store.Create(ctx, []*faxbridge.Job{j})
	if faxbridge.ErrorCode(err) == faxbridge.EConflict {
		return nil // a concurrent callback or poll committed it first
	}
	if err != nil {
		return err
	}
	log.Info("fax received", "job_id", id, "from", s.number(st.From), "status", st.Status, "pages", st.Pages)
	s.event("inbound", st.Status)
	s.crash("after-inbound-commit")
	s.Wake()
	return nil
}

// finishInbound gives a received fax its outcome and makes its mail due.
func (s *Service) finishInbound(j *faxbridge.Job, outcome, reason string) {
	now := s.now().UTC()
	j.State = faxbridge.StateDone
	j.Outcome = outcome
	j.Reason = reason
	j.FinishedAt = now
	j.ReportState = faxbridge.ReportPending
	j.ReportDeadline = now.Add(s.cfg.ReportRetryFor)
	j.NextAt = now
}

// inboundStep runs the next step of an inbound job.
func (s *Service) inboundStep(ctx context.Context, j *faxbridge.Job) error {
	switch {
	case j.State == faxbridge.StateQueued:
		return s.fetch(ctx, j)
	case j.State != faxbridge.StateDone:
		return fmt.Errorf("inbound job in state %q", j.State)
	case j.ReportState == faxbridge.ReportPending:
		return s.mailFax(ctx, j)
	case j.ProviderDeletedAt.IsZero() && (j.ReportState == faxbridge.ReportSent || j.ReportState == faxbridge.ReportSuppressed):
		return s.releaseFax(ctx, j)
	case j.CleanedAt.IsZero():
		return s.cleanupFax(ctx, j)
	}
	j.NextAt = time.Time{}
	return s.update(ctx, j)
}

// fetch copies the provider's document into our storage.
func (s *Service) fetch(ctx context.Context, j *faxbridge.Job) error {
	in := s.cfg.Inbound
	log := s.log.With("job_id", j.ID, "fax_sid", j.FaxSID)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.DownloadTimeout)
	defer cancel()
	key := j.ID + ".pdf"
	var doc *sniffer
	rc, err := in.Inbox.FetchMedia(cctx, j.MediaURL, in.MaxDocumentBytes)
	if err == nil {
		doc = &sniffer{r: rc, h: sha256.New()}
		err = s.blobs.Put(cctx, key, doc, -1, "application/pdf")
		rc.Close()
		if doc.err != nil {
			// The download failed under the upload: its error says why.
			err = doc.err
		}
	}
	if err != nil {
		j.FetchTries++
		j.LastError = faxbridge.ErrorMessage(err)
		code := faxbridge.ErrorCode(err)
		switch {
		case code == faxbridge.ETooLarge, code == faxbridge.EInvalid,
			code == faxbridge.ENotFound && j.FetchTries >= fetchGiveUp:
			// The document cannot be had; it stays at the provider for
			// an operator, and the route is told.
			log.Error("received fax could not be fetched; it stays at the provider", "err", err, "tries", j.FetchTries)
			s.event("inbound", "failed")
			s.finishInbound(j, faxbridge.OutcomeFailed, "The fax arrived, but its document could not be fetched from the fax service: "+faxbridge.ErrorMessage(err))
			j.KeepDocument = true
			j.ProviderDeletedAt = time.Time{}
			if !in.FailureNotices {
				j.ReportState = faxbridge.ReportSuppressed
			}
			return s.update(ctx, j)
		}
		log.Warn("fetching a received fax failed; will retry", "err", err, "tries", j.FetchTries)
		j.NextAt = s.now().Add(backoff(j.FetchTries, 5*time.Second, 30*time.Minute))
		return s.update(ctx, j)
	}
	j.DocumentKey = key
	j.DocumentBytes = doc.n
	j.DocumentSHA256 = hex.EncodeToString(doc.h.Sum(nil))
	j.DocumentType = doc.kind()
	j.Pages = j.NumPages
	j.LastError = ""
	log.Info("received fax stored", "bytes", doc.n, "sha256", j.DocumentSHA256)
	s.finishInbound(j, faxbridge.OutcomeReceived, "")
	return s.update(ctx, j)
}

// sniffer counts, hashes and types what is read through it, and keeps the
// first error of the underlying reader.
type sniffer struct {
	r io.Reader
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n    int64
	head []byte
	err  error
}

func (d *sniffer) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	if len(d.head) < 8 {
		d.head = append(d.head, p[:min(n, 8-len(d.head))]...)
	}
	if err != nil && !errors.Is(err, io.EOF) && d.err == nil {
		d.err = err
	}
	return n, err
}

func (d *sniffer) kind() string {
	if bytes.HasPrefix(d.head, []byte("II*\x00")) || bytes.HasPrefix(d.head, []byte("MM\x00*")) {
		return "tiff"
	}
	return "pdf"
}

// mailFax sends the fax (or the notice of a failed reception) to its route.
func (s *Service) mailFax(ctx context.Context, j *faxbridge.Job) error {
	in := s.cfg.Inbound
	now := s.now()
	log := s.log.With("job_id", j.ID, "fax_sid", j.FaxSID)
	m := faxbridge.FaxMail{Job: j, From: s.cfg.ReportFrom, Hostname: s.cfg.Hostname, Date: now}
	if j.Outcome == faxbridge.OutcomeReceived {
		cctx, cancel := s.ctxFor(ctx)
		var err error
		if j.DocumentBytes <= in.MaxAttachmentBytes {
			m.Document, err = s.readDocument(cctx, j.DocumentKey, in.MaxAttachmentBytes)
		} else {
			m.LinkExpires = now.Add(in.LinkTTL)
			m.Link, err = s.blobs.URL(cctx, j.DocumentKey, in.LinkTTL)
		}
		cancel()
		if faxbridge.ErrorCode(err) == faxbridge.ENotFound {
			// Our copy is gone (an operator, a lost disk): the provider
			// still has the fax, so fetch it again.
			log.Warn("the stored copy of a received fax is missing; fetching it again", "err", err)
			j.State, j.ReportState, j.Outcome = faxbridge.StateQueued, faxbridge.ReportNone, ""
			j.NextAt = now
			return s.update(ctx, j)
		}
		if err != nil {
			j.ReportTries++
			j.LastError = faxbridge.ErrorMessage(err)
			log.Warn("reading a received fax failed; will retry", "err", err)
			j.NextAt = now.Add(backoff(j.ReportTries, s.cfg.FollowUpRetry, 30*time.Minute))
			return s.update(ctx, j)
		}
	}

	s.crash("inbound-before-mail")
	cctx, cancel := s.ctxFor(ctx)
	err := in.Mailer.MailFax(cctx, m)
	cancel()
	switch {
	case err == nil:
		j.ReportState = faxbridge.ReportSent
		j.ReportSentAt = now.UTC()
		j.LastError = ""
		if m.Link != "" {
			j.LinkExpiresAt = m.LinkExpires.UTC()
		}
		log.Info("received fax mailed", "outcome", j.Outcome, "recipients", len(j.MailTo), "link", m.Link != "")
		if j.Outcome == faxbridge.OutcomeReceived {
			s.event("inbound", "mailed")
		}
	case faxbridge.Temporary(err) || faxbridge.ErrorCode(err) == faxbridge.EUnauthorized:
		// A received fax has no sender to tell and no other way out: it
		// is retried for as long as it takes, and stays at the provider.
		j.ReportTries++
		j.LastError = faxbridge.ErrorMessage(err)
		if now.After(j.ReportDeadline) {
			log.Error("received fax still not mailed; the relay keeps refusing it", "err", err, "tries", j.ReportTries)
		} else {
			log.Warn("received fax not mailed yet; will retry", "err", err, "tries", j.ReportTries)
		}
		j.NextAt = now.Add(backoff(j.ReportTries, s.cfg.FollowUpRetry, 30*time.Minute))
		return s.update(ctx, j)
	default:
		// Refused for good: keep the fax here and at the provider for an
		// operator to deliver by hand.
		j.ReportState = faxbridge.ReportAbandoned
		j.KeepDocument = true
		j.LastError = faxbridge.ErrorMessage(err)
		log.Error("the relay refused the mail of a received fax; it is kept here and at the provider", "err", err)
		s.event("inbound", "failed")
	}
	j.NextAt = now
	return s.update(ctx, j)
}

// readDocument reads our copy of a document of at most limit bytes.
func (s *Service) readDocument(ctx context.Context, key string, limit int64) ([]byte, error) {
	rc, err := s.blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EUnavailable, err, "document storage is unavailable")
	}
	if int64(len(b)) > limit {
		return nil, faxbridge.Errorf(faxbridge.EInternal, "the stored document grew past its recorded size")
	}
	return b, nil
}

// releaseFax deletes the fax and its media at the provider, once it was
// mailed: nothing is left there.
func (s *Service) releaseFax(ctx context.Context, j *faxbridge.Job) error {
	now := s.now()
	cctx, cancel := s.ctxFor(ctx)
	err := s.cfg.Inbound.Inbox.DeleteReceived(cctx, j.FaxSID, j.MediaURL)
	cancel()
	if err != nil {
		j.ProviderTries++
		j.LastError = faxbridge.ErrorMessage(err)
		s.log.Warn("deleting a received fax at the provider failed; will retry", "job_id", j.ID, "fax_sid", j.FaxSID, "err", err)
		j.NextAt = now.Add(backoff(j.ProviderTries, s.cfg.FollowUpRetry, time.Hour))
		return s.update(ctx, j)
	}
	j.ProviderDeletedAt = now.UTC()
	j.LastError = ""
	s.log.Info("received fax deleted at the provider", "job_id", j.ID, "fax_sid", j.FaxSID)
	j.NextAt = now
	return s.update(ctx, j)
}

// cleanupFax deletes our copy of the document, unless it is kept or a
// mailed link still points at it.
func (s *Service) cleanupFax(ctx context.Context, j *faxbridge.Job) error {
	now := s.now()
	if j.KeepDocument || j.DocumentKey == "" {
		j.CleanedAt = now.UTC()
		j.NextAt = time.Time{}
		return s.update(ctx, j)
	}
	if now.Before(j.LinkExpiresAt) {
		j.NextAt = j.LinkExpiresAt
		return s.update(ctx, j)
	}
	cctx, cancel := s.ctxFor(ctx)
	err := s.blobs.Delete(cctx, j.DocumentKey)
	cancel()
	if err != nil {
		j.CleanupTries++
		s.log.Warn("document cleanup failed; will retry", "job_id", j.ID, "err", err, "tries", j.CleanupTries)
		j.NextAt = now.Add(backoff(j.CleanupTries, s.cfg.FollowUpRetry, time.Hour))
		return s.update(ctx, j)
	}
	j.CleanedAt = now.UTC()
	j.NextAt = time.Time{}
	return s.update(ctx, j)
}

// inboundLoop polls the provider for received faxes whose action callback
// was lost.
func (s *Service) inboundLoop(ctx context.Context) {
	in := s.cfg.Inbound
	t := time.NewTimer(in.PollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.PollInbound(ctx); err != nil {
			s.log.Warn("polling for received faxes failed; will retry", "err", err)
		} else if n > 0 {
			s.log.Info("poll found received faxes whose callback was lost", "count", n)
		}
		t.Reset(in.PollEvery)
	}
}

// polling reports whether the worker polls for received faxes.
func (s *Service) polling() bool {
	return s.cfg.Inbound.PollEvery > 0 && s.cfg.Inbound.Inbox != nil
}

// PollInbound lists recent received faxes on our routed numbers and
// commits a job for each one no job knows. It returns how many it took.
func (s *Service) PollInbound(ctx context.Context) (int, error) {
	in := s.cfg.Inbound
	var numbers []string
	all := len(in.UnroutedMailTo) > 0
	for _, r := range in.Routes {
		all = all || r.Number == "*"
		numbers = append(numbers, r.Number)
	}
	if all {
		numbers = []string{""}
	}
	since := s.now().Add(-pollLookback)
	taken := 0
	for _, to := range numbers {
		cctx, cancel := s.ctxFor(ctx)
		list, err := in.Inbox.ListReceived(cctx, to, since)
		cancel()
		if err != nil {
			return taken, err
		}
		for _, st := range list {
			if st.Status != faxbridge.FaxReceived && st.Status != faxbridge.OutcomeFailed {
				continue
			}
			if _, err := s.store.Get(ctx, InboundID(st.SID)); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
				if err != nil {
					return taken, err
				}
				continue
			}
			if st.Status == faxbridge.OutcomeFailed && st.Reason == "" {
				st.Reason = st.ErrorMessage
			}
			if err := s.ReceiveFax(ctx, st); err != nil {
				return taken, err
			}
			taken++
		}
	}
	return taken, nil
}

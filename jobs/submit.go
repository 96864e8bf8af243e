package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faxbridge/faxbridge"
)

// The submission of a fax is at most once. Its rules, against a provider
// that may finish a create after the client gave up and whose listings may
// lag behind its creates:
//
//   - The intent (state submitting, a new attempt with its own callback token
//     and media URL) is committed before the provider is called.
//   - A submission whose answer was lost is never repeated on one look at
//     the provider: it is listed first reconcile_after after the attempt and
//     again another reconcile_after later. Only two empty listings that far
//     apart send it again.
//   - A fax SID the job already recorded (an earlier attempt's, an extra) is
//     never adopted as the current submission; a callback is adopted only
//     when its URL carries the current attempt's token.
//   - Every other fax seen for the job is recorded as an extra fax, logged
//     at ERROR, counted and named in the report.

// submit sends a queued job to the provider.
func (s *Service) submit(ctx context.Context, j *faxbridge.Job) error {
	now := s.now().UTC()
	if j.SendErrors > 0 && now.Sub(j.CreatedAt) > s.cfg.GiveUpAfter {
		s.finish(j, faxbridge.OutcomeFailed, fmt.Sprintf("The fax service could not be used for %s, so the fax was not sent. %s",
			roundDuration(now.Sub(j.CreatedAt)), j.LastError))
		return s.update(ctx, j)
	}
	if later, err := s.paceCreate(ctx, j); later || err != nil {
		return err
	}
	now = s.now().UTC()
	// Each attempt gets a media URL of its own, valid for every retry the
	// provider makes within the fax's TTL: a listing that shows the media
	// URL then tells this attempt's fax from an earlier one's.
	need := s.cfg.FaxTTL + s.cfg.SendTimeout + time.Hour
	cctx, cancel := s.ctxFor(ctx)
	url, err := s.blobs.URL(cctx, j.DocumentKey, need+time.Hour)
	cancel()
	if err != nil {
		return s.temporary(ctx, j, faxbridge.StateQueued, err)
	}
	j.MediaURL, j.MediaExpiresAt = url, now.Add(need+time.Hour)

	// Record the intent first. NextAt in the future keeps other workers
	// away while the call is in flight; if this process dies, the job is
	// reconciled after that time.
	token := faxbridge.NewID()
	j.State = faxbridge.StateSubmitting
	j.IntentAt = now
	j.FaxSID = ""
	j.EmptyListings = 0
	j.Attempts = append(j.Attempts, faxbridge.Attempt{Number: len(j.Attempts) + 1, Quality: j.Quality, StartedAt: now, Token: token, MediaURL: url})
	j.NextAt = now.Add(s.inFlight())
	if err := s.update(ctx, j); err != nil {
		return err
	}
	s.crash("before-send")

	cctx, cancel = s.ctxFor(ctx)
	st, err := s.fax.Send(cctx, faxbridge.FaxRequest{
		To:              j.Destination.To,
		From:            j.From,
		MediaURL:        j.MediaURL,
		Quality:         j.Quality,
		StatusCallback:  s.callbackURL(j.ID, token),
		SipAuthUsername: j.Destination.SipAuthUsername,
		SipAuthPassword: j.Destination.SipAuthPassword,
	})
	cancel()
	s.crash("after-send")
	s.noteProvider(err)
	log := s.log.With("job_id", j.ID)
	switch {
	case err == nil:
		log.Info("fax submitted", "fax_sid", st.SID, "attempt", len(j.Attempts), "quality", j.Quality)
		s.event("submitted", "")
		return s.adoptAnswer(ctx, j, st)
	case errors.Is(err, faxbridge.ErrAmbiguous):
		// The provider may have the fax, or may still create it. Stay in
		// submitting: the provider is asked before anything is sent again,
		// and not before it had time to list what it made.
		j.SendErrors++
		j.NextAt = j.IntentAt.Add(s.cfg.ReconcileAfter)
		j.LastError = fmt.Sprintf("The answer to the submission was lost (%s). The fax service is asked at %s whether it has the fax before it is sent again.",
			faxbridge.ErrorMessage(err), j.NextAt.UTC().Format(time.RFC3339))
		log.Warn("fax submission outcome unknown; will reconcile", "err", err, "reconcile_at", j.NextAt)
		s.event("provider_error", "ambiguous")
		return s.update(ctx, j)
	case errors.Is(err, faxbridge.ErrAccount):
		// The provider refused our account before acting: nothing was
		// sent, and nothing about the fax is wrong. It waits for the
		// operator (see noteProvider) until it gives up.
		j.Attempts = j.Attempts[:len(j.Attempts)-1]
		log.Error("fax provider refused this gateway's account; the fax waits until an operator fixes it", "err", err)
		s.event("provider_error", "account")
		return s.temporary(ctx, j, faxbridge.StateQueued, err)
	case faxbridge.Temporary(err):
		// The provider refused before acting (429, 5xx, unreachable): the
		// attempt did not happen.
		j.Attempts = j.Attempts[:len(j.Attempts)-1]
		log.Warn("fax provider unavailable; will retry", "err", err, "retry_after", faxbridge.RetryAfter(err))
		s.event("provider_error", "temporary")
		return s.temporary(ctx, j, faxbridge.StateQueued, err)
	default:
		a := &j.Attempts[len(j.Attempts)-1]
		a.Status = faxbridge.OutcomeRejected
		a.ErrorMessage = faxbridge.ErrorMessage(err)
		log.Warn("fax refused by the provider", "err", err)
		s.finish(j, faxbridge.OutcomeRejected, faxbridge.ErrorMessage(err))
		return s.update(ctx, j)
	}
}

// inFlight is how long a submission's provider call may still be running
// after its intent was recorded.
func (s *Service) inFlight() time.Duration { return s.cfg.SendTimeout + 30*time.Second }

func (s *Service) temporary(ctx context.Context, j *faxbridge.Job, state faxbridge.State, err error) error {
	j.State = state
	j.SendErrors++
	j.LastError = faxbridge.ErrorMessage(err)
	j.NextAt = s.now().Add(s.retryDelay(err, j.SendErrors))
	return s.update(ctx, j)
}

// adopt records that the provider has the fax of the current attempt.
func (s *Service) adopt(ctx context.Context, j *faxbridge.Job, st faxbridge.FaxStatus) error {
	j.State = faxbridge.StateSending
	j.FaxSID = st.SID
	j.FaxStatus = st.Status
	j.SendErrors = 0
	j.LastError = ""
	j.Polls = 0
	j.EmptyListings = 0
	if n := len(j.Attempts); n > 0 {
		j.Attempts[n-1].FaxSID = st.SID
		j.Attempts[n-1].Status = st.Status
	}
	j.NextAt = s.now().Add(s.cfg.PollAfter)
	if st.Terminal() {
		s.outcome(j, st)
	}
	return s.update(ctx, j)
}

// adoptAnswer adopts the provider's answer to our submission. A callback
// can beat the answer and record the submission's fax first; if it named
// another fax, this one is an extra.
func (s *Service) adoptAnswer(ctx context.Context, j *faxbridge.Job, st faxbridge.FaxStatus) error {
	attempt, intent := len(j.Attempts), j.IntentAt
	err := s.adopt(ctx, j, st)
	for try := 0; faxbridge.ErrorCode(err) == faxbridge.EConflict && try < 5; try++ {
		cur, gerr := s.store.Get(ctx, j.ID)
		if gerr != nil {
			return gerr
		}
		if recorded(cur, st.SID) {
			return nil // the callback named the same fax
		}
		if cur.State == faxbridge.StateSubmitting && cur.FaxSID == "" && len(cur.Attempts) == attempt && cur.IntentAt.Equal(intent) {
			// Another writer changed the job (an extra fax's callback)
			// while it still waits for this answer: the answer is the
			// submission's own fax all the same.
			err = s.adopt(ctx, cur, st)
			continue
		}
		if !s.recordExtra(cur, st, "answer", attempt) {
			return nil
		}
		err = s.update(ctx, cur)
	}
	return err
}

// reconcile settles a submission whose answer was lost: adopt the provider's
// fax if it has one, send again only once two listings reconcile_after apart
// did not show it, and give up (the fax may or may not have gone out) when
// the provider cannot be asked until give_up_after.
func (s *Service) reconcile(ctx context.Context, j *faxbridge.Job) error {
	now := s.now()
	log := s.log.With("job_id", j.ID)
	due := j.IntentAt.Add(time.Duration(1+j.EmptyListings) * s.cfg.ReconcileAfter)
	if j.EmptyListings > 0 && j.ListedAt.Add(s.cfg.ReconcileAfter).After(due) {
		due = j.ListedAt.Add(s.cfg.ReconcileAfter) // listings stay that far apart, however hurried
	}
	if now.Before(due) {
		// Found early: after a crash in mid-submission, or hurried by an
		// operator. A listing now could miss a fax the provider is still
		// creating or does not list yet.
		j.NextAt = due
		if j.LastError == "" {
			j.LastError = fmt.Sprintf("The submission was interrupted. The fax service is asked at %s whether it has the fax before it is sent again.", due.UTC().Format(time.RFC3339))
		}
		return s.update(ctx, j)
	}

	cctx, cancel := s.ctxFor(ctx)
	q := faxbridge.SentQuery{To: j.Destination.To, From: j.From, Since: j.IntentAt}
	found, err := s.fax.FindSent(cctx, q, j.MediaURL)
	var fresh []faxbridge.FaxStatus
	if err == nil {
		fresh, err = s.unknown(cctx, j, found)
	}
	if err == nil && len(fresh) == 0 {
		var st *faxbridge.FaxStatus
		if st, err = s.findUnclaimed(cctx, j); st != nil {
			fresh = append(fresh, *st)
		}
	}
	cancel()
	s.noteProvider(err)

	if err != nil {
		if now.Sub(j.IntentAt) > s.cfg.GiveUpAfter {
			log.Error("cannot ask the fax provider whether it has the fax; giving up: it may or may not have been sent", "err", err)
			s.settleUnknown(j, fmt.Sprintf("For %s the fax service could not tell us whether it received the fax, so the fax may or may not have gone out.", roundDuration(now.Sub(j.IntentAt))))
			return s.update(ctx, j)
		}
		if errors.Is(err, faxbridge.ErrAccount) {
			log.Error("fax provider refused this gateway's account; the submission is checked again later", "err", err)
		} else {
			log.Warn("cannot reconcile submission yet", "err", err)
		}
		j.SendErrors++
		j.LastError = "The fax service cannot be asked yet whether it has the fax: " + faxbridge.ErrorMessage(err)
		j.NextAt = now.Add(s.retryDelay(err, j.SendErrors))
		return s.update(ctx, j)
	}

	if len(fresh) > 0 {
		// Newest first: the oldest is the submission's, any other a
		// second fax from it.
		st := fresh[len(fresh)-1]
		for _, x := range fresh[:len(fresh)-1] {
			s.recordExtra(j, x, "listing", len(j.Attempts))
		}
		log.Info("reconciled: the provider has the fax", "fax_sid", st.SID)
		version := j.Version
		err := s.adopt(ctx, j, st)
		if errors.Is(err, faxbridge.ErrFaxTaken) {
			// Another job's reconciliation adopted this fax first (two
			// jobs to one number in one window, the provider naming its
			// own media copy): it is theirs. Look again at once; the
			// listing now leaves it out.
			log.Info("reconcile: the fax was adopted by another job; looking again", "fax_sid", st.SID)
			cur, gerr := s.store.Get(ctx, j.ID)
			if gerr != nil {
				return gerr
			}
			if cur.Version != version {
				return nil // changed meanwhile: the stored state decides
			}
			cur.NextAt = s.now()
			return s.update(ctx, cur)
		}
		return err
	}

	j.EmptyListings++
	j.ListedAt = now.UTC()
	if j.EmptyListings < 2 {
		j.NextAt = j.IntentAt.Add(time.Duration(1+j.EmptyListings) * s.cfg.ReconcileAfter)
		if apart := now.Add(s.cfg.ReconcileAfter); apart.After(j.NextAt) {
			j.NextAt = apart // a late first listing: the second still comes reconcile_after after it
		}
		j.LastError = fmt.Sprintf("The fax service does not list the fax yet. It is asked again at %s before the fax is sent again.", j.NextAt.UTC().Format(time.RFC3339))
		log.Info("reconcile: the provider does not list the fax yet; will look again", "next_at", j.NextAt)
		return s.update(ctx, j)
	}
	log.Warn("reconciled: two listings did not show the fax; sending it again", "apart", s.cfg.ReconcileAfter)
	// The attempt stays on record with its token and media URL: should
	// its fax surface after all, it is recognised as an extra.
	if n := len(j.Attempts); n > 0 {
		j.Attempts[n-1].Status = "lost"
	}
	j.State = faxbridge.StateQueued
	j.EmptyListings, j.SendErrors = 0, 0
	j.LastError = ""
	j.NextAt = s.now()
	return s.update(ctx, j)
}

// unknown keeps the faxes that no job has recorded: neither this job (an
// earlier attempt's fax, an extra) nor another.
func (s *Service) unknown(ctx context.Context, j *faxbridge.Job, found []faxbridge.FaxStatus) ([]faxbridge.FaxStatus, error) {
	var out []faxbridge.FaxStatus
	for _, f := range found {
		if recorded(j, f.SID) {
			continue
		}
		if _, err := s.store.GetBySID(ctx, f.SID); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
			if err != nil {
				return nil, err
			}
			continue // another job's fax
		}
		out = append(out, f)
	}
	return out, nil
}

// findUnclaimed is reconciliation's fallback for a provider that reports
// its own copy of the media instead of our URL: a fax to the same number,
// created in the window of our submission, that serves media from somewhere
// other than our storage and that no job of ours knows. The oldest such fax
// is ours; two jobs to one number caught in the same window each adopt one.
func (s *Service) findUnclaimed(ctx context.Context, j *faxbridge.Job) (*faxbridge.FaxStatus, error) {
	cands, err := s.fax.ListSent(ctx, faxbridge.SentQuery{To: j.Destination.To, From: j.From, Since: j.IntentAt})
	if err != nil {
		return nil, err
	}
	until := j.IntentAt.Add(s.cfg.SendTimeout + time.Minute)
	var keep []faxbridge.FaxStatus
	for _, c := range cands {
		if (!c.CreatedAt.IsZero() && c.CreatedAt.After(until)) || sameHost(c.MediaURL, j.MediaURL) {
			continue
		}
		keep = append(keep, c)
	}
	keep, err = s.unknown(ctx, j, keep)
	if err != nil || len(keep) == 0 {
		return nil, err
	}
	return &keep[len(keep)-1], nil // oldest
}

// recorded reports whether the job already knows the fax SID.
func recorded(j *faxbridge.Job, sid string) bool {
	if sid == "" || sid == j.FaxSID {
		return sid != ""
	}
	for _, a := range j.Attempts {
		if a.FaxSID == sid {
			return true
		}
	}
	for _, x := range j.ExtraFaxes {
		if x.SID == sid {
			return true
		}
	}
	return false
}

// recordExtra records a fax of the job's that is not the one it follows. It
// reports whether the job changed: a known extra only has its status kept
// up to date, and is logged and counted once.
func (s *Service) recordExtra(j *faxbridge.Job, st faxbridge.FaxStatus, source string, attempt int) bool {
	for i := range j.ExtraFaxes {
		if x := &j.ExtraFaxes[i]; x.SID == st.SID {
			if st.Status == "" || x.Status == st.Status {
				return false
			}
			x.Status = st.Status
			return true
		}
	}
	if st.SID == "" || recorded(j, st.SID) {
		return false
	}
	j.ExtraFaxes = append(j.ExtraFaxes, faxbridge.ExtraFax{SID: st.SID, Status: st.Status, Attempt: attempt, Source: source, SeenAt: s.now().UTC()})
	if j.Final() && !j.ProviderDeletedAt.IsZero() {
		// Its media is deleted at the provider like the others'.
		j.ProviderDeletedAt, j.NextAt = time.Time{}, s.now()
	}
	s.log.Error("the fax provider has another fax for this job: it may have been sent twice",
		"job_id", j.ID, "fax_sid", st.SID, "current_fax_sid", j.FaxSID, "attempt", attempt, "seen_in", source, "status", st.Status)
	s.event("duplicate_fax", source)
	return true
}

// settleUnknown ends a job whose submission cannot be settled: the fax may
// or may not have gone out, and the report says so.
func (s *Service) settleUnknown(j *faxbridge.Job, reason string) {
	if n := len(j.Attempts); n > 0 && j.Attempts[n-1].Status == "" {
		j.Attempts[n-1].Status = "unknown"
	}
	s.finish(j, faxbridge.OutcomeExpired, reason)
}

// noteProvider keeps what readiness reports of the provider: a refusal of
// our account stays reported until a provider call succeeds again. Other
// failures say nothing about the account and change nothing.
func (s *Service) noteProvider(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		if s.accountErr != nil {
			s.log.Info("the fax provider accepts this gateway's account again")
		}
		s.accountErr = nil
	case errors.Is(err, faxbridge.ErrAccount):
		if s.accountErr == nil {
			s.log.Error("the fax provider refuses this gateway's account; faxes wait until an operator fixes it (API token, its Fax scope, or the balance)", "err", err)
		}
		s.accountErr = err
	}
}

// ProviderProblem reports why the fax provider cannot be used, or nil: what
// /readyz shows while the provider refuses our account.
func (s *Service) ProviderProblem() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.accountErr == nil {
		return nil
	}
	return fmt.Errorf("fax provider refuses the account: %s", faxbridge.ErrorMessage(s.accountErr))
}

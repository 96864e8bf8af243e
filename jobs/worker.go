package jobs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/faxbridge/faxbridge"
)

// idleCheck bounds how long the worker sleeps with nothing due: jobs created
// by another instance sharing the database are found within it.
const idleCheck = 5 * time.Second

// Run is the worker loop. It claims due jobs and runs one step of each, at
// most Concurrency at a time, until ctx is cancelled; it then waits for the
// steps in flight (each bounded by SendTimeout) and returns.
func (s *Service) Run(ctx context.Context) error {
	sem := make(chan struct{}, s.cfg.Concurrency)
	done := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	var skipped []string // claimed while their step ran; see skipped.go
	defer func() {
		wg.Wait()
		// Every step has ended: a restart must not find these leased.
		s.releaseSkipped(ctx, skipped)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.sweepLoop(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.retainLoop(ctx)
	}()
	if s.polling() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.inboundLoop(ctx)
		}()
	}

	for {
		skipped = s.releaseSkipped(ctx, skipped)
		free := s.cfg.Concurrency - len(sem)
		if free > 0 {
			claimed, err := s.store.Claim(ctx, s.cfg.Owner, s.now(), s.cfg.Lease, free)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("claiming jobs failed; retrying", "err", err)
			}
			for _, j := range claimed {
				if !s.begin(j.ID) {
					// A step of this job is still running here: another
					// writer (a callback) cleared its lease. Two steps of
					// one job at once could report or send twice.
					// Let go of this claim once that step ends.
					skipped = skipClaim(skipped, j.ID)
					continue
				}
				sem <- struct{}{}
				wg.Add(1)
				go func(j *faxbridge.Job) {
					defer func() {
						s.end(j.ID)
						<-sem
						wg.Done()
						select {
						case done <- struct{}{}:
						default:
						}
					}()
					s.step(ctx, j)
				}(j)
			}
			if len(claimed) == free {
				// There may be more due work; look again once a slot frees.
				select {
				case <-ctx.Done():
					return nil
				case <-done:
				}
				continue
			}
		}

		wait := idleCheck
		if next, err := s.store.NextDue(ctx); err == nil && !next.IsZero() {
			if d := next.Sub(s.now()); d < wait {
				wait = d
			}
		}
		if wait < 10*time.Millisecond {
			wait = 10 * time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
}

// step runs the next action of one claimed job. A panic is logged and the
// job released, so the same step is tried again rather than lost.
func (s *Service) step(ctx context.Context, j *faxbridge.Job) {
	log := s.log.With("job_id", j.ID)
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic in job step; the job will be retried", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.store.Release(rctx, j.ID, s.cfg.Owner); err != nil {
				log.Warn("could not release job after panic", "err", err)
			}
		}
	}()
	var err error
	switch {
	case j.Dir() == faxbridge.Inbound:
		err = s.inboundStep(ctx, j)
	case j.State == faxbridge.StateQueued:
		err = s.submit(ctx, j)
	case j.State == faxbridge.StateSubmitting:
		err = s.reconcile(ctx, j)
	case j.State == faxbridge.StateSending:
		err = s.poll(ctx, j)
	case j.State == faxbridge.StateDone:
		err = s.finishUp(ctx, j)
	default:
		err = fmt.Errorf("unknown state %q", j.State)
	}
	if err != nil {
		if faxbridge.ErrorCode(err) == faxbridge.EConflict {
			// A callback changed the job first; its version wins and the
			// job is looked at again from the stored state. Its update
			// already ended our lease, and releasing now could end the
			// lease of a newer claim instead.
			log.Debug("job changed while a step ran; will look again", "err", err)
			return
		}
		log.Warn("job step failed", "state", j.State, "err", err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := s.store.Release(rctx, j.ID, s.cfg.Owner); rerr != nil && faxbridge.ErrorCode(rerr) != faxbridge.ENotFound {
			log.Warn("could not release job", "err", rerr)
		}
	}
}

func (s *Service) update(ctx context.Context, j *faxbridge.Job) error {
	j.UpdatedAt = s.now().UTC()
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.store.Update(uctx, j)
}

// submit sends a queued job to the provider.
func (s *Service) submit(ctx context.Context, j *faxbridge.Job) error {
	now := s.now().UTC()
	if j.SendErrors > 0 && now.Sub(j.CreatedAt) > s.cfg.GiveUpAfter {
		s.finish(j, faxbridge.OutcomeFailed, fmt.Sprintf("The fax service could not be reached for %s, so the fax was not sent.", roundDuration(now.Sub(j.CreatedAt))))
		return s.update(ctx, j)
	}
	if later, err := s.paceCreate(ctx, j); later || err != nil {
		return err
	}
	now = s.now().UTC()
	// The media URL must outlive every retry the provider makes within the
	// fax's TTL; a fresh one is made for each submission that needs it.
	need := s.cfg.FaxTTL + s.cfg.SendTimeout + time.Hour
	if j.MediaURL == "" || j.MediaExpiresAt.Before(now.Add(need)) {
		cctx, cancel := s.ctxFor(ctx)
		url, err := s.blobs.URL(cctx, j.DocumentKey, need+time.Hour)
		cancel()
		if err != nil {
			return s.temporary(ctx, j, faxbridge.StateQueued, err)
		}
		j.MediaURL, j.MediaExpiresAt = url, now.Add(need+time.Hour)
	}

	// Record the intent first. NextAt in the future keeps other workers
	// away while the call is in flight; if this process dies, the job is
	// reconciled after that time.
	j.State = faxbridge.StateSubmitting
	j.IntentAt = now
	j.FaxSID = ""
	j.Attempts = append(j.Attempts, faxbridge.Attempt{Number: len(j.Attempts) + 1, Quality: j.Quality, StartedAt: now})
	j.NextAt = now.Add(s.cfg.SendTimeout + 30*time.Second)
	if err := s.update(ctx, j); err != nil {
		return err
	}
	s.crash("before-send")

	cctx, cancel := s.ctxFor(ctx)
	st, err := s.fax.Send(cctx, faxbridge.FaxRequest{
		To:              j.Destination.To,
		From:            j.From,
		MediaURL:        j.MediaURL,
		Quality:         j.Quality,
		StatusCallback:  s.callbackURL(j.ID),
		SipAuthUsername: j.Destination.SipAuthUsername,
		SipAuthPassword: j.Destination.SipAuthPassword,
	})
	cancel()
	s.crash("after-send")
	log := s.log.With("job_id", j.ID)
	switch {
	case err == nil:
		log.Info("fax submitted", "fax_sid", st.SID, "attempt", len(j.Attempts), "quality", j.Quality)
		s.event("submitted", "")
		return s.adopt(ctx, j, st)
	case errors.Is(err, faxbridge.ErrAmbiguous):
		// The provider may have the fax. Stay in submitting: the next step
		// asks the provider before anything is sent again.
		j.SendErrors++
		j.LastError = faxbridge.ErrorMessage(err)
		j.NextAt = s.now().Add(s.retryDelay(err, j.SendErrors))
		log.Warn("fax submission outcome unknown; will reconcile", "err", err)
		return s.update(ctx, j)
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

func (s *Service) temporary(ctx context.Context, j *faxbridge.Job, state faxbridge.State, err error) error {
	j.State = state
	j.SendErrors++
	j.LastError = faxbridge.ErrorMessage(err)
	j.NextAt = s.now().Add(s.retryDelay(err, j.SendErrors))
	return s.update(ctx, j)
}

// adopt records that the provider has the fax with the given status.
func (s *Service) adopt(ctx context.Context, j *faxbridge.Job, st faxbridge.FaxStatus) error {
	j.State = faxbridge.StateSending
	j.FaxSID = st.SID
	j.FaxStatus = st.Status
	j.SendErrors = 0
	j.LastError = ""
	j.Polls = 0
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

// reconcile settles a job whose submission may or may not have reached the
// provider: adopt the provider's fax if there is one, otherwise queue it to
// be sent again.
func (s *Service) reconcile(ctx context.Context, j *faxbridge.Job) error {
	cctx, cancel := s.ctxFor(ctx)
	var st *faxbridge.FaxStatus
	found, err := s.fax.FindSent(cctx, faxbridge.SentQuery{To: j.Destination.To, From: j.From, Since: j.IntentAt}, j.MediaURL)
	if err == nil && len(found) > 0 {
		st = &found[len(found)-1]
	}
	if err == nil && st == nil {
		st, err = s.findUnclaimed(cctx, j)
	}
	cancel()
	log := s.log.With("job_id", j.ID)
	if err != nil {
		log.Warn("cannot reconcile submission yet", "err", err)
		return s.temporary(ctx, j, faxbridge.StateSubmitting, err)
	}
	if st != nil {
		log.Info("reconciled: the provider has the fax", "fax_sid", st.SID)
		return s.adopt(ctx, j, *st)
	}
	log.Info("reconciled: the provider never got the fax; sending again")
	j.Attempts = j.Attempts[:len(j.Attempts)-1]
	j.State = faxbridge.StateQueued
	j.NextAt = s.now()
	return s.update(ctx, j)
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
	for i := len(cands) - 1; i >= 0; i-- { // oldest first
		c := cands[i]
		if c.CreatedAt.After(until) || sameHost(c.MediaURL, j.MediaURL) {
			continue
		}
		if _, err := s.store.GetBySID(ctx, c.SID); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
			if err != nil {
				return nil, err
			}
			continue // another job's fax
		}
		return &c, nil
	}
	return nil, nil
}

// poll asks the provider for a fax whose final callback has not come.
func (s *Service) poll(ctx context.Context, j *faxbridge.Job) error {
	cctx, cancel := s.ctxFor(ctx)
	st, err := s.fax.Fetch(cctx, j.FaxSID)
	cancel()
	now := s.now()
	j.Polls++
	started := j.IntentAt
	if err == nil && st.Terminal() {
		s.log.Info("fax outcome from poll", "job_id", j.ID, "fax_sid", j.FaxSID, "status", st.Status)
		s.outcome(j, st)
		return s.update(ctx, j)
	}
	if now.Sub(started) > s.cfg.GiveUpAfter {
		s.log.Warn("no outcome from the provider; giving up", "job_id", j.ID, "fax_sid", j.FaxSID)
		if n := len(j.Attempts); n > 0 {
			j.Attempts[n-1].Status = "unknown"
		}
		s.finish(j, faxbridge.OutcomeExpired, fmt.Sprintf("The fax service gave no final result within %s; the fax may or may not have been delivered.", roundDuration(s.cfg.GiveUpAfter)))
		return s.update(ctx, j)
	}
	if err != nil {
		j.LastError = faxbridge.ErrorMessage(err)
		s.log.Warn("polling the fax failed", "job_id", j.ID, "fax_sid", j.FaxSID, "err", err)
	} else {
		j.FaxStatus = st.Status
	}
	j.NextAt = now.Add(backoff(j.Polls+1, s.cfg.PollAfter, s.cfg.PollMax))
	return s.update(ctx, j)
}

// ApplyStatus feeds a provider status (from a verified callback) into its
// job. Statuses for unknown faxes return ENotFound; statuses for finished
// jobs or for earlier attempts change nothing.
func (s *Service) ApplyStatus(ctx context.Context, jobID string, st faxbridge.FaxStatus) error {
	for try := 0; try < 5; try++ {
		j, err := s.store.GetBySID(ctx, st.SID)
		if faxbridge.ErrorCode(err) == faxbridge.ENotFound && jobID != "" {
			// The callback can beat the provider's answer to our POST:
			// the SID is not recorded yet. A signed callback for a job
			// caught mid-submission is the provider telling us it has
			// the fax, so it settles the submission (the in-flight step's
			// own update then loses on the version and changes nothing).
			j, err = s.adoptFromCallback(ctx, jobID, st)
			if faxbridge.ErrorCode(err) == faxbridge.EConflict {
				continue // the submission's answer was recorded meanwhile
			}
		}
		if err != nil {
			return err
		}
		if jobID != "" && j.ID != jobID {
			return faxbridge.Errorf(faxbridge.ENotFound, "no such fax")
		}
		log := s.log.With("job_id", j.ID, "fax_sid", st.SID, "status", st.Status)
		if j.Final() || j.FaxSID != st.SID || j.State != faxbridge.StateSending {
			log.Debug("status callback ignored: job already settled or another attempt")
			return nil
		}
		if !st.Terminal() {
			if j.FaxStatus == st.Status {
				return nil
			}
			j.FaxStatus = st.Status
		} else {
			log.Info("fax outcome from callback")
			s.enrich(ctx, &st)
			s.outcome(j, st)
		}
		err = s.update(ctx, j)
		if faxbridge.ErrorCode(err) == faxbridge.EConflict {
			continue
		}
		if err == nil && st.Terminal() {
			s.crash("after-callback")
			s.Wake()
		}
		return err
	}
	return faxbridge.Errorf(faxbridge.EUnavailable, "the job is busy; try again")
}

func (s *Service) adoptFromCallback(ctx context.Context, jobID string, st faxbridge.FaxStatus) (*faxbridge.Job, error) {
	j, err := s.store.Get(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if j.State != faxbridge.StateSubmitting || (st.To != "" && st.To != j.Destination.To) {
		return nil, faxbridge.Errorf(faxbridge.ENotFound, "no such fax")
	}
	j.State = faxbridge.StateSending
	j.FaxSID = st.SID
	j.SendErrors, j.LastError = 0, ""
	if n := len(j.Attempts); n > 0 {
		j.Attempts[n-1].FaxSID = st.SID
	}
	j.NextAt = s.now().Add(s.cfg.PollAfter)
	if err := s.update(ctx, j); err != nil {
		return nil, err
	}
	s.log.Info("fax SID learned from a callback that beat the submission's answer", "job_id", j.ID, "fax_sid", st.SID)
	return j, nil
}

// outcome applies a terminal provider status: redial a busy or unanswered
// line by policy, retry a resolution failure once at standard quality, and
// otherwise finish the job.
func (s *Service) outcome(j *faxbridge.Job, st faxbridge.FaxStatus) {
	if n := len(j.Attempts); n > 0 {
		a := &j.Attempts[n-1]
		a.Status, a.Pages, a.Duration = st.Status, st.Pages, st.Duration
		a.ErrorCode, a.ErrorMessage = st.ErrorCode, st.ErrorMessage
	}
	j.FaxStatus = st.Status
	j.NumPages, j.Duration, j.RemoteStationID = st.Pages, st.Duration, st.RemoteStationID
	j.ErrorCode, j.ErrorMessage = st.ErrorCode, st.ErrorMessage

	now := s.now()
	switch {
	case (st.Status == faxbridge.OutcomeBusy || st.Status == faxbridge.OutcomeNoAnswer) && s.redials(j) < s.cfg.RedialAttempts:
		j.State = faxbridge.StateQueued
		j.FaxSID = ""
		j.NextAt = now.Add(s.cfg.RedialSpacing)
		s.log.Info("line busy or unanswered; will redial", "job_id", j.ID, "attempt", len(j.Attempts), "redial_in", s.cfg.RedialSpacing)
		return
	case st.Status == faxbridge.OutcomeFailed && resolutionError(st.ErrorMessage) && j.Quality != "standard":
		j.State = faxbridge.StateQueued
		j.FaxSID = ""
		j.Quality = "standard"
		j.NextAt = now
		s.log.Info("receiver refused the resolution; retrying at standard quality", "job_id", j.ID)
		return
	}
	s.finish(j, st.Status, st.Reason)
}

func (s *Service) redials(j *faxbridge.Job) int {
	n := 0
	for _, a := range j.Attempts {
		if a.Status == faxbridge.OutcomeBusy || a.Status == faxbridge.OutcomeNoAnswer {
			n++
		}
	}
	return n - 1 // the attempt just finished is not a redial yet
}

func resolutionError(msg string) bool {
	return containsFold(msg, "resolution")
}

// finish sets the final outcome; the report and cleanup follow.
func (s *Service) finish(j *faxbridge.Job, outcome, reason string) {
	s.event("outcome", outcome)
	now := s.now().UTC()
	j.State = faxbridge.StateDone
	j.Outcome = outcome
	if outcome != faxbridge.OutcomeDelivered {
		j.Reason = reason
	}
	j.FinishedAt = now
	if j.ReportTo == "" {
		j.ReportState = faxbridge.ReportSuppressed
	} else {
		j.ReportState = faxbridge.ReportPending
		j.ReportDeadline = now.Add(s.cfg.ReportRetryFor)
	}
	j.NextAt = now
}

// finishUp deletes the document and sends the report of a finished job,
// each retried on its own schedule until done.
func (s *Service) finishUp(ctx context.Context, j *faxbridge.Job) error {
	now := s.now()
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	log := s.log.With("job_id", j.ID)

	if j.CleanedAt.IsZero() {
		if j.KeepDocument {
			j.CleanedAt = now.UTC()
		} else {
			cctx, cancel := s.ctxFor(ctx)
			err := s.blobs.Delete(cctx, j.DocumentKey)
			cancel()
			if err != nil {
				j.CleanupTries++
				log.Warn("document cleanup failed; will retry", "err", err, "tries", j.CleanupTries)
				later(now.Add(backoff(j.CleanupTries, s.cfg.FollowUpRetry, time.Hour)))
			} else {
				j.CleanedAt = now.UTC()
			}
		}
	}

	if j.ReportState == faxbridge.ReportPending {
		s.crash("before-report")
		cctx, cancel := s.ctxFor(ctx)
		err := s.notifier.Notify(cctx, faxbridge.Report{Job: j, From: s.cfg.ReportFrom, Hostname: s.cfg.Hostname, Date: now})
		cancel()
		switch {
		case err == nil:
			j.ReportState = faxbridge.ReportSent
			j.ReportSentAt = now.UTC()
			log.Info("report sent", "outcome", j.Outcome)
			s.event("report", "sent")
		// A refused relay login is retried too: it is a configuration
		// problem an operator can fix before the deadline.
		case (faxbridge.Temporary(err) || faxbridge.ErrorCode(err) == faxbridge.EUnauthorized) && now.Before(j.ReportDeadline):
			j.ReportTries++
			log.Warn("report not delivered yet; will retry", "err", err, "tries", j.ReportTries)
			s.event("report", "retry")
			later(now.Add(backoff(j.ReportTries, s.cfg.FollowUpRetry, 30*time.Minute)))
		default:
			j.ReportState = faxbridge.ReportAbandoned
			log.Error("report abandoned", "err", err, "tries", j.ReportTries+1)
			s.event("report", "abandoned")
		}
	}
	j.NextAt = next
	return s.update(ctx, j)
}

func (s *Service) callbackURL(id string) string {
	if s.cfg.CallbackURL == nil {
		return ""
	}
	return s.cfg.CallbackURL(id)
}

// enrich fills in what a status callback does not carry (SignalWire's
// callback has no duration) from the fax resource. It is best effort: the
// outcome stands without it.
func (s *Service) enrich(ctx context.Context, st *faxbridge.FaxStatus) {
	if st.Duration > 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	full, err := s.fax.Fetch(cctx, st.SID)
	if err != nil || full.Status != st.Status {
		return
	}
	st.Duration = full.Duration
	if st.Pages == 0 {
		st.Pages = full.Pages
	}
	if st.RemoteStationID == "" {
		st.RemoteStationID = full.RemoteStationID
	}
}

// begin marks a job's step as running in this process; false if one is.
func (s *Service) begin(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] {
		return false
	}
	s.inflight[id] = true
	return true
}

func (s *Service) end(id string) {
	s.mu.Lock()
	delete(s.inflight, id)
	s.mu.Unlock()
}

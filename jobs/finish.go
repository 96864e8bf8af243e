package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/faxbridge/faxbridge"
)

// poll asks the provider for a fax whose final callback has not come.
func (s *Service) poll(ctx context.Context, j *faxbridge.Job) error {
	cctx, cancel := s.ctxFor(ctx)
	st, err := s.fax.Fetch(cctx, j.FaxSID)
	cancel()
	s.noteProvider(err)
	now := s.now()
	j.Polls++
	if err == nil && st.Terminal() {
		s.log.Info("fax outcome from poll", "job_id", j.ID, "fax_sid", j.FaxSID, "status", st.Status)
		j.DetailsFetched = true // the fax resource has everything
		s.outcome(j, st)
		return s.update(ctx, j)
	}
	if now.Sub(j.IntentAt) > s.cfg.GiveUpAfter {
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
// then deletes the fax's media at the provider; each is retried on its own
// schedule until done, and the last never delays the report. The report's
// fate is written before the provider is called, and the deletion follows
// in the same step, without a new claim.
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
		if err := s.sendReport(ctx, j, later); err != nil {
			return err
		}
		if j.ReportState == faxbridge.ReportPending || !s.mediaToDelete(j) {
			j.NextAt = next
			return s.recordReport(ctx, j)
		}
		// Until the deletion's calls are over the job is due to no other
		// worker; if this process stops first, it is deleted then.
		j.NextAt = s.now().Add(s.inFlight())
		if err := s.recordReport(ctx, j); err != nil {
			return err
		}
		if !s.mediaToDelete(j) {
			return nil // the job changed meanwhile; it is due as written
		}
	}
	s.deleteProviderMedia(ctx, j, later)
	j.NextAt = next
	return s.update(ctx, j)
}

// mediaToDelete reports whether the job's faxes still have media at the
// provider that faxbridge must delete.
func (s *Service) mediaToDelete(j *faxbridge.Job) bool {
	return !s.cfg.KeepProviderMedia && j.ProviderDeletedAt.IsZero() && len(providerFaxes(j)) > 0
}

// providerFaxes are the SIDs of every fax the job made at the provider:
// each attempt's and the extras'.
func providerFaxes(j *faxbridge.Job) []string {
	var sids []string
	for _, a := range j.Attempts {
		if a.FaxSID != "" {
			sids = append(sids, a.FaxSID)
		}
	}
	for _, x := range j.ExtraFaxes {
		sids = append(sids, x.SID)
	}
	return sids
}

// recordReport writes the job after its report was sent, retried or
// abandoned. The mail is out: a callback that wrote the job meanwhile (an
// extra fax turning up) must not make the report look unsent, or it would
// go again. So a conflict is resolved by carrying the report's fields, and
// what was learned for it, over to the job as now stored.
func (s *Service) recordReport(ctx context.Context, j *faxbridge.Job) error {
	for try := 0; ; try++ {
		err := s.update(ctx, j)
		if faxbridge.ErrorCode(err) != faxbridge.EConflict || try == 4 {
			return err
		}
		fresh, gerr := s.store.Get(ctx, j.ID)
		if gerr != nil {
			return err
		}
		if fresh.State != faxbridge.StateDone || fresh.ReportState != faxbridge.ReportPending {
			return err // settled elsewhere; it stands as stored
		}
		fresh.ReportState, fresh.ReportSentAt, fresh.ReportTries = j.ReportState, j.ReportSentAt, j.ReportTries
		fresh.CleanedAt, fresh.CleanupTries = j.CleanedAt, j.CleanupTries
		fresh.DetailsFetched, fresh.Duration = j.DetailsFetched, j.Duration
		fresh.NumPages, fresh.RemoteStationID = j.NumPages, j.RemoteStationID
		for i := range fresh.Attempts {
			for _, a := range j.Attempts {
				if a.FaxSID != "" && a.FaxSID == fresh.Attempts[i].FaxSID {
					fresh.Attempts[i].Duration = a.Duration
				}
			}
		}
		if !fresh.NextAt.IsZero() && (j.NextAt.IsZero() || fresh.NextAt.Before(j.NextAt)) {
			j.NextAt = fresh.NextAt
		}
		fresh.NextAt = j.NextAt
		s.log.Info("job changed while its report was sent; recording the report on the stored job", "job_id", j.ID)
		*j = *fresh
	}
}

// sendReport sends the report once. Several instances may share the store:
// before the mail goes out the job is stored with NextAt past the end of
// the relay call (written now, unless a handoff wrote it so already), so no
// other worker can claim it while the report is on its way, and the call
// itself must end by then.
func (s *Service) sendReport(ctx context.Context, j *faxbridge.Job, later func(time.Time)) error {
	log := s.log.With("job_id", j.ID)
	s.details(ctx, j)

	now := s.now()
	deadline := now.Add(s.cfg.SendTimeout)
	// A job handed to this worker (handoff.go) is stored due to nobody
	// else until a lease on: when that outlasts the relay call, it is the
	// fence already, and writing another would only cost a commit.
	if fence := deadline.Add(30 * time.Second); j.NextAt.Before(fence) {
		j.NextAt = fence
		if err := s.update(ctx, j); err != nil {
			return err // another writer changed the job: it is looked at again
		}
	}
	s.crash("before-report")
	// The deadline was set before the fence: a process paused past it
	// fails the call instead of sending after another worker may have.
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
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
	return nil
}

// details fills in, once, what a final status callback does not carry
// (SignalWire's has no duration) from the fax resource. It runs in the
// worker so callbacks are answered at once, and is best effort: the outcome
// and the report stand without it.
func (s *Service) details(ctx context.Context, j *faxbridge.Job) {
	if j.DetailsFetched || j.FaxSID == "" || j.Duration > 0 {
		return
	}
	j.DetailsFetched = true
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(s.cfg.SendTimeout, 5*time.Second))
	defer cancel()
	full, err := s.fax.Fetch(cctx, j.FaxSID)
	if err != nil || full.Status != j.FaxStatus {
		return
	}
	j.Duration = full.Duration
	if n := len(j.Attempts); n > 0 && j.Attempts[n-1].FaxSID == j.FaxSID {
		j.Attempts[n-1].Duration = full.Duration
	}
	if j.NumPages == 0 {
		j.NumPages = full.Pages
	}
	if j.RemoteStationID == "" {
		j.RemoteStationID = full.RemoteStationID
	}
}

// deleteProviderMedia deletes the media of every fax the job made at the
// provider, once the report is settled, unless the configuration keeps it.
// Failures are retried with backoff for as long as reports are; then the
// job lets go with an error in the log.
func (s *Service) deleteProviderMedia(ctx context.Context, j *faxbridge.Job, later func(time.Time)) {
	if !s.mediaToDelete(j) {
		return
	}
	now := s.now()
	sids := providerFaxes(j)
	var err error
	for _, sid := range sids {
		cctx, cancel := s.ctxFor(ctx)
		err = s.fax.DeleteMedia(cctx, sid)
		cancel()
		if err != nil {
			err = fmt.Errorf("fax %s: %w", sid, err)
			break
		}
	}
	log := s.log.With("job_id", j.ID)
	switch {
	case err == nil:
		j.ProviderDeletedAt = now.UTC()
		log.Info("fax media deleted at the provider", "faxes", len(sids))
	case now.Sub(latest(j.FinishedAt, j.ReportSentAt)) > s.cfg.ReportRetryFor:
		// Counted from the report, so a report that needed most of its own
		// retry window still leaves the deletion a full one.
		log.Error("gave up deleting the fax media at the provider; delete it there by hand", "err", err, "tries", j.ProviderTries+1)
	default:
		j.ProviderTries++
		log.Warn("deleting the fax media at the provider failed; will retry", "err", err, "tries", j.ProviderTries)
		later(now.Add(backoff(j.ProviderTries, s.cfg.FollowUpRetry, time.Hour)))
	}
}

func (s *Service) callbackURL(id, token string) string {
	if s.cfg.CallbackURL == nil {
		return ""
	}
	return s.cfg.CallbackURL(id, token)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

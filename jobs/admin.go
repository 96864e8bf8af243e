package jobs

import (
	"context"

	"github.com/faxbridge/faxbridge"
)

// RetryNow makes a job's pending step (submission, poll, report or cleanup)
// due immediately instead of after its backoff. It is what an operator does
// after fixing the cause of a retry (a relay password, a provider outage).
func (s *Service) RetryNow(ctx context.Context, id string) (*faxbridge.Job, error) {
	return s.modify(ctx, id, func(j *faxbridge.Job) error {
		if j.NextAt.IsZero() {
			return faxbridge.Errorf(faxbridge.EInvalid, "job %s has nothing left to do (outcome %s, report %s)", j.ID, j.Outcome, j.ReportState)
		}
		if j.State == faxbridge.StateSubmitting && s.submitting(j) {
			return faxbridge.Errorf(faxbridge.EConflict, "job %s is being submitted right now; try again in a minute", j.ID)
		}
		// A submission whose answer was lost is asked about at once (a
		// listing refused until the operator fixed the account, say);
		// reconciliation itself still waits reconcile_after before it
		// trusts an empty listing, so hurrying it cannot send twice.
		j.NextAt = s.now()
		return nil
	})
}

// Cancel stops a job. A job not yet submitted finishes as canceled at once;
// a fax the provider holds is withdrawn through the provider (possible only
// while it is still queued there), and its final callback or poll then
// settles the job.
func (s *Service) Cancel(ctx context.Context, id string) (*faxbridge.Job, error) {
	j, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Dir() == faxbridge.Inbound {
		// A received fax is already here; cancelling it would only drop
		// it (and let it be deleted at the provider) unmailed.
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "job %s is a received fax; it cannot be canceled", j.ID)
	}
	switch j.State {
	case faxbridge.StateQueued:
		return s.modify(ctx, id, func(j *faxbridge.Job) error {
			if j.State != faxbridge.StateQueued {
				return faxbridge.Errorf(faxbridge.EConflict, "job %s changed state to %s; try again", j.ID, j.State)
			}
			s.finish(j, faxbridge.OutcomeCanceled, "The fax was canceled by the gateway's operator before it was sent.")
			return nil
		})
	case faxbridge.StateSending:
		if err := s.fax.Cancel(ctx, j.FaxSID); err != nil {
			return nil, err
		}
		return s.RetryNow(ctx, id) // poll now to record the cancellation
	case faxbridge.StateSubmitting:
		if s.submitting(j) {
			return nil, faxbridge.Errorf(faxbridge.EConflict, "job %s is being submitted right now; try again in a minute", j.ID)
		}
		// The provider's answer was lost and it has not said whether it
		// has the fax. Cancelling settles the job as unknown; it is never
		// sent again.
		intent := j.IntentAt
		return s.modify(ctx, id, func(j *faxbridge.Job) error {
			if j.State != faxbridge.StateSubmitting || !j.IntentAt.Equal(intent) || s.submitting(j) {
				return faxbridge.Errorf(faxbridge.EConflict, "job %s changed state to %s; try again", j.ID, j.State)
			}
			s.log.Warn("operator canceled a fax whose submission is unsettled; it may or may not have gone out", "job_id", j.ID)
			s.settleUnknown(j, "The fax was canceled by the gateway's operator while the fax service had not confirmed whether it received it, so the fax may or may not have gone out.")
			return nil
		})
	}
	return nil, faxbridge.Errorf(faxbridge.EInvalid, "job %s is already finished (%s)", j.ID, j.Outcome)
}

// submitting reports whether a job's provider call may still be running:
// its intent is the last thing written (every later step moves NextAt) and
// the call's time is not up.
func (s *Service) submitting(j *faxbridge.Job) bool {
	end := j.IntentAt.Add(s.inFlight())
	return j.NextAt.Equal(end) && s.now().Before(end)
}

func (s *Service) modify(ctx context.Context, id string, change func(*faxbridge.Job) error) (*faxbridge.Job, error) {
	for try := 0; try < 5; try++ {
		j, err := s.store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := change(j); err != nil {
			return nil, err
		}
		err = s.update(ctx, j)
		if faxbridge.ErrorCode(err) == faxbridge.EConflict {
			continue
		}
		return j, err
	}
	return nil, faxbridge.Errorf(faxbridge.EUnavailable, "job %s is busy; try again", id)
}

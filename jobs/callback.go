package jobs

import (
	"context"

	"github.com/faxbridge/faxbridge"
)

// ApplyStatus feeds a provider status from a verified callback into its job.
// jobID and token come from the signed callback URL: the job and the
// submission (attempt) the callback was set up for.
//
// It is answered at once: it reads and writes the store, and never calls the
// provider (what a final callback lacks is fetched by the worker before the
// report). Statuses for unknown faxes return ENotFound; statuses for
// finished jobs or earlier attempts change nothing; a fax the job did not
// know is recorded as an extra fax.
func (s *Service) ApplyStatus(ctx context.Context, jobID, token string, st faxbridge.FaxStatus) error {
	for try := 0; try < 5; try++ {
		j, err := s.store.GetBySID(ctx, st.SID)
		if faxbridge.ErrorCode(err) == faxbridge.ENotFound && jobID != "" {
			err = s.newFaxCallback(ctx, jobID, token, st)
			if faxbridge.ErrorCode(err) == faxbridge.EConflict {
				continue
			}
			if err != nil {
				return err
			}
			continue // adopted or recorded: apply the status to it
		}
		if err != nil {
			return err
		}
		if jobID != "" && j.ID != jobID {
			return faxbridge.Errorf(faxbridge.ENotFound, "no such fax")
		}
		log := s.log.With("job_id", j.ID, "fax_sid", st.SID, "status", st.Status)
		if j.FaxSID != st.SID {
			// An extra fax: keep its status for the operator and the report.
			if !s.recordExtra(j, st, "callback", 0) {
				return nil
			}
		} else if j.Final() || j.State != faxbridge.StateSending {
			log.Debug("status callback ignored: job already settled")
			return nil
		} else if !st.Terminal() {
			if j.FaxStatus == st.Status {
				return nil
			}
			j.FaxStatus = st.Status
		} else {
			log.Info("fax outcome from callback")
			s.outcome(j, st)
		}
		// A job the outcome made due at once (the report, a retry at
		// standard quality) goes straight to this process's worker.
		handed := st.Terminal() && !j.NextAt.After(s.now()) && s.reserveHandoff(j.ID)
		if handed {
			j.NextAt = s.handoffDue()
		}
		err = s.update(ctx, j)
		if handed {
			s.handOff(j, err == nil)
		}
		if faxbridge.ErrorCode(err) == faxbridge.EConflict {
			continue
		}
		if err == nil && st.Terminal() && j.FaxSID == st.SID {
			s.crash("after-callback")
			if !handed {
				s.Wake()
			}
		}
		return err
	}
	return faxbridge.Errorf(faxbridge.EUnavailable, "the job is busy; try again")
}

// newFaxCallback handles a signed callback naming a fax the job has not
// recorded. It is the current submission's fax when the job is still
// waiting for that submission's answer and the callback carries its token
// (the callback beat the answer, or the answer was lost): it is adopted,
// and the in-flight step's own update then loses on the version. Any other
// such fax is an extra.
func (s *Service) newFaxCallback(ctx context.Context, jobID, token string, st faxbridge.FaxStatus) error {
	j, err := s.store.Get(ctx, jobID)
	if err != nil {
		return err
	}
	if j.Dir() != faxbridge.Outbound {
		return faxbridge.Errorf(faxbridge.ENotFound, "no such fax")
	}
	if st.To != "" && !sameNumber(st.To, j.Destination.To) {
		return faxbridge.Errorf(faxbridge.ENotFound, "no such fax")
	}
	attempt := 0
	for _, a := range j.Attempts {
		if a.Token == token {
			attempt = a.Number
		}
	}
	n := len(j.Attempts)
	if j.State == faxbridge.StateSubmitting && j.FaxSID == "" && n > 0 && attempt == j.Attempts[n-1].Number {
		j.State = faxbridge.StateSending
		j.FaxSID = st.SID
		j.SendErrors, j.LastError, j.EmptyListings = 0, "", 0
		j.Attempts[n-1].FaxSID = st.SID
		j.FaxStatus, j.Attempts[n-1].Status = st.Status, st.Status
		j.NextAt = s.now().Add(s.cfg.PollAfter)
		if err := s.update(ctx, j); err != nil {
			return err
		}
		s.log.Info("fax SID learned from a callback of the current submission", "job_id", j.ID, "fax_sid", st.SID)
		return nil
	}
	if !s.recordExtra(j, st, "callback", attempt) {
		return nil
	}
	return s.update(ctx, j)
}

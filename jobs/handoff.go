package jobs

import (
	"context"
	"time"

	"github.com/faxbridge/faxbridge"
)

// A job this process has just written, and that is due at once, goes
// straight to its own worker instead of being claimed back from the store:
// the job accepted with a message, and the job a final callback settled.
// A claim is a write transaction (with SQLite, one that waits for the
// single writer, behind accepted mail's commits); two of them per fax were
// a tenth of its CPU.
//
// Instead of a lease, the handing writer stores the job with NextAt one
// lease ahead: no worker, here or in another instance, claims it before
// then, and if this process stops before the step has written the job, it
// is due again then, as a job whose lease ran out. The job is marked
// running here (begin) before it is written, so a claim of it here cannot
// start a second step, and the step's writes are versioned like any other.

// reserveHandoff takes a place in the handoff queue for the job id about to
// be written, or reports false when the worker is not running or has no
// room (the job is then written due now, for a claim).
func (s *Service) reserveHandoff(id string) bool {
	if !s.workerOn.Load() {
		return false
	}
	select {
	case s.handoffRoom <- struct{}{}:
	default:
		return false
	}
	if !s.begin(id) {
		<-s.handoffRoom
		return false
	}
	return true
}

// handOff passes a job written under a reservation to the worker; ok false
// (the write failed) gives the reservation back.
func (s *Service) handOff(j *faxbridge.Job, ok bool) {
	if !ok {
		s.end(j.ID)
		<-s.handoffRoom
		return
	}
	c := *j // the writer keeps its copy; the step changes this one
	s.handoff <- &c
	select {
	case s.handedOff <- struct{}{}:
	default:
	}
}

// handoffDue is when a job written for handoff is next due: one lease on.
func (s *Service) handoffDue() time.Time { return s.now().Add(s.cfg.Lease) }

// takeHandoff returns a job waiting to be handed off, if there is one. Its
// step is marked running already.
func (s *Service) takeHandoff() (*faxbridge.Job, bool) {
	select {
	case j := <-s.handoff:
		<-s.handoffRoom
		return j, true
	default:
		return nil, false
	}
}

// dropHandoffs makes the jobs still waiting for the stopping worker due
// now, so that the next worker (after a restart, or another instance) need
// not wait a lease for them.
func (s *Service) dropHandoffs(ctx context.Context) {
	s.workerOn.Store(false)
	for {
		j, ok := s.takeHandoff()
		if !ok {
			return
		}
		s.end(j.ID)
		j.NextAt = s.now()
		if err := s.update(context.WithoutCancel(ctx), j); err != nil && faxbridge.ErrorCode(err) != faxbridge.EConflict {
			s.log.Warn("a job handed to the stopping worker stays due at its lease's end", "job_id", j.ID, "err", err)
		}
	}
}

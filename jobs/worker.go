package jobs

import (
	"context"
	"fmt"
	"runtime/debug"
	"runtime/pprof"
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
	s.workerOn.Store(true)
	defer func() {
		s.dropHandoffs(ctx)
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

	// start runs the step of a job marked running (begin) in a slot of
	// its own; the caller has taken the slot.
	start := func(j *faxbridge.Job) {
		wg.Add(1)
		go func() {
			defer func() {
				s.end(j.ID)
				<-sem
				wg.Done()
				select {
				case done <- struct{}{}:
				default:
				}
			}()
			// The label splits the worker's CPU by step in profiles.
			pprof.Do(ctx, pprof.Labels("work", stepLabel(j)), func(ctx context.Context) {
				s.step(ctx, j)
			})
		}()
	}

	// startHandoffs starts the jobs handed over by this process that fit.
	startHandoffs := func() {
		for len(sem) < s.cfg.Concurrency {
			j, ok := s.takeHandoff()
			if !ok {
				return
			}
			sem <- struct{}{}
			start(j)
		}
	}

	for {
		skipped = s.releaseSkipped(ctx, skipped)
		// Jobs handed over by this process first: nobody else may take them.
		startHandoffs()
		// When the next job is due is a read on SQLite's reader pool; a
		// claim is a write transaction, which would queue behind accepted
		// mail's commits for nothing when no job is due. So look first.
		wait := idleCheck
		next, nerr := s.store.NextDue(ctx)
		if nerr == nil && !next.IsZero() {
			wait = min(wait, next.Sub(s.now()))
		}
		free := s.cfg.Concurrency - len(sem)
		if free > 0 && (nerr != nil || wait <= 0) {
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
				start(j)
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
			if len(claimed) > 0 {
				continue // when the next one is due has changed
			}
		}

		if wait < 10*time.Millisecond {
			wait = 10 * time.Millisecond
		}
		t := time.NewTimer(wait)
	sleep:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-s.handedOff:
				// A handoff changes nothing in the store's schedule (the job
				// is due a lease on): start it and sleep on, without asking
				// the store again.
				startHandoffs()
			case <-s.wake:
				break sleep
			case <-done:
				break sleep
			case <-t.C:
				break sleep
			}
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

// stepLabel names the step a claimed job is in for, as step does.
func stepLabel(j *faxbridge.Job) string {
	if j.Dir() == faxbridge.Inbound {
		return "worker:inbound"
	}
	return "worker:" + string(j.State)
}

func (s *Service) update(ctx context.Context, j *faxbridge.Job) error {
	j.UpdatedAt = s.now().UTC()
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.store.Update(uctx, j)
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

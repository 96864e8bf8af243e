package jobs

import (
	"context"
	"slices"
	"time"

	"github.com/faxbridge/faxbridge"
)

// A claim can return a job whose step is still running here: another writer
// (a callback, an operator, another instance) updated the job, which ended
// that step's lease and made the job due again. The loop must not start a
// second step beside the first, but its claim now holds the job for a whole
// lease; unless it lets go once the running step ends, nobody looks at the
// job again until the lease runs out, and a report waits minutes for nothing.

// skipClaim remembers that the loop claimed id while a step of it was
// running, so that releaseSkipped lets go of that claim later.
func skipClaim(skipped []string, id string) []string {
	if slices.Contains(skipped, id) {
		return skipped
	}
	return append(skipped, id)
}

// releaseSkipped releases the claims on skipped jobs whose step has ended
// and returns the ones still to release. Only the loop starts steps, and it
// calls this before it claims again, so no step of ours is running on a job
// it releases: the lease it frees is the loop's own idle claim.
func (s *Service) releaseSkipped(ctx context.Context, skipped []string) []string {
	keep := skipped[:0]
	for _, id := range skipped {
		if s.running(id) {
			keep = append(keep, id)
			continue
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := s.store.Release(rctx, id, s.cfg.Owner)
		cancel()
		if err != nil && faxbridge.ErrorCode(err) != faxbridge.ENotFound {
			s.log.Warn("could not release a job claimed while its step ran; will retry", "job_id", id, "err", err)
			keep = append(keep, id)
		}
	}
	return keep
}

// running reports whether a step of the job is running in this process.
func (s *Service) running(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[id]
}

package jobs

import (
	"context"
	"time"
)

// retainEvery is how often retention looks for settled jobs past Retain.
const retainEvery = time.Hour

// retainLoop deletes settled jobs older than Retain, soon after start and
// then every retainEvery, so the store holds a bounded window of history and
// what the worker pays per fax does not grow with the gateway's age.
func (s *Service) retainLoop(ctx context.Context) {
	wait := time.Minute
	for {
		if s.sleep(ctx, wait) != nil {
			return
		}
		wait = retainEvery
		if n, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("deleting old finished jobs failed; will retry", "err", err, "deleted", n)
		} else if n > 0 {
			s.log.Info("deleted finished jobs past retention", "count", n, "retain", s.cfg.Retain)
		}
	}
}

// Purge deletes every settled job last changed more than Retain ago, in
// batches of PurgeBatch with PurgePause between them, and returns how many
// it deleted.
func (s *Service) Purge(ctx context.Context) (int, error) {
	before := s.now().Add(-s.cfg.Retain)
	total := 0
	for {
		n, err := s.store.Purge(ctx, before, s.cfg.PurgeBatch)
		total += n
		if err != nil || n < s.cfg.PurgeBatch {
			return total, err
		}
		if err := s.sleep(ctx, s.cfg.PurgePause); err != nil {
			return total, err
		}
	}
}

// sleepCtx waits d, or returns ctx's error if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

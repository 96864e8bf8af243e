package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
)

// sweepLoop deletes uploads that no job refers to: a crash between the
// upload and the commit of a message leaves its document behind (the
// sender never got 250 and will send it again). The first sweep runs soon
// after start, when such leftovers are likeliest.
func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.Sweep(ctx); err != nil {
			s.log.Warn("sweeping orphaned documents failed; will retry", "err", err)
		} else if n > 0 {
			s.log.Info("deleted orphaned documents of uncommitted messages", "count", n)
		}
		t.Reset(s.cfg.OrphanAge / 2)
	}
}

// Sweep deletes documents older than OrphanAge whose job does not exist,
// and returns how many it deleted.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	keys, err := s.blobs.List(ctx, s.now().Add(-s.cfg.OrphanAge))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, key := range keys {
		id := strings.TrimSuffix(key, ".pdf")
		_, err := s.store.Get(ctx, id)
		if faxbridge.ErrorCode(err) != faxbridge.ENotFound {
			if err != nil && ctx.Err() != nil {
				return n, err
			}
			continue // a job's document, or the store is unsure: keep it
		}
		if err := s.blobs.Delete(ctx, key); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

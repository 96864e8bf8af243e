package jobs

import (
	"context"
	"time"

	"github.com/faxbridge/faxbridge"
)

// createSchedule names the store's schedule of fax creations.
const createSchedule = "fax_create"

// paceCreate holds a queued job until its turn to be created at the
// provider, so faxes leave at CreatesPerSecond however fast mail arrives
// and however many instances share the store. A worker takes the next slot
// when it is at most one interval away and waits for it; otherwise the job
// goes back to the store, due when a slot is within reach, and later
// reports true. Because a slot is reserved an interval ahead, the next
// create is always lined up: the pace is kept, not just capped.
func (s *Service) paceCreate(ctx context.Context, j *faxbridge.Job) (later bool, err error) {
	if s.cfg.CreatesPerSecond <= 0 {
		return false, nil
	}
	interval := time.Duration(float64(time.Second) / s.cfg.CreatesPerSecond)
	slot, ok, err := s.store.Reserve(ctx, createSchedule, s.now(), interval, interval)
	if err != nil {
		return true, s.temporary(ctx, j, faxbridge.StateQueued, err)
	}
	if !ok {
		j.NextAt = slot
		return true, s.update(ctx, j)
	}
	if err := s.sleep(ctx, slot.Sub(s.now())); err != nil {
		// Shutting down: the slot goes unused and the job is released.
		return true, err
	}
	return false, nil
}

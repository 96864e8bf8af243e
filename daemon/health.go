package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// health is the daemon's readiness, decided in the background: the database
// and the document storage are checked every interval, and /readyz answers
// from the last result, so a request costs nothing (a storage check may
// write a file) and a flood of them reaches neither.
type health struct {
	log   *slog.Logger
	check func(context.Context) error
	// provider, when set, is the fax provider's health as the worker sees
	// it (credentials refused, no balance): not ready while it fails.
	provider func() error

	mu  sync.Mutex
	err error
}

// healthInterval is how often readiness is checked again.
const healthInterval = 10 * time.Second

// refresh checks once, logging a change of state.
func (h *health) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := h.check(ctx)
	h.mu.Lock()
	was := h.err
	h.err = err
	h.mu.Unlock()
	switch {
	case err != nil && was == nil:
		h.log.Error("not ready: a dependency failed its check", "err", err)
	case err == nil && was != nil:
		h.log.Info("ready again: dependencies answer")
	}
}

// run refreshes until ctx ends.
func (h *health) run(ctx context.Context) {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.refresh(ctx)
		}
	}
}

// Ready is the handler's readiness question.
func (h *health) Ready(context.Context) error {
	h.mu.Lock()
	err := h.err
	h.mu.Unlock()
	if err == nil && h.provider != nil {
		err = h.provider()
	}
	return err
}

// providerHealth is the job service's view of the provider, when it offers
// one (ProviderProblem); readiness then counts it.
type providerHealth interface{ ProviderProblem() error }

package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
)

// /readyz answers from the last background check: asking costs no check
// (a storage check writes a file), and the provider's health counts.
func TestReadinessFromState(t *testing.T) {
	checks := 0
	var depErr, provErr error
	h := &health{
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		check:    func(context.Context) error { checks++; return depErr },
		provider: func() error { return provErr },
	}
	ctx := context.Background()
	h.refresh(ctx)
	for range 100 {
		if err := h.Ready(ctx); err != nil {
			t.Fatalf("ready: %v", err)
		}
	}
	if checks != 1 {
		t.Errorf("%d checks for 100 readiness questions, want 1", checks)
	}
	provErr = errors.New("provider refuses our credentials")
	if h.Ready(ctx) == nil {
		t.Error("ready while the provider fails")
	}
	provErr, depErr = nil, errors.New("database down")
	if h.Ready(ctx) != nil {
		t.Error("not ready before the next check saw the database fail")
	}
	h.refresh(ctx)
	if h.Ready(ctx) == nil {
		t.Error("ready after a check saw the database fail")
	}
}

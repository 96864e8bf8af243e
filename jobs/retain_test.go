package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// TestPurgeInBatches deletes settled jobs past retention in batches with a
// pause between them, and keeps the rest.
func TestPurgeInBatches(t *testing.T) {
	db := openStore(t)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: now}
	var pauses []time.Duration
	s := New(Config{Retain: 30 * 24 * time.Hour, PurgeBatch: 2, PurgePause: time.Second}, db, nil, nil, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.now = clock.now
	s.sleep = func(_ context.Context, d time.Duration) error { pauses = append(pauses, d); return nil }

	settled := func(id string, age time.Duration) *faxbridge.Job {
		at := now.Add(-age)
		return &faxbridge.Job{ID: id, Version: 1, State: faxbridge.StateDone, Outcome: faxbridge.OutcomeDelivered,
			ReportState: faxbridge.ReportSent, CreatedAt: at, UpdatedAt: at, FinishedAt: at, CleanedAt: at}
	}
	var jobs []*faxbridge.Job
	for i := range 5 {
		jobs = append(jobs, settled(fmt.Sprintf("old-%d", i), time.Duration(31+i)*24*time.Hour))
	}
	young := settled("young", 29*24*time.Hour)
	pending := settled("report-pending", 40*24*time.Hour)
	pending.ReportState, pending.NextAt = faxbridge.ReportPending, now
	jobs = append(jobs, young, pending)
	if err := db.Create(t.Context(), jobs); err != nil {
		t.Fatal(err)
	}

	n, err := s.Purge(t.Context())
	if err != nil || n != 5 {
		t.Fatalf("purge: %d, %v; want 5 jobs", n, err)
	}
	if len(pauses) != 2 || pauses[0] != time.Second {
		t.Errorf("pauses %v, want two of 1s (after each full batch)", pauses)
	}
	for _, id := range []string{"young", "report-pending"} {
		if _, err := db.Get(t.Context(), id); err != nil {
			t.Errorf("%s: %v, want kept", id, err)
		}
	}
	left, err := db.List(t.Context(), faxbridge.JobFilter{})
	if err != nil || len(left) != 2 {
		t.Fatalf("%d jobs left (%v), want 2", len(left), err)
	}
}

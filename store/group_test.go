package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Concurrent creates share commits, yet each message answers for itself:
// every good one is stored, and a duplicate fails alone.
func TestGroupCommit(t *testing.T) {
	db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	mk := func(id string) *faxbridge.Job {
		return &faxbridge.Job{ID: id, State: faxbridge.StateQueued, CreatedAt: now, UpdatedAt: now, NextAt: now}
	}
	if err := db.Create(t.Context(), []*faxbridge.Job{mk("dup")}); err != nil {
		t.Fatal(err)
	}
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("job-%02d", i)
			if i == 17 {
				id = "dup"
			}
			errs[i] = db.Create(t.Context(), []*faxbridge.Job{mk(id), mk(id + "-b")})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == 17 && faxbridge.ErrorCode(err) != faxbridge.EConflict:
			t.Errorf("duplicate: %v, want a conflict", err)
		case i != 17 && err != nil:
			t.Errorf("create %d: %v", i, err)
		}
	}
	all, err := db.List(t.Context(), faxbridge.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1+2*(n-1) {
		t.Errorf("%d jobs stored, want %d (the duplicate's batch stored nothing)", len(all), 1+2*(n-1))
	}
	if _, err := db.Get(t.Context(), "dup-b"); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Errorf("the refused message's other job was stored: %v", err)
	}
}

// After Close, Create still answers (directly) instead of blocking.
func TestCreateAfterGroupClosed(t *testing.T) {
	db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.group.close()
	now := time.Now()
	err = db.Create(t.Context(), []*faxbridge.Job{{ID: "x", State: faxbridge.StateQueued, CreatedAt: now, UpdatedAt: now}})
	if err != nil {
		t.Errorf("create with the committer closed: %v", err)
	}
	db.Close()
}

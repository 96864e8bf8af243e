package store

import (
	"context"
	"database/sql"
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
	db, _ := openSQLite(t)
	mk := queuedJobs(time.Now())
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

// Writes queued while a commit is in progress share the next one, each in
// a savepoint of its own: a stale update, a duplicate job and an update
// naming another job's fax fail alone, and the rest are stored.
func TestGroupedWritesAnswerAlone(t *testing.T) {
	ctx := t.Context()
	db, _ := openSQLite(t)
	mk := queuedJobs(time.Now())
	for _, id := range []string{"a", "b", "stale", "taker"} {
		if err := db.Create(ctx, []*faxbridge.Job{mk(id)}); err != nil {
			t.Fatal(err)
		}
	}
	a, b, taker := mustGetJob(t, db, "a"), mustGetJob(t, db, "b"), mustGetJob(t, db, "taker")
	stale := mustGetJob(t, db, "stale")
	fresh := mustGetJob(t, db, "stale")
	fresh.LastError = "written first"
	if err := db.Update(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	a.FaxSID = "FX-a"

	// A write that holds the committer in its transaction: everything
	// queued meanwhile goes in the next group, in the order queued.
	inLead, releaseLead := make(chan struct{}), make(chan struct{})
	leadDone := make(chan error, 1)
	go func() {
		_, err := db.group.enqueue(ctx, func(context.Context, *sql.Tx) error {
			close(inLead)
			<-releaseLead
			return nil
		})
		leadDone <- err
	}()
	<-inLead
	writes := []struct {
		name string
		do   func() error
		want faxbridge.Code
	}{
		{"update a", func() error { return db.Update(ctx, a) }, ""},
		{"stale update", func() error { stale.LastError = "lost"; return db.Update(ctx, stale) }, faxbridge.EConflict},
		{"create c", func() error { return db.Create(ctx, []*faxbridge.Job{mk("c")}) }, ""},
		{"duplicate", func() error { return db.Create(ctx, []*faxbridge.Job{mk("b")}) }, faxbridge.EConflict},
		{"another job's fax", func() error { taker.FaxSID = "FX-a"; return db.Update(ctx, taker) }, faxbridge.EConflict},
		{"update b", func() error { b.State = faxbridge.StateDone; return db.Update(ctx, b) }, ""},
	}
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.do()
		}()
		for len(db.group.reqs) != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	close(releaseLead)
	if err := <-leadDone; err != nil {
		t.Fatalf("lead: %v", err)
	}
	wg.Wait()
	for i, w := range writes {
		if got := faxbridge.ErrorCode(errs[i]); got != w.want {
			t.Errorf("%s: %v, want code %q", w.name, errs[i], w.want)
		}
	}
	if got := mustGetJob(t, db, "a"); got.FaxSID != "FX-a" {
		t.Errorf("a: fax %q", got.FaxSID)
	}
	if got, err := db.GetBySID(ctx, "FX-a"); err != nil || got.ID != "a" {
		t.Errorf("FX-a belongs to %v (%v), want a", got, err)
	}
	if got := mustGetJob(t, db, "b"); got.State != faxbridge.StateDone {
		t.Errorf("b: state %q", got.State)
	}
	if got := mustGetJob(t, db, "stale"); got.LastError != "written first" {
		t.Errorf("stale: %q", got.LastError)
	}
	if got := mustGetJob(t, db, "taker"); got.FaxSID != "" {
		t.Errorf("taker: fax %q", got.FaxSID)
	}
	mustGetJob(t, db, "c")
}

func mustGetJob(t *testing.T, db *DB, id string) *faxbridge.Job {
	t.Helper()
	j, err := db.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return j
}

// queuedJobs makes queued jobs due at, by ID.
func queuedJobs(at time.Time) func(id string) *faxbridge.Job {
	now := at.UTC().Truncate(time.Millisecond)
	return func(id string) *faxbridge.Job {
		return &faxbridge.Job{ID: id, State: faxbridge.StateQueued, CreatedAt: now, UpdatedAt: now, NextAt: now}
	}
}

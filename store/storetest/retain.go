package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// settled returns a finished job with nothing left to do, last changed at.
func settled(id string, at time.Time) *faxbridge.Job {
	j := job(id, time.Time{})
	j.State = faxbridge.StateDone
	j.UpdatedAt = at
	j.FaxSID = id + "-sid"
	j.Attempts = []faxbridge.Attempt{{Number: 1, FaxSID: id + "-sid"}}
	return j
}

func testPurge(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	cutoff := base.Add(-24 * time.Hour)
	pending := settled("report-pending", cutoff.Add(-time.Hour))
	pending.NextAt = cutoff // its report is still due
	notDone := job("held", time.Time{})
	notDone.UpdatedAt = cutoff.Add(-time.Hour)
	mustCreate(t, s,
		settled("old-2", cutoff.Add(-2*time.Hour)),
		settled("old-1", cutoff.Add(-3*time.Hour)),
		settled("old-3", cutoff.Add(-time.Millisecond)),
		settled("recent", cutoff.Add(time.Hour)),
		pending, notDone)

	purge := func(limit int) int {
		t.Helper()
		n, err := s.Purge(ctx, cutoff, limit)
		if err != nil {
			t.Fatalf("purge: %v", err)
		}
		return n
	}
	if n := purge(2); n != 2 {
		t.Fatalf("first batch purged %d jobs, want 2", n)
	}
	// Oldest first: old-3 is the one left of the three.
	for _, id := range []string{"old-1", "old-2"} {
		_, err := s.Get(ctx, id)
		wantCode(t, "get purged "+id, err, faxbridge.ENotFound)
		_, err = s.GetBySID(ctx, id+"-sid")
		wantCode(t, "SID of purged "+id, err, faxbridge.ENotFound)
	}
	mustGet(t, s, "old-3")
	if n := purge(2); n != 1 {
		t.Fatalf("second batch purged %d jobs, want 1", n)
	}
	if n := purge(2); n != 0 {
		t.Fatalf("third batch purged %d jobs, want 0", n)
	}
	for _, id := range []string{"recent", "report-pending", "held"} {
		mustGet(t, s, id)
	}
	if got, err := s.GetBySID(ctx, "recent-sid"); err != nil || got.ID != "recent" {
		t.Fatalf("SID of a kept job: %v, %v", got, err)
	}
	if n := purge(0); n != 0 {
		t.Fatalf("a batch of 0 purged %d", n)
	}
}

func testReserve(t *testing.T, open Opener) {
	a, b := Open(t, open), Open(t, open)
	ctx := t.Context()
	now := base.Truncate(time.Millisecond)
	const interval = time.Second
	reserve := func(s faxbridge.JobStore, at time.Time, ahead time.Duration) (time.Time, bool) {
		t.Helper()
		slot, ok, err := s.Reserve(ctx, "create", at, interval, ahead)
		if err != nil {
			t.Fatalf("reserve: %v", err)
		}
		return slot, ok
	}
	if slot, ok := reserve(a, now, interval); !ok || !slot.Equal(now) {
		t.Fatalf("first reservation: %v %v, want %v true", slot, ok, now)
	}
	// Another instance gets the next slot, not the same one.
	if slot, ok := reserve(b, now, interval); !ok || !slot.Equal(now.Add(interval)) {
		t.Fatalf("second reservation: %v %v, want %v true", slot, ok, now.Add(interval))
	}
	// The one after is out of reach: nothing is taken, and the answer says
	// when a slot will be within reach.
	if slot, ok := reserve(a, now, interval); ok || !slot.Equal(now.Add(interval)) {
		t.Fatalf("third reservation: %v %v, want %v false", slot, ok, now.Add(interval))
	}
	if slot, ok := reserve(b, now.Add(interval), interval); !ok || !slot.Equal(now.Add(2*interval)) {
		t.Fatalf("reservation when in reach: %v %v, want %v true", slot, ok, now.Add(2*interval))
	}
	// Slots unused in an idle spell are gone: no burst to catch up.
	later := now.Add(time.Hour)
	if slot, ok := reserve(a, later, 0); !ok || !slot.Equal(later) {
		t.Fatalf("reservation after an idle hour: %v %v, want %v true", slot, ok, later)
	}
	if _, ok := reserve(b, later, 0); ok {
		t.Fatal("a second slot at the same instant with no wait allowed")
	}

	// Many reservers on two handles at once: each slot exactly once.
	const per = 8
	var (
		mu    sync.Mutex
		slots []time.Time
		wg    sync.WaitGroup
	)
	for _, s := range []faxbridge.JobStore{a, b} {
		for range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				slot, ok, err := s.Reserve(context.WithoutCancel(ctx), "burst", now, interval, time.Hour)
				if err != nil || !ok {
					t.Errorf("concurrent reserve: %v %v", ok, err)
					return
				}
				mu.Lock()
				slots = append(slots, slot)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	slices.SortFunc(slots, func(x, y time.Time) int { return x.Compare(y) })
	if len(slots) != 2*per {
		t.Fatalf("%d slots reserved, want %d", len(slots), 2*per)
	}
	for i, s := range slots {
		if want := now.Add(time.Duration(i) * interval); !s.Equal(want) {
			t.Fatalf("slot %d = %v, want %v (all: %v)", i, s, want, slots)
		}
	}
	_, _, err := a.Reserve(ctx, "", now, interval, 0)
	wantCode(t, "reserve without a name", err, faxbridge.EInvalid)
}

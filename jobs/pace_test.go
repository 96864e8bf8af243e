package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/internal/testenv"
	"github.com/faxbridge/faxbridge/store"
)

// fakeClock is the time of a test that moves it by hand; a Service's sleep
// on it moves it forward instead of waiting.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.set(c.now().Add(d))
	return nil
}

// clockFax accepts every fax and notes the clock's time of each create.
type clockFax struct {
	faxbridge.FaxProvider
	clock *fakeClock
	mu    sync.Mutex
	sends []time.Time
	by    map[string]int
}

func (f *clockFax) Send(ctx context.Context, req faxbridge.FaxRequest) (faxbridge.FaxStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends = append(f.sends, f.clock.now())
	return faxbridge.FaxStatus{SID: fmt.Sprintf("FX%d", len(f.sends)), Status: "queued", To: req.To}, nil
}

type urlBlobs struct{ faxbridge.BlobStore }

func (urlBlobs) URL(_ context.Context, key string, _ time.Duration) (string, error) {
	return "https://media.example/" + key, nil
}

// TestPaceSharedByInstances runs two instances on one database, SQLite and
// PostgreSQL, against a burst of queued faxes: the creates, whichever
// instance makes them, leave exactly one interval apart, no faster and no
// slower.
func TestPaceSharedByInstances(t *testing.T) {
	backends := map[string]func(t *testing.T) func() faxbridge.JobStore{
		"sqlite": func(t *testing.T) func() faxbridge.JobStore {
			path := filepath.Join(t.TempDir(), "jobs.db")
			return func() faxbridge.JobStore {
				db, err := store.OpenSQLite(t.Context(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
		},
		"postgres": func(t *testing.T) func() faxbridge.JobStore {
			dsn := testenv.Postgres(t)
			return func() faxbridge.JobStore {
				db, err := store.OpenPostgres(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
		},
	}
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			open := backend(t)
			testPace(t, open(), open())
		})
	}
}

func testPace(t *testing.T, dbA, dbB faxbridge.JobStore) {
	ctx := t.Context()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := &fakeClock{t: t0}
	fax := &clockFax{clock: clock}
	const interval = 500 * time.Millisecond
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var svcs []*Service
	for i, db := range []faxbridge.JobStore{dbA, dbB} {
		s := New(Config{Owner: fmt.Sprintf("instance-%d", i), CreatesPerSecond: 2, PollAfter: 24 * time.Hour},
			db, urlBlobs{}, fax, nil, log)
		s.now, s.sleep = clock.now, clock.sleep
		svcs = append(svcs, s)
	}

	const n = 7
	var burst []*faxbridge.Job
	for i := range n {
		burst = append(burst, &faxbridge.Job{ID: fmt.Sprintf("job-%d", i), Version: 1, State: faxbridge.StateQueued,
			Destination: faxbridge.Destination{To: "+15551230000"}, DocumentKey: fmt.Sprintf("doc-%d", i),
			CreatedAt: t0, UpdatedAt: t0, NextAt: t0})
	}
	if err := dbA.Create(ctx, burst); err != nil {
		t.Fatal(err)
	}

	// Each instance in turn claims two jobs and steps them, the way its
	// worker would; when neither finds work, time moves to the next due job.
	senders := map[string]bool{}
	for round := 0; len(fax.sends) < n; round++ {
		if round > 10*n {
			t.Fatalf("only %d of %d faxes sent after %d rounds", len(fax.sends), n, round)
		}
		worked := false
		for _, s := range svcs {
			claimed, err := s.store.Claim(ctx, s.cfg.Owner, clock.now(), time.Minute, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range claimed {
				before := len(fax.sends)
				s.step(ctx, j)
				if len(fax.sends) > before {
					senders[s.cfg.Owner] = true
				}
				worked = true
			}
		}
		if !worked {
			next, err := dbA.NextDue(ctx)
			if err != nil || next.IsZero() {
				t.Fatalf("nothing due with %d of %d faxes sent (%v)", len(fax.sends), n, err)
			}
			clock.set(next)
		}
	}
	for i, at := range fax.sends {
		if want := t0.Add(time.Duration(i) * interval); !at.Equal(want) {
			t.Fatalf("create %d at %v, want %v (all: %v)", i, at.Sub(t0), want.Sub(t0), fax.sends)
		}
	}
	if len(senders) != 2 {
		t.Errorf("creates came from %v; want both instances", senders)
	}

	// With every slot in reach taken, a job is not sent: it stays queued,
	// due when a slot comes within reach.
	now := clock.now()
	for {
		if _, ok, err := dbB.Reserve(ctx, createSchedule, now, interval, interval); err != nil {
			t.Fatal(err)
		} else if !ok {
			break
		}
	}
	late := &faxbridge.Job{ID: "late", Version: 1, State: faxbridge.StateQueued, DocumentKey: "doc-late",
		CreatedAt: now, UpdatedAt: now, NextAt: now}
	if err := dbA.Create(ctx, []*faxbridge.Job{late}); err != nil {
		t.Fatal(err)
	}
	sent := len(fax.sends)
	svcs[0].step(ctx, late)
	got, err := dbA.Get(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	if len(fax.sends) != sent || got.State != faxbridge.StateQueued || !got.NextAt.After(now) || len(got.Attempts) != 0 {
		t.Fatalf("job beyond the pace: sent %d, state %s, next %v (now %v), attempts %d; want unsent, queued, later, none",
			len(fax.sends)-sent, got.State, got.NextAt, now, len(got.Attempts))
	}
}

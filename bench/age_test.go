package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/bench/internal/fill"
	"github.com/faxbridge/faxbridge/store"
)

// BenchmarkAge runs the store's part of one fax's life — the quota count,
// the create, the claims, the versioned updates from queued to settled, the
// callback's lookup by SID, the pace reservation and the worker's NextDue —
// on a SQLite database holding 1,000 finished jobs and on one holding many
// more (FAXBRIDGE_BENCH_FINISHED, default 100,000; the README's figure is
// for 1,000,000). What a fax costs must not grow with the jobs kept: the two
// ns/op should agree within the noise.
func BenchmarkAge(b *testing.B) {
	many := 100_000
	if v := os.Getenv("FAXBRIDGE_BENCH_FINISHED"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("FAXBRIDGE_BENCH_FINISHED=%q: want a number of jobs", v)
		}
		many = n
	}
	for _, n := range []int{1_000, many} {
		b.Run(fmt.Sprintf("finished=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "jobs.db")
			if err := fill.SQLite(b.Context(), path, n, time.Now()); err != nil {
				b.Fatal(err)
			}
			db, err := store.OpenSQLite(b.Context(), path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			lifecycle(b, db)
		})
	}
}

func lifecycle(b *testing.B, db faxbridge.JobStore) {
	ctx := b.Context()
	step := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	claimOne := func(now time.Time) *faxbridge.Job {
		got, err := db.Claim(ctx, "bench", now, time.Minute, 4)
		step(err)
		if len(got) != 1 {
			b.Fatalf("claimed %d jobs, want 1", len(got))
		}
		return got[0]
	}
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		n++
		now := time.Now()
		_, _, err := db.Usage(ctx, "sender@example.org", now.Add(-time.Hour))
		step(err)
		j := fill.Job(faxbridge.NewID(), now)
		j.State, j.Version, j.NextAt = faxbridge.StateQueued, 1, now
		j.FaxSID, j.Attempts, j.Outcome, j.FinishedAt, j.ReportState, j.CleanedAt = "", nil, "", time.Time{}, "", time.Time{}
		step(db.Create(ctx, []*faxbridge.Job{j}))

		j = claimOne(now.Add(time.Millisecond))
		_, _, err = db.Reserve(ctx, "bench_create", now, time.Microsecond, time.Second)
		step(err)
		j.State, j.IntentAt, j.NextAt = faxbridge.StateSubmitting, now, now.Add(90*time.Second)
		j.Attempts = []faxbridge.Attempt{{Number: 1, Quality: "fine", StartedAt: now}}
		step(db.Update(ctx, j))
		j.State, j.FaxSID, j.NextAt = faxbridge.StateSending, "fx-"+j.ID, now.Add(2*time.Minute)
		j.Attempts[0].FaxSID = j.FaxSID
		step(db.Update(ctx, j))

		j, err = db.GetBySID(ctx, "fx-"+j.ID)
		step(err)
		j.State, j.Outcome, j.FinishedAt, j.ReportState, j.NextAt = faxbridge.StateDone, faxbridge.OutcomeDelivered, now, faxbridge.ReportPending, now
		step(db.Update(ctx, j))

		j = claimOne(now.Add(time.Millisecond))
		j.ReportState, j.ReportSentAt, j.CleanedAt, j.NextAt = faxbridge.ReportSent, now, now, time.Time{}
		step(db.Update(ctx, j))
		_, err = db.NextDue(ctx)
		step(err)
	}
	// Wall time is mostly fsync; CPU is what grows if a query scans.
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
}

// cpuTime is the CPU (user and system) this process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

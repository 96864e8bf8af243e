package jobs

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store"
)

// claimSpy passes every claimed job ID to a channel, so that a test knows
// when the worker loop has claimed a job.
type claimSpy struct {
	faxbridge.JobStore
	claimed chan string
}

func (c *claimSpy) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*faxbridge.Job, error) {
	js, err := c.JobStore.Claim(ctx, owner, now, lease, limit)
	for _, j := range js {
		c.claimed <- j.ID
	}
	return js, err
}

// heldSender is a provider whose Send announces itself and then waits until
// the test lets it answer.
type heldSender struct {
	faxbridge.FaxProvider
	started chan struct{}
	answer  chan faxbridge.FaxStatus
}

func (h *heldSender) Send(ctx context.Context, req faxbridge.FaxRequest) (faxbridge.FaxStatus, error) {
	h.started <- struct{}{}
	return <-h.answer, nil
}

// urlOnlyBlobs serves every document at a fixed URL and holds nothing.
type urlOnlyBlobs struct{ faxbridge.BlobStore }

func (urlOnlyBlobs) URL(context.Context, string, time.Duration) (string, error) {
	return "https://media.example.com/doc.pdf", nil
}
func (urlOnlyBlobs) Delete(context.Context, string) error { return nil }
func (urlOnlyBlobs) List(context.Context, time.Time) ([]string, error) {
	return nil, nil
}

// reportChan hands each report to the test.
type reportChan chan faxbridge.Report

func (c reportChan) Notify(_ context.Context, r faxbridge.Report) error {
	c <- r
	return nil
}

// A step that loses its write to another writer must not leave the job
// untouched until its lease runs out. Here the other writer (a callback or
// an operator) settles the job while the submission is still waiting for
// the provider, and wakes the worker: the loop claims the job again at once,
// finds its step still running and skips it. That claim must not hold the
// job for a whole lease once the running step ends. The clock stands still,
// so no lease ever runs out: the report comes only if the worker itself lets
// go of its claim.
func TestJobClaimedDuringItsStepIsLookedAtAgain(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	watch := &claimSpy{JobStore: db, claimed: make(chan string, 64)}
	fax := &heldSender{started: make(chan struct{}, 1), answer: make(chan faxbridge.FaxStatus, 1)}
	reports := make(reportChan, 4)
	s := New(Config{Concurrency: 2}, watch, urlOnlyBlobs{}, fax, reports, slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }

	j := &faxbridge.Job{ID: "j1", State: faxbridge.StateQueued, Quality: "fine", ReportTo: "a@example.com",
		Destination: faxbridge.Destination{To: "+15551234567"}, DocumentKey: "j1.pdf",
		CreatedAt: now, UpdatedAt: now, NextAt: now}
	if err := db.Create(ctx, []*faxbridge.Job{j}); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Run(runCtx)
	}()
	stopped := false
	stopWorker := func() {
		if !stopped {
			stopped = true
			stop()
			wg.Wait()
		}
	}
	defer stopWorker()

	if id := within(t, watch.claimed, "the first claim"); id != j.ID {
		t.Fatalf("claimed %q", id)
	}
	within(t, fax.started, "the submission") // in flight, its intent recorded

	// Another writer settles the job meanwhile, as a final callback for
	// the fax would, and wakes the worker.
	cur, err := db.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.finish(cur, faxbridge.OutcomeDelivered, "")
	if err := db.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	s.Wake()
	if id := within(t, watch.claimed, "the claim after the wake-up"); id != j.ID {
		t.Fatalf("claimed %q", id)
	}
	// The loop has claimed the job while its step still runs. Now the
	// provider answers; the step's write loses to the callback's.
	fax.answer <- faxbridge.FaxStatus{SID: "FX1", Status: "queued"}

	select {
	case r := <-reports:
		if r.Job.Outcome != faxbridge.OutcomeDelivered {
			t.Errorf("report outcome %q", r.Job.Outcome)
		}
	case <-time.After(30 * time.Second):
		// With a clock that stands still the claim never expires: without
		// the fix this is forever, not slow.
		t.Fatal("no report: the job stays claimed by a skipped claim")
	}
	stopWorker()
	if n := len(reports); n != 0 {
		t.Errorf("%d more reports", n)
	}
	final, err := db.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.ReportState != faxbridge.ReportSent || final.FaxSID != "" {
		t.Errorf("job after the report: report %q, fax SID %q (the losing step's answer must not be recorded)", final.ReportState, final.FaxSID)
	}
}

// within receives from ch, failing the test if nothing comes: the worker
// is stuck (a hang would otherwise last until the test binary's timeout).
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not happen", what)
		panic("unreachable")
	}
}

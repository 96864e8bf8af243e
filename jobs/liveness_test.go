package jobs

import (
	"context"
	"io"
	"log/slog"
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

func (h *heldSender) DeleteMedia(context.Context, string) error { return nil }

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

// skippedClaim is a worker caught in the race behind a liveness bug: the
// job's submission is waiting for the provider when another writer (a final
// callback, an operator) settles the job and wakes the worker, and the loop
// claims the job again at once and finds its step still running. The clock
// stands still, so no lease ever runs out by itself.
type skippedClaim struct {
	db      *store.DB
	s       *Service
	fax     *heldSender
	reports reportChan
	job     string
	now     time.Time
	stop    func() // stops the worker and waits for it; idempotent
	cancel  func() // tells the worker to stop, without waiting
}

func newSkippedClaim(t *testing.T) *skippedClaim {
	t.Helper()
	ctx := context.Background()
	db := openStore(t)
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

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Run(runCtx)
	}()
	var once sync.Once
	sc := &skippedClaim{db: db, s: s, fax: fax, reports: reports, job: j.ID, now: now,
		cancel: cancel, stop: func() { once.Do(func() { cancel(); wg.Wait() }) }}
	t.Cleanup(func() {
		select { // a step still waiting for the provider gets its answer
		case fax.answer <- faxbridge.FaxStatus{SID: "FX1", Status: "queued"}:
		default:
		}
		sc.stop()
	})

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
	// The loop has claimed the job while its step still runs.
	return sc
}

// answer lets the held submission return; its write then loses to the
// other writer's.
func (sc *skippedClaim) answer() {
	sc.fax.answer <- faxbridge.FaxStatus{SID: "FX1", Status: "queued"}
}

// A step that loses its write to another writer must not leave the job
// untouched until its lease runs out: the claim the loop took while the
// step ran is let go when the step ends, and the report follows at once.
// Without that, with the clock standing still, the report never comes.
func TestJobClaimedDuringItsStepIsLookedAtAgain(t *testing.T) {
	sc := newSkippedClaim(t)
	sc.answer()
	select {
	case r := <-sc.reports:
		if r.Job.Outcome != faxbridge.OutcomeDelivered {
			t.Errorf("report outcome %q", r.Job.Outcome)
		}
	case <-time.After(30 * time.Second):
		// With a clock that stands still the claim never expires: without
		// the fix this is forever, not slow.
		t.Fatal("no report: the job stays claimed by a skipped claim")
	}
	sc.stop()
	if n := len(sc.reports); n != 0 {
		t.Errorf("%d more reports", n)
	}
	final, err := sc.db.Get(context.Background(), sc.job)
	if err != nil {
		t.Fatal(err)
	}
	if final.ReportState != faxbridge.ReportSent || final.FaxSID != "" {
		t.Errorf("job after the report: report %q, fax SID %q (the losing step's answer must not become the job's fax)", final.ReportState, final.FaxSID)
	}
	// The provider made a fax all the same: it is on record as an extra.
	if len(final.ExtraFaxes) != 1 || final.ExtraFaxes[0].SID != "FX1" || final.ExtraFaxes[0].Source != "answer" {
		t.Errorf("extra faxes %+v; want FX1 from the answer", final.ExtraFaxes)
	}
}

// A worker stopped while it holds such a claim lets go of it once the
// running step has ended, so that a restarted daemon (or another instance)
// can take the job at once rather than after the lease.
func TestStoppedWorkerReleasesSkippedClaim(t *testing.T) {
	sc := newSkippedClaim(t)
	// The stop is given before the step can end: otherwise the loop may
	// see the step end first and rightly go on to the report.
	sc.cancel()
	stopped := make(chan struct{})
	go func() {
		sc.stop()
		close(stopped)
	}()
	// Run waits for the step in flight: let it finish.
	sc.answer()
	within(t, stopped, "the worker's stop")
	if n := len(sc.reports); n != 0 {
		t.Errorf("%d reports from a worker that was stopped before the job's report step", n)
	}
	got, err := sc.db.Claim(context.Background(), "another-instance", sc.now, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != sc.job || got[0].State != faxbridge.StateDone {
		t.Errorf("another instance claims %d jobs (%v); want the settled job, free at once", len(got), got)
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

package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Ten handles (instances) race to admit one message each under a quota of
// three faxes per hour: exactly three get in, and the rest are refused with
// QuotaExceeded. A check outside the committing transaction would let them
// all pass.
func testAdmittedQuota(t *testing.T, open Opener) {
	const tries, limit = 10, 3
	ctx := t.Context()
	handles := make([]faxbridge.JobStore, tries)
	for i := range handles {
		handles[i] = Open(t, open)
	}
	adm := faxbridge.Admission{Sender: "user:carol", Limits: []faxbridge.UsageLimit{
		{Name: "hour", Since: base.Add(-time.Hour), Faxes: limit},
		{Name: "day", Since: base.Add(-24 * time.Hour), Pages: 1000},
	}}
	var wg sync.WaitGroup
	errs := make([]error, tries)
	start := make(chan struct{})
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := job(fmt.Sprintf("q%02d", i), time.Time{})
			j.Sender, j.Pages, j.CreatedAt = "user:carol", 2, base
			<-start
			errs[i] = handles[i].CreateAdmitted(ctx, []*faxbridge.Job{j}, adm)
		}()
	}
	close(start)
	wg.Wait()
	admitted := 0
	for i, err := range errs {
		var qe *faxbridge.QuotaExceeded
		switch {
		case err == nil:
			admitted++
		case errors.As(err, &qe):
			if qe.Limit.Name != "hour" || qe.Faxes != limit {
				t.Errorf("try %d: refusal %+v, want the hourly limit with %d used", i, qe, limit)
			}
		default:
			t.Errorf("try %d: %v", i, err)
		}
	}
	if admitted != limit {
		t.Errorf("%d messages admitted under a quota of %d", admitted, limit)
	}
	if f, _, err := handles[0].Usage(ctx, "user:carol", base.Add(-time.Hour)); err != nil || f != limit {
		t.Errorf("stored usage %d, %v; want %d", f, err, limit)
	}

	// A page limit counts the new jobs' pages too; other senders are
	// not affected.
	j := job("pages", time.Time{})
	j.Sender, j.Pages, j.CreatedAt = "user:dave", 6, base
	pageAdm := faxbridge.Admission{Sender: "user:dave", Limits: []faxbridge.UsageLimit{{Name: "hour", Since: base.Add(-time.Hour), Pages: 5}}}
	var qe *faxbridge.QuotaExceeded
	if err := handles[0].CreateAdmitted(ctx, []*faxbridge.Job{j}, pageAdm); !errors.As(err, &qe) || qe.PagesWanted != 6 {
		t.Errorf("6 pages under a limit of 5: %v", err)
	}
	if _, err := handles[0].Get(ctx, "pages"); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Errorf("a refused job was stored: %v", err)
	}
}

// A message key is admitted once within its replay window, and again once
// the window has moved past it.
func testAdmittedReplay(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	mk := func(id string, at time.Time) []*faxbridge.Job {
		j := job(id, time.Time{})
		j.CreatedAt = at
		return []*faxbridge.Job{j}
	}
	window := 7 * 24 * time.Hour
	adm := func(at time.Time) faxbridge.Admission {
		return faxbridge.Admission{MessageKey: "<abc@example.org>", ReplaySince: at.Add(-window)}
	}
	if err := s.CreateAdmitted(ctx, mk("r1", base), adm(base)); err != nil {
		t.Fatal(err)
	}
	later := base.Add(time.Hour)
	var rp *faxbridge.Replayed
	if err := s.CreateAdmitted(ctx, mk("r2", later), adm(later)); !errors.As(err, &rp) {
		t.Errorf("replay within the window: %v, want Replayed", err)
	}
	if _, err := s.Get(ctx, "r2"); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Errorf("a replayed message's job was stored: %v", err)
	}
	other := faxbridge.Admission{MessageKey: "<other@example.org>", ReplaySince: later.Add(-window)}
	if err := s.CreateAdmitted(ctx, mk("r3", later), other); err != nil {
		t.Errorf("another message: %v", err)
	}
	muchLater := base.Add(window + time.Hour)
	if err := s.CreateAdmitted(ctx, mk("r4", muchLater), adm(muchLater)); err != nil {
		t.Errorf("the same key after the window: %v", err)
	}
}

// CreateAdmitted stores a job as Create does (the same row, its fax SIDs
// found by GetBySID) and fails as Create does: a job whose ID is taken is
// a conflict, and the refused message's key is not spent by it.
func testAdmittedLikeCreate(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	adm := faxbridge.Admission{Sender: "user:erin", MessageKey: "<like@example.org>", ReplaySince: base.Add(-time.Hour),
		Limits: []faxbridge.UsageLimit{{Name: "hour", Since: base.Add(-time.Hour), Faxes: 10}}}
	j := job("a1", base)
	j.Sender, j.Pages, j.FaxSID = "user:erin", 2, "FXA1"
	j.Attempts = []faxbridge.Attempt{{Number: 1, FaxSID: "FXA1", StartedAt: base}}
	mustCreate(t, s, job("taken", time.Time{}))

	wantCode(t, "admit a job whose ID is taken", s.CreateAdmitted(ctx, []*faxbridge.Job{j, job("taken", time.Time{})}, adm), faxbridge.EConflict)
	if _, err := s.Get(ctx, "a1"); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Errorf("a job of a refused batch was stored: %v", err)
	}
	wantCode(t, "admit a job without an ID", s.CreateAdmitted(ctx, []*faxbridge.Job{{}}, adm), faxbridge.EInvalid)

	if err := s.CreateAdmitted(ctx, []*faxbridge.Job{j}, adm); err != nil {
		t.Fatalf("the message after its refused batch: %v", err)
	}
	got := mustGet(t, s, "a1")
	if got.Sender != j.Sender || got.Pages != j.Pages || got.Version != j.Version || !got.NextAt.Equal(base) {
		t.Errorf("admitted job read back as %+v", got)
	}
	if bySID, err := s.GetBySID(ctx, "FXA1"); err != nil || bySID.ID != "a1" {
		t.Errorf("GetBySID of an admitted job's fax SID: %v, %v", bySID, err)
	}
	if faxes, pages, err := s.Usage(ctx, "user:erin", base.Add(-time.Hour)); err != nil || faxes != 1 || pages != 2 {
		t.Errorf("usage after admitting: %d faxes, %d pages, %v", faxes, pages, err)
	}
}

// CountActive agrees with reading every active job, which a metrics scrape
// must not do.
func testCountActive(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	mk := func(id string, st faxbridge.State, active bool, rs faxbridge.ReportState, subject string) *faxbridge.Job {
		j := job(id, time.Time{})
		if active {
			j.NextAt = base
		}
		j.State, j.ReportState, j.Subject = st, rs, subject
		return j
	}
	mustCreate(t, s,
		mk("q1", faxbridge.StateQueued, true, "", ""),
		mk("q2", faxbridge.StateQueued, true, "", `"report_state":"pending"`), // a subject cannot pass for a field
		mk("s1", faxbridge.StateSending, true, "", ""),
		mk("d1", faxbridge.StateDone, true, faxbridge.ReportPending, ""),
		mk("d2", faxbridge.StateDone, true, faxbridge.ReportSent, ""), // cleanup left
		mk("d3", faxbridge.StateDone, false, faxbridge.ReportSent, ""),
	)
	got, err := s.CountActive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[faxbridge.State]int{faxbridge.StateQueued: 2, faxbridge.StateSending: 1, faxbridge.StateDone: 2}
	if fmt.Sprint(got.ByState) != fmt.Sprint(want) || got.ReportsPending != 1 {
		t.Errorf("CountActive = %v, %d pending; want %v, 1", got.ByState, got.ReportsPending, want)
	}
}

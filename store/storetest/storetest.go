// Package storetest is the conformance suite for faxbridge.JobStore
// implementations. A backend's test calls Run with a function that makes a
// fresh, empty database for each test.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Opener opens a new handle on one database. Each call stands for another
// faxbridge instance starting against the same database: its own connections,
// its own schema check.
type Opener func(ctx context.Context) (faxbridge.JobStore, error)

// Fresh makes a new, empty database for the test t and returns an Opener for
// it. It removes the database in t's cleanup.
type Fresh func(t *testing.T) Opener

// Run runs every conformance test against the backend that fresh makes.
func Run(t *testing.T, fresh Fresh) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"CreateAtomic", testCreateAtomic},
		{"Update", testUpdate},
		{"UpdateFromEveryRead", testUpdateFromEveryRead},
		{"ConcurrentUpdate", testConcurrentUpdate},
		{"GetBySID", testGetBySID},
		{"Claim", testClaim},
		{"ConcurrentClaim", testConcurrentClaim},
		{"Release", testRelease},
		{"List", testList},
		{"NextDue", testNextDue},
		{"Usage", testUsage},
		{"AdmittedQuota", testAdmittedQuota},
		{"AdmittedReplay", testAdmittedReplay},
		{"AdmittedLikeCreate", testAdmittedLikeCreate},
		{"CountActive", testCountActive},
		{"Search", testSearch},
		{"SearchText", testSearchText},
		{"MailedTo", testMailedTo},
		{"Sessions", testSessions},
		{"Audit", testAudit},
		{"Reopen", testReopen},
		{"ConcurrentOpen", testConcurrentOpen},
		{"Purge", testPurge},
		{"Reserve", testReserve},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, fresh(t))
		})
	}
}

// Open opens a handle and closes it when t ends.
func Open(t testing.TB, open Opener) faxbridge.JobStore {
	t.Helper()
	s, err := open(t.Context())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// base is the reference time of the tests; nanoseconds check that times
// survive at full precision.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// FullJob returns a job with every field set to a distinct value, so a field
// lost or swapped on the way through a store shows up in a comparison.
func FullJob(id string) *faxbridge.Job {
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	return &faxbridge.Job{
		ID:         id,
		Version:    7,
		State:      faxbridge.StateSending,
		CreatedAt:  at(0),
		UpdatedAt:  at(1),
		MailFrom:   "alice@example.com",
		ReportTo:   "Alice <alice@example.com>",
		MessageID:  "<m1@example.com>",
		Subject:    "Contract \u00e9t\u00e9 \x00 nul",
		RemoteAddr: "192.0.2.1:4242",
		Destination: faxbridge.Destination{
			To:              "+15551234567",
			Contact:         "Bob",
			SipAuthUsername: "sipuser",
			SipAuthPassword: "sippass",
		},
		From:           "+15557654321",
		Quality:        "fine",
		DocumentKey:    "docs/" + id,
		DocumentBytes:  123456,
		DocumentSHA256: "ab12",
		Pages:          3,
		Documents: []faxbridge.DocumentInfo{
			{Name: "a.pdf", Type: "pdf", Bytes: 1000, Pages: 2, SHA256: "aa"},
			{Name: "b.png", Type: "png", Bytes: 2000, Pages: 1, SHA256: "bb"},
		},
		Skipped:        []string{"c.docx: unsupported type"},
		MediaURL:       "https://media.example/" + id,
		MediaExpiresAt: at(2),
		IntentAt:       at(3),
		FaxSID:         id + "-sid-2",
		Attempts: []faxbridge.Attempt{
			{Number: 1, Quality: "fine", FaxSID: id + "-sid-1", StartedAt: at(4), Status: "busy", Pages: 1, Duration: 30, ErrorCode: "e1", ErrorMessage: "line busy"},
			{Number: 2, Quality: "standard", FaxSID: id + "-sid-2", StartedAt: at(5), Status: "sending"},
		},
		SendErrors:      2,
		LastError:       "rate limited",
		Polls:           4,
		Outcome:         faxbridge.OutcomeFailed,
		FaxStatus:       "failed",
		NumPages:        5,
		Duration:        61,
		RemoteStationID: "REMOTE",
		ErrorCode:       "e2",
		ErrorMessage:    "no carrier",
		Reason:          "the line was busy",
		FinishedAt:      at(6),
		ReportState:     faxbridge.ReportPending,
		ReportTries:     1,
		ReportSentAt:    at(7),
		ReportDeadline:  at(8),
		KeepDocument:    true,
		CleanedAt:       at(9),
		NextAt:          at(10),
	}
}

// job returns a small queued job due at next (zero for none).
func job(id string, next time.Time) *faxbridge.Job {
	return &faxbridge.Job{
		ID:        id,
		Version:   1,
		State:     faxbridge.StateQueued,
		CreatedAt: base,
		UpdatedAt: base,
		NextAt:    next,
	}
}

func wantCode(t *testing.T, what string, err error, code faxbridge.Code) {
	t.Helper()
	if got := faxbridge.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (%v), want %q", what, got, err, code)
	}
}

func mustCreate(t *testing.T, s faxbridge.JobStore, jobs ...*faxbridge.Job) {
	t.Helper()
	if err := s.Create(t.Context(), jobs); err != nil {
		t.Fatalf("create: %v", err)
	}
}

func mustGet(t *testing.T, s faxbridge.JobStore, id string) *faxbridge.Job {
	t.Helper()
	j, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return j
}

func sameJob(t *testing.T, what string, got, want *faxbridge.Job) {
	t.Helper()
	// Stored is the store's own note, not part of the job.
	g, w := *got, *want
	g.Stored, w.Stored = nil, nil
	if !reflect.DeepEqual(&g, &w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func ids(jobs []*faxbridge.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func sameIDs(t *testing.T, what string, jobs []*faxbridge.Job, want ...string) {
	t.Helper()
	if got := ids(jobs); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func testRoundTrip(t *testing.T, open Opener) {
	s := Open(t, open)
	full := FullJob("full")
	bare := &faxbridge.Job{ID: "bare", State: faxbridge.StateQueued}
	mustCreate(t, s, full, bare)
	sameJob(t, "full job", mustGet(t, s, "full"), full)
	sameJob(t, "bare job", mustGet(t, s, "bare"), bare)
	if full.Version != 7 {
		t.Fatalf("Create changed Version to %d", full.Version)
	}

	got, err := s.List(t.Context(), faxbridge.JobFilter{State: faxbridge.StateSending})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("list: %d jobs, want 1", len(got))
	}
	sameJob(t, "listed job", got[0], full)
}

func testNotFound(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	_, err := s.Get(ctx, "nope")
	wantCode(t, "Get", err, faxbridge.ENotFound)
	_, err = s.GetBySID(ctx, "nope")
	wantCode(t, "GetBySID", err, faxbridge.ENotFound)
	_, err = s.GetBySID(ctx, "")
	wantCode(t, "GetBySID empty", err, faxbridge.ENotFound)
	wantCode(t, "Update", s.Update(ctx, job("nope", time.Time{})), faxbridge.ENotFound)
	wantCode(t, "Release", s.Release(ctx, "nope", "w"), faxbridge.ENotFound)
}

func testCreateAtomic(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()

	// A duplicate inside the batch: nothing of the batch is stored.
	a, b, a2 := FullJob("a"), FullJob("b"), FullJob("a")
	wantCode(t, "duplicate in batch", s.Create(ctx, []*faxbridge.Job{a, b, a2}), faxbridge.EConflict)
	for _, id := range []string{"a", "b"} {
		_, err := s.Get(ctx, id)
		wantCode(t, "get "+id+" after failed batch", err, faxbridge.ENotFound)
	}
	_, err := s.GetBySID(ctx, "b-sid-1")
	wantCode(t, "sid of failed batch", err, faxbridge.ENotFound)

	// A clash with a stored job: the new ones are not stored, the old one
	// is untouched.
	c := FullJob("c")
	mustCreate(t, s, c)
	c2 := FullJob("c")
	c2.Subject = "replacement"
	wantCode(t, "duplicate of stored job", s.Create(ctx, []*faxbridge.Job{FullJob("d"), c2}), faxbridge.EConflict)
	_, err = s.Get(ctx, "d")
	wantCode(t, "get d after failed batch", err, faxbridge.ENotFound)
	sameJob(t, "stored job after clash", mustGet(t, s, "c"), c)

	wantCode(t, "empty ID", s.Create(ctx, []*faxbridge.Job{{State: faxbridge.StateQueued}}), faxbridge.EInvalid)
	if err := s.Create(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

func testUpdate(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	mustCreate(t, s, FullJob("u"))
	mine, stale := mustGet(t, s, "u"), mustGet(t, s, "u")

	mine.State = faxbridge.StateDone
	mine.NextAt = time.Time{}
	mine.Subject = "changed"
	if err := s.Update(ctx, mine); err != nil {
		t.Fatalf("update: %v", err)
	}
	if mine.Version != 8 {
		t.Fatalf("version after update = %d, want 8", mine.Version)
	}
	sameJob(t, "after update", mustGet(t, s, "u"), mine)

	stale.Subject = "lost"
	wantCode(t, "stale update", s.Update(ctx, stale), faxbridge.EConflict)
	if stale.Version != 7 {
		t.Fatalf("a failed update changed Version to %d", stale.Version)
	}
	sameJob(t, "after stale update", mustGet(t, s, "u"), mine)

	// The indexed columns follow the job.
	active, err := s.List(ctx, faxbridge.JobFilter{Active: true})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "active after finishing", active)
	done, err := s.List(ctx, faxbridge.JobFilter{State: faxbridge.StateDone})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "done after finishing", done, "u")

	mine.Subject = "again"
	if err := s.Update(ctx, mine); err != nil {
		t.Fatalf("second update: %v", err)
	}
	if got := mustGet(t, s, "u"); got.Version != 9 || got.Subject != "again" {
		t.Fatalf("after second update: version %d subject %q", got.Version, got.Subject)
	}
}

// testConcurrentUpdate checks that optimistic locking loses no update: each
// writer retries on conflict until its increment lands.
func testConcurrentUpdate(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	mustCreate(t, s, job("c", time.Time{}))
	const writers = 8
	errs := make(chan error, writers)
	for range writers {
		go func() {
			for try := 0; try < 1000; try++ {
				j, err := s.Get(ctx, "c")
				if err != nil {
					errs <- err
					return
				}
				j.Polls++
				err = s.Update(ctx, j)
				if faxbridge.ErrorCode(err) == faxbridge.EConflict {
					continue
				}
				errs <- err
				return
			}
			errs <- errors.New("still conflicting after 1000 tries")
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("writer: %v", err)
		}
	}
	got := mustGet(t, s, "c")
	if got.Polls != writers || got.Version != 1+writers {
		t.Fatalf("after %d writers: polls %d version %d", writers, got.Polls, got.Version)
	}
}

func testGetBySID(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	j := job("s", base)
	j.FaxSID = "FX1"
	j.Attempts = []faxbridge.Attempt{{Number: 1, FaxSID: "FX1", StartedAt: base}}
	mustCreate(t, s, j, job("other", base))

	got, err := s.GetBySID(ctx, "FX1")
	if err != nil {
		t.Fatalf("first SID: %v", err)
	}
	sameJob(t, "by first SID", got, j)

	// A retry: the current SID changes, the first stays in Attempts.
	j.FaxSID = "FX2"
	j.Attempts = append(j.Attempts, faxbridge.Attempt{Number: 2, FaxSID: "FX2", StartedAt: base.Add(time.Minute)})
	if err := s.Update(ctx, j); err != nil {
		t.Fatal(err)
	}
	// A SID known only from an attempt (the current one not yet recorded).
	j.Attempts = append(j.Attempts, faxbridge.Attempt{Number: 3, FaxSID: "FX3", StartedAt: base.Add(2 * time.Minute)})
	if err := s.Update(ctx, j); err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"FX1", "FX2", "FX3"} {
		got, err := s.GetBySID(ctx, sid)
		if err != nil {
			t.Fatalf("SID %s: %v", sid, err)
		}
		sameJob(t, "by SID "+sid, got, j)
	}
	_, err = s.GetBySID(ctx, "FX4")
	wantCode(t, "unknown SID", err, faxbridge.ENotFound)

	// An extra fax is found by its SID too.
	j.ExtraFaxes = []faxbridge.ExtraFax{{SID: "FX9", Source: "listing", SeenAt: base}}
	if err := s.Update(ctx, j); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetBySID(ctx, "FX9"); err != nil || got.ID != j.ID {
		t.Fatalf("extra fax SID: %v, %v", got, err)
	}

	// One fax is only one job's: another job naming a recorded SID (two
	// reconciliations adopting the same fax) is refused and not written.
	other := mustGet(t, s, "other")
	before := other.Version
	other.FaxSID = "FX2"
	other.Attempts = []faxbridge.Attempt{{Number: 1, FaxSID: "FX2", StartedAt: base}}
	err = s.Update(ctx, other)
	wantCode(t, "another job's SID", err, faxbridge.EConflict)
	if !errors.Is(err, faxbridge.ErrFaxTaken) {
		t.Errorf("another job's SID: %v, want ErrFaxTaken", err)
	}
	if got := mustGet(t, s, "other"); got.Version != before || got.FaxSID != "" {
		t.Errorf("the refused update was written: version %d→%d, fax %q", before, got.Version, got.FaxSID)
	}
	if got, err := s.GetBySID(ctx, "FX2"); err != nil || got.ID != j.ID {
		t.Errorf("FX2 now belongs to %v (%v), want %s", got, err, j.ID)
	}
}

func testClaim(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	now := base.Truncate(time.Millisecond)
	lease := time.Minute
	mustCreate(t, s,
		job("due2", now.Add(-1*time.Minute)),
		job("due1", now.Add(-2*time.Minute)),
		job("due3", now), // due exactly now: included
		job("soon", now.Add(500*time.Microsecond)),
		job("later", now.Add(time.Hour)),
		job("idle", time.Time{}),
	)

	_, err := s.Claim(ctx, "", now, lease, 10)
	wantCode(t, "claim without owner", err, faxbridge.EInvalid)
	got, err := s.Claim(ctx, "A", now, lease, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("claim with limit 0: %v, %v", ids(got), err)
	}

	got, err = s.Claim(ctx, "A", now, lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "first claim", got, "due1", "due2", "due3")
	sameJob(t, "claimed job", got[0], mustGet(t, s, "due1"))

	// A job due a fraction of a millisecond from now is not due yet.
	got, err = s.Claim(ctx, "B", now, lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim while leased", got)
	got, err = s.Claim(ctx, "B", now.Add(time.Millisecond), lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim a millisecond later", got, "soon")

	// A's leases run until now+lease; the limit caps what B takes after.
	got, err = s.Claim(ctx, "B", now.Add(lease-time.Millisecond), lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim just before expiry", got)
	got, err = s.Claim(ctx, "B", now.Add(lease), lease, 2)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim at expiry with limit 2", got, "due1", "due2")

	// The holder's update ends its lease even when the job stays due.
	j := got[1]
	j.State = faxbridge.StateSubmitting
	if err := s.Update(ctx, j); err != nil {
		t.Fatal(err)
	}
	got, err = s.Claim(ctx, "C", now.Add(lease), lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim after update", got, "due2", "due3")
	if got[0].State != faxbridge.StateSubmitting || got[0].Version != j.Version {
		t.Fatalf("claimed job is stale: state %s version %d", got[0].State, got[0].Version)
	}

	// A job pushed into the future or finished is not claimed again; B's
	// leases have run out by then.
	for _, j := range got {
		j.NextAt = time.Time{}
		if j.ID == "due3" {
			j.NextAt = now.Add(2 * time.Hour)
		}
		if err := s.Update(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.Claim(ctx, "D", now.Add(time.Hour), lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim an hour on", got, "due1", "soon", "later")
}

// testConcurrentClaim runs claimers on two handles (two instances) at once
// and checks that no job is handed out twice and none is left behind.
func testConcurrentClaim(t *testing.T, open Opener) {
	h1, h2 := Open(t, open), Open(t, open)
	ctx := t.Context()
	now := base.Truncate(time.Millisecond)
	const n = 120
	var all []*faxbridge.Job
	for i := range n {
		all = append(all, job(fmt.Sprintf("j%03d", i), now.Add(-time.Duration(i%7)*time.Second)))
	}
	mustCreate(t, h1, all...)

	type result struct {
		ids []string
		err error
	}
	const perHandle = 2
	results := make(chan result, 2*perHandle)
	var start sync.WaitGroup
	start.Add(1)
	for i, h := range []faxbridge.JobStore{h1, h2, h1, h2} {
		go func() {
			start.Wait()
			var r result
			owner := fmt.Sprintf("w%d", i)
			for {
				got, err := h.Claim(ctx, owner, now, time.Hour, 5)
				if err != nil {
					r.err = err
					break
				}
				if len(got) == 0 {
					break
				}
				r.ids = append(r.ids, ids(got)...)
			}
			results <- r
		}()
	}
	start.Done()
	seen := map[string]int{}
	for range 2 * perHandle {
		r := <-results
		if r.err != nil {
			t.Errorf("claimer: %v", r.err)
		}
		for _, id := range r.ids {
			seen[id]++
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, j := range all {
		if seen[j.ID] != 1 {
			t.Errorf("job %s claimed %d times", j.ID, seen[j.ID])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct jobs claimed, want %d", len(seen), n)
	}
}

func testRelease(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	now := base.Truncate(time.Millisecond)
	mustCreate(t, s, job("r", now))
	got, err := s.Claim(ctx, "A", now, time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim", got, "r")

	// Someone else's release does nothing.
	if err := s.Release(ctx, "r", "B"); err != nil {
		t.Fatalf("release by non-owner: %v", err)
	}
	got, err = s.Claim(ctx, "B", now, time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim after foreign release", got)

	if err := s.Release(ctx, "r", "A"); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := s.Release(ctx, "r", "A"); err != nil {
		t.Fatalf("second release: %v", err)
	}
	got, err = s.Claim(ctx, "B", now, time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim after release", got, "r")
	if got[0].Version != 1 {
		t.Fatalf("claim or release changed the version to %d", got[0].Version)
	}
}

func testList(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	mk := func(id string, age time.Duration, st faxbridge.State, active bool) *faxbridge.Job {
		j := job(id, time.Time{})
		j.CreatedAt = base.Add(-age)
		j.State = st
		if active {
			j.NextAt = base
		}
		return j
	}
	mustCreate(t, s,
		mk("old", 4*time.Hour, faxbridge.StateDone, false),
		mk("newest", 0, faxbridge.StateQueued, true),
		mk("mid", 2*time.Hour, faxbridge.StateSending, true),
		mk("doneActive", 3*time.Hour, faxbridge.StateDone, true), // report pending
		mk("new", time.Hour, faxbridge.StateSending, false),
	)
	in := mk("inbound", 30*time.Minute, faxbridge.StateDone, false)
	in.Direction = faxbridge.Inbound
	mustCreate(t, s, in)
	tests := []struct {
		f    faxbridge.JobFilter
		want []string
	}{
		{faxbridge.JobFilter{}, []string{"newest", "inbound", "new", "mid", "doneActive", "old"}},
		{faxbridge.JobFilter{Limit: 2}, []string{"newest", "inbound"}},
		{faxbridge.JobFilter{State: faxbridge.StateSending}, []string{"new", "mid"}},
		{faxbridge.JobFilter{State: faxbridge.StateDone}, []string{"inbound", "doneActive", "old"}},
		{faxbridge.JobFilter{Direction: faxbridge.Inbound}, []string{"inbound"}},
		{faxbridge.JobFilter{Direction: faxbridge.Outbound, State: faxbridge.StateDone}, []string{"doneActive", "old"}},
		{faxbridge.JobFilter{Active: true}, []string{"newest", "mid", "doneActive"}},
		{faxbridge.JobFilter{State: faxbridge.StateDone, Active: true}, []string{"doneActive"}},
		{faxbridge.JobFilter{State: faxbridge.StateSending, Active: true, Limit: 1}, []string{"mid"}},
		{faxbridge.JobFilter{State: faxbridge.StateSubmitting}, nil},
	}
	for _, tc := range tests {
		got, err := s.List(ctx, tc.f)
		if err != nil {
			t.Fatalf("list %+v: %v", tc.f, err)
		}
		sameIDs(t, fmt.Sprintf("list %+v", tc.f), got, tc.want...)
	}
}

func testNextDue(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	due := func() time.Time {
		t.Helper()
		d, err := s.NextDue(ctx)
		if err != nil {
			t.Fatalf("next due: %v", err)
		}
		return d
	}
	if d := due(); !d.IsZero() {
		t.Fatalf("next due of an empty store: %v", d)
	}
	now := base.Truncate(time.Millisecond)
	mustCreate(t, s, job("idle", time.Time{}), job("later", now.Add(5*time.Minute)), job("first", now))
	if d := due(); !d.Equal(now) {
		t.Fatalf("next due = %v, want %v", d, now)
	}

	// A leased job is due for a claim only when its lease ends.
	got, err := s.Claim(ctx, "A", now, 10*time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim", got, "first")
	if d := due(); !d.Equal(now.Add(5 * time.Minute)) {
		t.Fatalf("next due with the first job leased = %v, want %v", d, now.Add(5*time.Minute))
	}
	// Both held: the earlier end of a lease.
	got, err = s.Claim(ctx, "A", now.Add(5*time.Minute), time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "second claim", got, "later")
	if d := due(); !d.Equal(now.Add(6 * time.Minute)) {
		t.Fatalf("next due with both jobs leased = %v, want %v (the end of the shorter lease)", d, now.Add(6*time.Minute))
	}

	for _, id := range []string{"first", "later"} {
		j := mustGet(t, s, id)
		j.NextAt = time.Time{}
		if err := s.Update(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if d := due(); !d.IsZero() {
		t.Fatalf("next due with nothing active: %v", d)
	}
}

// testReopen closes the only handle and checks that a new one finds
// everything: what was committed survives a restart.
func testReopen(t *testing.T, open Opener) {
	ctx := t.Context()
	s, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	j := FullJob("keep")
	j.NextAt = base.Add(-time.Hour)
	if err := s.Create(ctx, []*faxbridge.Job{j}); err != nil {
		t.Fatal(err)
	}
	j.Attempts = append(j.Attempts, faxbridge.Attempt{Number: 3, FaxSID: "keep-sid-3", StartedAt: base})
	j.FaxSID = "keep-sid-3"
	if err := s.Update(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s2 := Open(t, open)
	sameJob(t, "after reopen", mustGet(t, s2, "keep"), j)
	got, err := s2.GetBySID(ctx, "keep-sid-1")
	if err != nil {
		t.Fatalf("earlier SID after reopen: %v", err)
	}
	sameJob(t, "by SID after reopen", got, j)
	claimed, err := s2.Claim(ctx, "A", base, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "claim after reopen", claimed, "keep")
}

// testConcurrentOpen starts several instances against a new database at
// once: the schema set-up must not trip over itself.
func testConcurrentOpen(t *testing.T, open Opener) {
	const n = 4
	type result struct {
		s   faxbridge.JobStore
		err error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			s, err := open(t.Context())
			results <- result{s, err}
		}()
	}
	var stores []faxbridge.JobStore
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("concurrent open: %v", r.err)
			continue
		}
		stores = append(stores, r.s)
	}
	t.Cleanup(func() {
		for _, s := range stores {
			s.Close()
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	for i, s := range stores {
		mustCreate(t, s, job(fmt.Sprintf("o%d", i), time.Time{}))
	}
	got, err := stores[0].List(t.Context(), faxbridge.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d jobs after creating one per instance, want %d", len(got), n)
	}
}

func testUsage(t *testing.T, open Opener) {
	s := Open(t, open)
	ctx := t.Context()
	mk := func(id, sender string, age time.Duration, pages int) *faxbridge.Job {
		j := job(id, time.Time{})
		j.Sender, j.Pages, j.CreatedAt = sender, pages, base.Add(-age)
		return j
	}
	mustCreate(t, s,
		mk("a1", "alice", 10*time.Minute, 3),
		mk("a2", "alice", 50*time.Minute, 2),
		mk("a3", "alice", 3*time.Hour, 7),
		mk("b1", "scanners", time.Minute, 1),
	)
	tests := []struct {
		sender       string
		since        time.Duration
		faxes, pages int
	}{
		{"alice", time.Hour, 2, 5},
		{"alice", 24 * time.Hour, 3, 12},
		{"scanners", time.Hour, 1, 1},
		{"nobody", time.Hour, 0, 0},
	}
	for _, tt := range tests {
		f, p, err := s.Usage(ctx, tt.sender, base.Add(-tt.since))
		if err != nil || f != tt.faxes || p != tt.pages {
			t.Errorf("Usage(%s, %v) = %d faxes, %d pages, %v; want %d, %d", tt.sender, tt.since, f, p, err, tt.faxes, tt.pages)
		}
	}
}

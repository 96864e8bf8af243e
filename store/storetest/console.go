package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

func consoleStore(t *testing.T, open Opener) (faxbridge.JobStore, faxbridge.ConsoleStore) {
	t.Helper()
	s := Open(t, open)
	cs, ok := s.(faxbridge.ConsoleStore)
	if !ok {
		t.Fatalf("%T does not implement faxbridge.ConsoleStore", s)
	}
	return s, cs
}

// Search filters by every field the console offers, matches text in the
// number, sender, subject and every attempt's SID (also after an update),
// and pages by keyset without skipping or repeating a job, including jobs
// created in the same millisecond.
func testSearch(t *testing.T, open Opener) {
	s, cs := consoleStore(t, open)
	ctx := t.Context()
	mk := func(id string, age time.Duration, st faxbridge.State, to, sender, subject string) *faxbridge.Job {
		j := job(id, time.Time{})
		j.CreatedAt = base.Add(-age)
		j.State, j.Destination.To, j.Sender, j.Subject = st, to, sender, subject
		return j
	}
	in := mk("in1", 90*time.Minute, faxbridge.StateDone, "+15550001111", "", "")
	in.Direction = faxbridge.Inbound
	mustCreate(t, s,
		mk("a", 0, faxbridge.StateQueued, "+15551234567", "user:alice", "Invoice 100%"),
		mk("b", time.Hour, faxbridge.StateDone, "+4930123456", "user:bob", "Contract_draft"),
		mk("c", 2*time.Hour, faxbridge.StateSending, "+15551234567", "user:bob", "Lease"),
		in,
	)
	c, err := s.Get(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	c.FaxSID = "sid-second"
	c.Attempts = []faxbridge.Attempt{{Number: 1, FaxSID: "SID-First"}, {Number: 2, FaxSID: "sid-second"}}
	if err := s.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    faxbridge.JobQuery
		want []string
	}{
		{"all", faxbridge.JobQuery{}, []string{"a", "b", "in1", "c"}},
		{"outbound", faxbridge.JobQuery{Direction: faxbridge.Outbound}, []string{"a", "b", "c"}},
		{"inbound", faxbridge.JobQuery{Direction: faxbridge.Inbound}, []string{"in1"}},
		{"state", faxbridge.JobQuery{State: faxbridge.StateDone}, []string{"b", "in1"}},
		{"sender", faxbridge.JobQuery{Sender: "user:bob"}, []string{"b", "c"}},
		{"number as typed", faxbridge.JobQuery{Text: "(555) 123-4567"}, []string{"a", "c"}},
		{"number with plus", faxbridge.JobQuery{Text: "+49 30"}, []string{"b"}},
		{"subject any case", faxbridge.JobQuery{Text: "INVOICE"}, []string{"a"}},
		{"percent is literal", faxbridge.JobQuery{Text: "100%"}, []string{"a"}},
		{"underscore is literal", faxbridge.JobQuery{Text: "t_d"}, []string{"b"}},
		{"earlier attempt SID", faxbridge.JobQuery{Text: "sid-first"}, []string{"c"}},
		{"sender name", faxbridge.JobQuery{Text: "alice"}, []string{"a"}},
		{"no match", faxbridge.JobQuery{Text: "nothing like it"}, nil},
		{"since", faxbridge.JobQuery{Since: base.Add(-time.Hour)}, []string{"a", "b"}},
		{"until", faxbridge.JobQuery{Until: base.Add(-time.Hour)}, []string{"in1", "c"}},
		{"sender and text", faxbridge.JobQuery{Sender: "user:alice", Text: "lease"}, nil},
	}
	for _, tc := range tests {
		got, err := cs.Search(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, ids(got), tc.want)
		}
	}
	if got, _ := cs.Search(ctx, faxbridge.JobQuery{}); len(got) > 0 && got[0].Version != 1 {
		t.Errorf("search returned version %d, want 1", got[0].Version)
	}

	// Keyset paging over jobs sharing one creation time.
	var many []*faxbridge.Job
	for i := range 7 {
		j := job(fmt.Sprintf("p%d", i), time.Time{})
		j.CreatedAt, j.Sender = base.Add(-time.Minute), "user:pager"
		many = append(many, j)
	}
	mustCreate(t, s, many...)
	var seen []string
	q := faxbridge.JobQuery{Sender: "user:pager", Limit: 3}
	for range 5 {
		page, err := cs.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, ids(page)...)
		last := page[len(page)-1]
		q.After = &faxbridge.JobCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	want := []string{"p6", "p5", "p4", "p3", "p2", "p1", "p0"}
	if !slices.Equal(seen, want) {
		t.Errorf("pages: got %v, want %v", seen, want)
	}

	// A subject far longer than an index entry may be is stored, updated
	// and found by its number.
	long := job("long", time.Time{})
	long.Destination.To, long.Subject = "+15559990000", strings.Repeat("Ünïcode subject ", 1000)
	mustCreate(t, s, long)
	if err := s.Update(ctx, long); err != nil {
		t.Fatalf("update a job with a long subject: %v", err)
	}
	if got, err := cs.Search(ctx, faxbridge.JobQuery{Text: "5559990000"}); err != nil || !slices.Equal(ids(got), []string{"long"}) {
		t.Errorf("search for the long-subject job: %v %v", ids(got), err)
	}
}

// Sessions survive a reopen (another instance sees them), are touched
// forward only, and expired ones are cleared when a new one is created.
func testSessions(t *testing.T, open Opener) {
	_, cs := consoleStore(t, open)
	ctx := t.Context()
	old := faxbridge.Session{ID: "old", User: "alice", CSRF: "c1", CreatedAt: base.Add(-48 * time.Hour), SeenAt: base.Add(-48 * time.Hour)}
	if err := cs.CreateSession(ctx, old, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	cur := faxbridge.Session{ID: "cur", User: "bob", CSRF: "c2", CreatedAt: base, SeenAt: base}
	if err := cs.CreateSession(ctx, cur, base.Add(-time.Hour), base.Add(-12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err := cs.Session(ctx, "old")
	wantCode(t, "expired session", err, faxbridge.ENotFound)

	_, other := consoleStore(t, open)
	got, err := other.Session(ctx, "cur")
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "bob" || got.CSRF != "c2" || !got.CreatedAt.Equal(base.Truncate(time.Millisecond)) {
		t.Errorf("session = %+v", got)
	}
	if err := cs.TouchSession(ctx, "cur", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := other.TouchSession(ctx, "cur", base.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ = cs.Session(ctx, "cur")
	if want := base.Add(time.Minute).Truncate(time.Millisecond); !got.SeenAt.Equal(want) {
		t.Errorf("seen at %v, want %v", got.SeenAt, want)
	}
	if err := cs.DeleteSession(ctx, "cur"); err != nil {
		t.Fatal(err)
	}
	if err := cs.DeleteSession(ctx, "cur"); err != nil {
		t.Fatalf("deleting a deleted session: %v", err)
	}
	_, err = cs.Session(ctx, "cur")
	wantCode(t, "deleted session", err, faxbridge.ENotFound)
	err = cs.CreateSession(ctx, faxbridge.Session{ID: "x"}, time.Time{}, time.Time{})
	wantCode(t, "session without user", err, faxbridge.EInvalid)
}

// The audit log keeps each job's entries in order and apart from others'.
func testAudit(t *testing.T, open Opener) {
	_, cs := consoleStore(t, open)
	ctx := t.Context()
	entries := []faxbridge.AuditEntry{
		{JobID: "j1", At: base.Add(2 * time.Second), User: "alice", Action: "cancel", Detail: "canceled"},
		{JobID: "j1", At: base, User: "alice", Action: "retry"},
		{JobID: "j2", At: base, User: "bob", Action: "resend", Detail: "new fax j3"},
		{At: base, User: "bob", Action: "sign-in"},
	}
	for _, e := range entries {
		if err := cs.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := cs.AuditLog(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range got {
		actions = append(actions, e.User+" "+e.Action+" "+e.Detail)
	}
	if want := []string{"alice retry ", "alice cancel canceled"}; !slices.Equal(actions, want) {
		t.Errorf("audit log of j1: %q, want %q", actions, want)
	}
	if len(got) == 2 && (!got[0].At.Equal(base.Truncate(time.Millisecond)) || got[0].ID == "") {
		t.Errorf("entry = %+v", got[0])
	}
	if got, _ := cs.AuditLog(ctx, "none"); len(got) != 0 {
		t.Errorf("audit log of an unknown job: %v", got)
	}
}

// Text search is a case-insensitive substring test, whether a trigram
// index serves it (terms of three characters or more) or rows are read
// (shorter terms): both find the same jobs, follow every update and
// forget deleted jobs.
func testSearchText(t *testing.T, open Opener) {
	s, cs := consoleStore(t, open)
	ctx := t.Context()
	mk := func(id string, age time.Duration, to, subject string) *faxbridge.Job {
		j := job(id, time.Time{})
		j.CreatedAt, j.UpdatedAt = base.Add(-age), base.Add(-age)
		j.Destination.To, j.Subject = to, subject
		return j
	}
	mustCreate(t, s,
		mk("a", 0, "+15551234567", `Quote "draft" for Müller`),
		mk("b", time.Minute, "+4930123456", "Lease renewal"),
		mk("c", 2*time.Minute, "+15557654321", "LEASE 2 of 2"),
	)
	search := func(what, text string, want ...string) {
		t.Helper()
		got, err := cs.Search(ctx, faxbridge.JobQuery{Text: text})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if g := ids(got); !slices.Equal(g, want) && (len(g) > 0 || len(want) > 0) {
			t.Errorf("%s (%q): got %v, want %v", what, text, g, want)
		}
	}
	search("indexed, any case", "LeAsE", "b", "c")
	search("indexed, inside a word", "enew", "b")
	search("indexed, across fields", "lease renewal", "b")
	search("indexed, not there", "leases", nil...)
	search("indexed, a rare number", "5557654321", "c")
	search("indexed, quotes are literal", `"draft"`, "a")
	search("indexed, a lone quote", `e "d`, "a")
	search("indexed, non-ASCII", "MÜLLER", "a")
	search("indexed, three characters", "555", "a", "c")
	search("short, two characters", "49", "b")
	search("short, one character", "ü", "a")
	search("short, not there", "zq", nil...)
	search("short, two non-ASCII", "ül", "a")

	// An update that changes the text moves the job in the index; one
	// that does not leaves it where it is.
	b := mustGet(t, s, "b")
	b.Subject = "Invoice 7"
	if err := s.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.State = faxbridge.StateSending
	if err := s.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	search("after an update, old text", "renewal", nil...)
	search("after an update, new text", "invoice", "b")

	// Purged jobs are gone from the index too.
	for _, id := range []string{"a", "c"} {
		j := mustGet(t, s, id)
		j.State, j.Outcome, j.NextAt = faxbridge.StateDone, faxbridge.OutcomeDelivered, time.Time{}
		j.ReportState, j.CleanedAt = faxbridge.ReportSent, base
		if err := s.Update(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Purge(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 2 {
		t.Fatalf("purge: %d %v", n, err)
	}
	search("after a purge", "555", nil...)
	mustCreate(t, s, mk("d", 0, "+15551234567", "Lease again"))
	search("a new job after a purge", "lease", "d")
}

// A console user who is not an admin sees the jobs they sent and the
// received faxes mailed to one of their addresses, through the index, in
// one newest-first page: not received faxes mailed to others, not others'
// faxes that merely name the address, and not a sent fax's report address.
func testMailedTo(t *testing.T, open Opener) {
	s, cs := consoleStore(t, open)
	ctx := t.Context()
	n := 0
	mk := func(id string, dir faxbridge.Direction, sender string, mailTo ...string) *faxbridge.Job {
		n++
		j := job(id, time.Time{})
		j.CreatedAt, j.Direction, j.Sender, j.MailTo = base.Add(-time.Duration(n)*time.Minute), dir, sender, mailTo
		return j
	}
	out := mk("alice-sent", faxbridge.Outbound, "user:alice")
	out.ReportTo = "alice@office.example"
	bobSent := mk("bob-sent", faxbridge.Outbound, "user:bob")
	bobSent.Subject = "for alice@office.example"
	mustCreate(t, s,
		out,
		mk("front-desk", faxbridge.Inbound, "", "Front Desk <Alice@Office.example>", "desk@office.example"),
		mk("sales", faxbridge.Inbound, "", "sales@office.example"),
		bobSent,
		mk("unrouted", faxbridge.Inbound, "", "postmaster@office.example"),
	)
	// An update keeps the addresses, and does not write them twice.
	fd := mustGet(t, s, "front-desk")
	fd.State = faxbridge.StateDone
	if err := s.Update(ctx, fd); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    faxbridge.JobQuery
		want []string
	}{
		{"alice", faxbridge.JobQuery{Sender: "user:alice", MailTo: []string{"alice@office.example"}}, []string{"alice-sent", "front-desk"}},
		{"address in another form", faxbridge.JobQuery{Sender: "user:alice", MailTo: []string{"Alice <ALICE@office.example>"}}, []string{"alice-sent", "front-desk"}},
		{"bob", faxbridge.JobQuery{Sender: "user:bob", MailTo: []string{"bob@office.example"}}, []string{"bob-sent"}},
		{"sales", faxbridge.JobQuery{Sender: "user:sales", MailTo: []string{"sales@office.example"}}, []string{"sales"}},
		{"two addresses", faxbridge.JobQuery{Sender: "user:x", MailTo: []string{"desk@office.example", "sales@office.example"}}, []string{"front-desk", "sales"}},
		{"addresses only", faxbridge.JobQuery{MailTo: []string{"sales@office.example"}}, []string{"sales"}},
		{"with a filter", faxbridge.JobQuery{Sender: "user:alice", MailTo: []string{"alice@office.example"}, Direction: faxbridge.Inbound}, []string{"front-desk"}},
		{"with text", faxbridge.JobQuery{Sender: "user:bob", MailTo: []string{"bob@office.example"}, Text: "alice@office"}, []string{"bob-sent"}},
		{"admin", faxbridge.JobQuery{}, []string{"alice-sent", "bob-sent", "front-desk", "sales", "unrouted"}},
	}
	for _, tc := range tests {
		got, err := cs.Search(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, ids(got), tc.want)
		}
	}
	// Keyset paging through the union.
	q := faxbridge.JobQuery{Sender: "user:alice", MailTo: []string{"alice@office.example"}, Limit: 1}
	page, _ := cs.Search(ctx, q)
	q.After = &faxbridge.JobCursor{CreatedAt: page[0].CreatedAt, ID: page[0].ID}
	if page, err := cs.Search(ctx, q); err != nil || !slices.Equal(ids(page), []string{"front-desk"}) {
		t.Errorf("second page: %v %v", ids(page), err)
	}
}

// testUpdateFromEveryRead: an update writes only the indexed columns that
// changed since the job was read (Job.Stored). Whatever way the job was
// read (created, Get, GetBySID, Claim, returned by an update, or read
// without the store's note), every changed column must reach the indexes
// the console's queries use, and a later update that changes none of them
// must leave the job findable as it was.
func testUpdateFromEveryRead(t *testing.T, open Opener) {
	s, cs := consoleStore(t, open)
	ctx := t.Context()
	reads := []struct {
		name string
		read func(t *testing.T, j *faxbridge.Job) *faxbridge.Job
	}{
		{"as created", func(t *testing.T, j *faxbridge.Job) *faxbridge.Job { return j }},
		{"get", func(t *testing.T, j *faxbridge.Job) *faxbridge.Job { return mustGet(t, s, j.ID) }},
		{"get by sid", func(t *testing.T, j *faxbridge.Job) *faxbridge.Job {
			got, err := s.GetBySID(ctx, j.FaxSID)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}},
		{"claim", func(t *testing.T, j *faxbridge.Job) *faxbridge.Job {
			got, err := s.Claim(ctx, "w", base.Add(365*24*time.Hour), time.Minute, 10)
			if err != nil || len(got) != 1 || got[0].ID != j.ID {
				t.Fatalf("claim: %v, %d jobs, want %s", err, len(got), j.ID)
			}
			return got[0]
		}},
		{"as updated", func(t *testing.T, j *faxbridge.Job) *faxbridge.Job {
			j.LastError = "a change that no index holds"
			if err := s.Update(ctx, j); err != nil {
				t.Fatal(err)
			}
			return j
		}},
		{"without the note", func(t *testing.T, j *faxbridge.Job) *faxbridge.Job {
			got := mustGet(t, s, j.ID)
			got.Stored = nil
			return got
		}},
	}
	find := func(t *testing.T, what string, q faxbridge.JobQuery, want ...string) {
		t.Helper()
		got, err := cs.Search(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		sameIDs(t, what, got, want...)
	}
	for i, r := range reads {
		id := fmt.Sprintf("read-%d", i)
		day := base.Add(time.Duration(i+1) * 24 * time.Hour) // one day per read: queries below see one job
		j := job(id, day)
		j.Direction, j.CreatedAt = faxbridge.Inbound, day
		j.FaxSID, j.Subject, j.MailTo = "sid-"+id, "first words", []string{"old-" + id + "@office.example"}
		mustCreate(t, s, j)

		j = r.read(t, j)
		moved := day.Add(time.Hour)
		j.State, j.CreatedAt, j.NextAt = faxbridge.StateDone, moved, time.Time{}
		j.Subject = "second words " + id
		j.MailTo = append(j.MailTo, "new-"+id+"@office.example")
		if err := s.Update(ctx, j); err != nil {
			t.Fatalf("%s: update: %v", r.name, err)
		}
		in := faxbridge.JobQuery{Since: day, Until: day.Add(24 * time.Hour)}
		q := in
		q.State = faxbridge.StateDone
		find(t, r.name+": new state", q, id)
		q = in
		q.Since = moved
		find(t, r.name+": new creation time", q, id)
		q = in
		q.Text = "second words " + id
		find(t, r.name+": new subject", q, id)
		q = in
		q.Text = "first words"
		find(t, r.name+": old subject", q)
		find(t, r.name+": added address", faxbridge.JobQuery{MailTo: []string{"new-" + id + "@office.example"}}, id)
		find(t, r.name+": first address", faxbridge.JobQuery{MailTo: []string{"old-" + id + "@office.example"}}, id)

		// Nothing indexed changes: everything is found as before.
		j.LastError = "noted"
		if err := s.Update(ctx, j); err != nil {
			t.Fatalf("%s: second update: %v", r.name, err)
		}
		q = in
		q.State, q.Text = faxbridge.StateDone, "second words "+id
		find(t, r.name+": after an update that changed no indexed column", q, id)
		if got := mustGet(t, s, id); got.LastError != "noted" || !got.CreatedAt.Equal(moved) {
			t.Fatalf("%s: after the second update: %q, created %v", r.name, got.LastError, got.CreatedAt)
		}
		// Back to what the job was created with: the note must follow
		// every update, or this change would look like none.
		j.Subject, j.State = "first words", faxbridge.StateQueued
		if err := s.Update(ctx, j); err != nil {
			t.Fatalf("%s: third update: %v", r.name, err)
		}
		q = in
		q.State, q.Text = faxbridge.StateQueued, "first words"
		find(t, r.name+": changed back", q, id)
	}
}

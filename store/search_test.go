package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

func searchIDs(t *testing.T, db *DB, q faxbridge.JobQuery) []string {
	t.Helper()
	jobs, err := db.Search(t.Context(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

// TestLikePattern: LIKE's own characters in a term are literal.
func TestLikePattern(t *testing.T) {
	for in, want := range map[string]string{"abc": "%abc%", "100%": `%100\%%`, "t_d": `%t\_d%`, `a\b`: `%a\\b%`} {
		if got := likePattern(in); got != want {
			t.Errorf("likePattern(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sqlitePhrase(`say "hi"`); got != `"say ""hi"""` {
		t.Errorf("sqlitePhrase = %s", got)
	}
}

// A database from before migration 9 gets the search index and the mail
// addresses of the faxes it already holds, and its old rows are found.
func TestSQLiteSearchIndexOfOldJobs(t *testing.T) {
	db, path := openSQLite(t)
	db.Close()
	raw := rawSQLite(t, path)
	for _, s := range []string{
		`DROP TRIGGER jobs_search_insert`, `DROP TRIGGER jobs_search_update`, `DROP TRIGGER jobs_search_delete`,
		`DROP TABLE jobs_search`, `DROP TABLE search_keys`, `DROP TABLE job_mail_to`, `DROP TABLE search_pending`,
		`DELETE FROM schema_migrations WHERE version IN (9, 10)`,
	} {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	// Rows as migration 7 left them (search is the lowercased JSON).
	in := &faxbridge.Job{ID: "old-in", Version: 3, State: faxbridge.StateDone, Direction: faxbridge.Inbound, CreatedAt: time.UnixMilli(2000),
		From: "+15550001111", MailTo: []string{"Front Desk <desk@office.example>"}}
	out := &faxbridge.Job{ID: "old-out", Version: 3, State: faxbridge.StateDone, CreatedAt: time.UnixMilli(1000),
		Destination: faxbridge.Destination{To: "+15552223333"}, Subject: "Quarterly Report", Sender: "user:bob"}
	for _, j := range []*faxbridge.Job{in, out} {
		r, err := encode(j, j.Version)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`INSERT INTO jobs (id, version, state, created_at, updated_at, data, sender, direction, search)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, lower(?))`, r.id, r.version, r.state, r.createdAt, r.updatedAt, r.data, r.sender, r.direction, r.data); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	db, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.TextIndexed() {
		t.Fatal("no search index after the migration")
	}
	if got := searchIDs(t, db, faxbridge.JobQuery{Text: "QUARTERLY"}); !slices.Equal(got, []string{"old-out"}) {
		t.Errorf("old job by its subject: %v", got)
	}
	if got := searchIDs(t, db, faxbridge.JobQuery{Sender: "user:desk", MailTo: []string{"desk@office.example"}}); !slices.Equal(got, []string{"old-in"}) {
		t.Errorf("old received fax by its address: %v", got)
	}
}

// The console's queries use their indexes: text search the FTS5 table, a
// user's list the sender index and job_mail_to.
func TestSQLiteSearchPlans(t *testing.T) {
	db, _ := openSQLite(t)
	for _, tc := range []struct {
		q     faxbridge.JobQuery
		index []string
	}{
		// The jobs not yet indexed are found by walking their short list,
		// never every job.
		{faxbridge.JobQuery{Text: "invoice"}, []string{"VIRTUAL TABLE INDEX 0:M", "SCAN p; SEARCH j USING INDEX sqlite_autoindex_jobs_1"}},
		{faxbridge.JobQuery{Sender: "user:a", MailTo: []string{"a@example.com"}}, []string{"jobs_sender_created", "job_mail_to"}},
	} {
		plan := explainSearch(t, db, tc.q)
		for _, ix := range tc.index {
			if !strings.Contains(plan, ix) {
				t.Errorf("%+v: plan %q lacks %s", tc.q, plan, ix)
			}
		}
		if strings.Contains(plan, "SCAN j") || strings.Contains(plan, "SCAN jobs") {
			t.Errorf("%+v: plan %q reads every job", tc.q, plan)
		}
	}
}

// explainSearch is SQLite's plan of the query Search runs.
func explainSearch(t *testing.T, db *DB, q faxbridge.JobQuery) string {
	t.Helper()
	query, args := db.searchQuery(q)
	rows, err := db.rd.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// Where the database user may not create pg_trgm, the store opens and
// search works unindexed; once an administrator creates the extension,
// the next open builds the index.
func TestPostgresSearchWithoutTrigram(t *testing.T) {
	base := postgresDSN(t)
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	admin := stdlib.OpenDB(*cfg)
	defer admin.Close()
	ctx := t.Context()
	name := fmt.Sprintf("faxbridge_notrgm_%d", time.Now().UnixNano())
	for _, s := range []string{
		`CREATE ROLE ` + name + ` LOGIN`,
		`CREATE DATABASE ` + name, // owned by the administrator: the role may not CREATE in it
	} {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin.ExecContext(ctx, `DROP DATABASE `+name+` WITH (FORCE)`)
		admin.ExecContext(ctx, `DROP ROLE `+name)
	})
	dbAdmin := openAs(t, withDatabase(t, base, name, "postgres"))
	if _, err := dbAdmin.ExecContext(ctx, `GRANT CREATE ON SCHEMA public TO `+name); err != nil {
		t.Fatal(err)
	}
	userDSN := withDatabase(t, base, name, name)
	db, err := OpenPostgres(ctx, userDSN)
	if err != nil {
		t.Fatalf("open without the right to create pg_trgm: %v", err)
	}
	if db.TextIndexed() {
		t.Fatal("indexed without pg_trgm")
	}
	j := &faxbridge.Job{ID: "a", Version: 1, State: faxbridge.StateQueued, CreatedAt: time.UnixMilli(1000), Subject: "Quarterly 100% Report"}
	if err := db.Create(ctx, []*faxbridge.Job{j}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"quarterly", "100%", "zz"} {
		want := []string{"a"}
		if q == "zz" {
			want = nil
		}
		if got := searchIDs(t, db, faxbridge.JobQuery{Text: q}); !slices.Equal(got, want) {
			t.Errorf("unindexed search %q: %v, want %v", q, got, want)
		}
	}
	db.Close()

	if _, err := dbAdmin.ExecContext(ctx, `CREATE EXTENSION pg_trgm`); err != nil {
		t.Fatal(err)
	}
	db, err = OpenPostgres(ctx, userDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.TextIndexed() {
		t.Fatal("no index after the administrator created pg_trgm")
	}
	if got := searchIDs(t, db, faxbridge.JobQuery{Text: "100% rep"}); !slices.Equal(got, []string{"a"}) {
		t.Errorf("indexed search: %v", got)
	}
	// With enough jobs, and statistics, the planner takes the index for
	// a rare term.
	var many []*faxbridge.Job
	for i := range 5000 {
		many = append(many, &faxbridge.Job{ID: fmt.Sprintf("m%d", i), Version: 1, State: faxbridge.StateDone,
			CreatedAt: time.UnixMilli(int64(2000 + i)), Subject: fmt.Sprintf("Invoice %d", i)})
	}
	if err := db.Create(ctx, many); err != nil {
		t.Fatal(err)
	}
	if _, err := db.wr.ExecContext(ctx, `VACUUM ANALYZE jobs`); err != nil {
		t.Fatal(err)
	}
	query, args := db.searchQuery(faxbridge.JobQuery{Text: "quarterly"})
	rows, err := db.wr.QueryContext(ctx, "EXPLAIN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	rows.Close()
	if !strings.Contains(plan.String(), "jobs_search_trgm") {
		t.Errorf("plan does not use the trigram index:\n%s", plan.String())
	}
	if got := searchIDs(t, db, faxbridge.JobQuery{Text: "quarterly"}); !slices.Equal(got, []string{"a"}) {
		t.Errorf("indexed search among many: %v", got)
	}
}

// withDatabase names another database and user on the same server.
func withDatabase(t *testing.T, dsn, database, user string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", user, cfg.Host, cfg.Port, database)
}

func openAs(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}

// A job is found by its current text whether or not the search index has
// caught up with it: new, indexed, changed (its old index entry must not
// find it), indexed again, and deleted.
func TestSQLiteSearchDeferred(t *testing.T) {
	db, _ := openSQLite(t)
	ctx := t.Context()
	pending := func() int { t.Helper(); return countRows(t, db, "search_pending") }
	want := func(stage, text string, ids ...string) {
		t.Helper()
		if got := searchIDs(t, db, faxbridge.JobQuery{Text: text}); !slices.Equal(got, ids) {
			t.Errorf("%s: search %q = %v, want %v", stage, text, got, ids)
		}
	}
	a := storetest.FullJob("a")
	a.Subject, a.CreatedAt = "Alpha invoice", time.UnixMilli(2000)
	b := storetest.FullJob("b")
	b.Subject, b.CreatedAt = "Beta invoice", time.UnixMilli(1000)
	if err := db.Create(ctx, []*faxbridge.Job{a, b}); err != nil {
		t.Fatal(err)
	}
	if pending() == 0 {
		t.Fatal("new jobs are not listed for the search index")
	}
	want("new", "alpha", "a")
	want("new", "invoice", "a", "b")

	if err := db.IndexSearch(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 0 {
		t.Fatalf("%d jobs still listed after indexing", n)
	}
	want("indexed", "alpha", "a")
	want("indexed", "invoice", "a", "b")

	got, err := db.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	got.Subject = "Omega statement"
	if err := db.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 1 {
		t.Fatalf("%d jobs listed after one changed, want 1", n)
	}
	want("changed", "alpha")
	want("changed", "omega", "a")
	want("changed", "invoice", "b")

	if err := db.IndexSearch(ctx, 10); err != nil {
		t.Fatal(err)
	}
	want("indexed again", "alpha")
	want("indexed again", "omega", "a")
	want("indexed again", "invoice", "b")
	var entries int
	if err := db.rd.QueryRowContext(ctx, `SELECT count(*) FROM jobs_search WHERE jobs_search MATCH '"invoice"'`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 1 {
		t.Errorf("index entries for \"invoice\": %d, want 1 (b's; a's old entry replaced)", entries)
	}

	// Deleting a job takes it out of the index and off the list.
	c := storetest.FullJob("c")
	c.Subject = "Alpha again"
	if err := db.Create(ctx, []*faxbridge.Job{c}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.wr.ExecContext(ctx, `DELETE FROM jobs WHERE id IN ('b', 'c')`); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 0 {
		t.Errorf("%d deleted jobs still listed", n)
	}
	want("deleted", "invoice")
	want("deleted", "alpha")
}

// FTS5 does not merge inside writes (automerge is off); mergeSearch
// merges what the upkeep's batches left, and stops when nothing is left.
func TestSQLiteSearchMerge(t *testing.T) {
	db := openSQLiteNoUpkeep(t)
	ctx := t.Context()
	var automerge int
	if err := db.rd.QueryRowContext(ctx, `SELECT v FROM jobs_search_config WHERE k = 'automerge'`).Scan(&automerge); err != nil {
		t.Fatal(err)
	}
	if automerge != 0 {
		t.Errorf("automerge = %d, want 0", automerge)
	}
	pages := func() int { t.Helper(); return countRows(t, db, "jobs_search_data") }
	for i := range 40 {
		j := storetest.FullJob(fmt.Sprintf("m%d", i))
		j.Subject = fmt.Sprintf("merge subject %d", i)
		if err := db.Create(ctx, []*faxbridge.Job{j}); err != nil {
			t.Fatal(err)
		}
		// One segment per job, as forty separate upkeep batches leave.
		if err := db.indexPending(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	before := pages()
	// A budget spent at once leaves everything for later.
	if more, err := db.mergeSearch(ctx, mergePages, time.Nanosecond); err != nil || !more {
		t.Fatalf("merge with no budget left: more %v, %v", more, err)
	}
	if got := pages(); got != before {
		t.Errorf("index pages %d before, %d after a merge with no budget", before, got)
	}
	if more, err := db.mergeSearch(ctx, mergePages, 0); err != nil || more {
		t.Fatalf("merge to the end: more %v, %v", more, err)
	}
	if after := pages(); after >= before {
		t.Errorf("index pages %d before merging, %d after: nothing merged", before, after)
	}
	if got := searchIDs(t, db, faxbridge.JobQuery{Text: "merge subject 17"}); !slices.Equal(got, []string{"m17"}) {
		t.Errorf("after merging: %v", got)
	}
}

// openSQLiteNoUpkeep opens a store whose upkeep is stopped, so that only
// the test indexes and merges the search index.
func openSQLiteNoUpkeep(t *testing.T) *DB {
	t.Helper()
	db, _ := openSQLite(t)
	if err := db.upkeep.close(); err != nil {
		t.Fatal(err)
	}
	return db
}

// countRows is how many rows a table holds, as the store's readers see it.
func countRows(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.rd.QueryRowContext(t.Context(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// IndexSearch, for tools that write jobs with SQL of their own, leaves the
// index in the segments, level by level, that the upkeep would have. (The
// benchmark's filled database, indexed in big batches and merged at the
// end, held a million jobs in one segment of level 3, which the merges of
// the next few hundred upkeep writes rewrote whole.)
func TestSQLiteIndexSearchShape(t *testing.T) {
	const jobs = 70
	ctx := t.Context()
	create := func(db *DB, from, to int) {
		t.Helper()
		var js []*faxbridge.Job
		for i := from; i < to; i++ {
			j := storetest.FullJob(fmt.Sprintf("j%03d", i))
			j.Subject = fmt.Sprintf("shape subject %d", i)
			js = append(js, j)
		}
		if err := db.Create(ctx, js); err != nil {
			t.Fatal(err)
		}
	}
	// The upkeep: a job at a time, indexed, then merged.
	upkept := openSQLiteNoUpkeep(t)
	for i := range jobs {
		create(upkept, i, i+1)
		if err := upkept.indexPending(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := upkept.mergeSearch(ctx, mergePages, 0); err != nil {
			t.Fatal(err)
		}
	}
	// A tool: every job written at once, then IndexSearch a job a write.
	tool := openSQLiteNoUpkeep(t)
	create(tool, 0, jobs)
	if err := tool.IndexSearch(ctx, 1); err != nil {
		t.Fatal(err)
	}

	want, got := ftsLevels(t, upkept), ftsLevels(t, tool)
	if !slices.Equal(got, want) {
		t.Errorf("segments by level after IndexSearch %v, after the upkeep %v", got, want)
	}
	if len(want) < 3 {
		t.Errorf("segments by level %v: too few jobs to tell shapes apart", want)
	}
}

// ftsLevels is how many segments each level of the search index holds,
// read from the FTS5 structure record (row 10 of its data table): a
// 4-byte cookie, an optional 4-byte version 2 mark, then varints: levels,
// segments, write counter, and per level its merge state and segment
// count, each segment followed by its ID and first and last page (and in
// version 2, five more).
func ftsLevels(t *testing.T, db *DB) []int {
	t.Helper()
	var rec []byte
	if err := db.rd.QueryRowContext(t.Context(), `SELECT block FROM jobs_search_data WHERE id = 10`).Scan(&rec); err != nil {
		t.Fatal(err)
	}
	if len(rec) < 4 {
		t.Fatalf("structure record of %d bytes", len(rec))
	}
	i, perSegment := 4, 3
	if len(rec) >= 8 && string(rec[4:8]) == "\xff\x00\x00\x01" {
		i, perSegment = 8, 8
	}
	next := func() uint64 {
		// SQLite's varint: big-endian 7 bits a byte, the ninth byte whole.
		var v uint64
		for k := 0; i < len(rec); k++ {
			b := rec[i]
			i++
			if k == 8 {
				return v<<8 | uint64(b)
			}
			v = v<<7 | uint64(b&0x7f)
			if b&0x80 == 0 {
				return v
			}
		}
		t.Fatalf("structure record %x ends in a varint", rec)
		return 0
	}
	levels := next()
	next() // segments
	next() // write counter
	var out []int
	for range levels {
		next() // merge state
		n := next()
		for range n * uint64(perSegment) {
			next()
		}
		out = append(out, int(n))
	}
	return out
}

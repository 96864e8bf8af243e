package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store/storetest"
	"modernc.org/sqlite"
)

func sqliteOpener(path string) storetest.Opener {
	return func(ctx context.Context) (faxbridge.JobStore, error) {
		db, err := OpenSQLite(ctx, path)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return db, nil
	}
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		return sqliteOpener(filepath.Join(t.TempDir(), "jobs.db"))
	})
}

func openSQLite(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jobs.db")
	db, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestSQLiteFileMode(t *testing.T) {
	db, path := openSQLite(t)
	if err := db.Create(t.Context(), []*faxbridge.Job{storetest.FullJob("m")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}

	// An existing file that is too open is tightened.
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db2, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("reopened file: mode %v, %v", fi.Mode().Perm(), err)
	}
}

// TestSQLiteSettings checks the durability settings on the connections that
// the store really uses.
func TestSQLiteSettings(t *testing.T) {
	db, path := openSQLite(t)
	ctx := t.Context()
	tests := []struct {
		pool   *sql.DB
		pragma string
		want   string
	}{
		{db.wr, "journal_mode", "wal"},
		{db.wr, "synchronous", "2"}, // FULL
		{db.wr, "foreign_keys", "1"},
		{db.wr, "busy_timeout", busyTimeoutMs},
		{db.wr, "wal_autocheckpoint", backstopPages}, // checkpoint.go does it
		{db.rd, "query_only", "1"},
		{db.rd, "foreign_keys", "1"},
		{db.rd, "busy_timeout", busyTimeoutMs},
	}
	for _, tc := range tests {
		var got string
		if err := tc.pool.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("pragma %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("pragma %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if db.wr.Stats().MaxOpenConnections != 1 {
		t.Errorf("writer pool allows %d connections, want 1", db.wr.Stats().MaxOpenConnections)
	}

	// A write transaction holds the write lock from BEGIN on (IMMEDIATE),
	// before its first statement: another writer cannot start meanwhile.
	tx, err := db.wr.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other := rawSQLite(t, path)
	_, err = other.ExecContext(ctx, "BEGIN IMMEDIATE")
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != 5 { // SQLITE_BUSY
		t.Fatalf("BEGIN IMMEDIATE beside an open write transaction: %v, want SQLITE_BUSY", err)
	}
}

// rawSQLite opens a plain connection to path that does not wait for locks.
func rawSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	return raw
}

func wantUnavailable(t *testing.T, what string, err error, msg string) {
	t.Helper()
	if faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Fatalf("%s: %v (code %q), want %q", what, err, faxbridge.ErrorCode(err), faxbridge.EUnavailable)
	}
	if got := faxbridge.ErrorMessage(err); got != msg {
		t.Fatalf("%s: message %q, want %q", what, got, msg)
	}
	var fe *faxbridge.Error
	if errors.As(err, &fe); fe.Err == nil {
		t.Fatalf("%s: the cause is not kept", what)
	}
}

// TestSQLiteFull fills the database to a page limit, as a full disk would.
func TestSQLiteFull(t *testing.T) {
	db, _ := openSQLite(t)
	ctx := t.Context()
	var pages int64
	if err := db.wr.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// max_page_count is per connection; the writer pool has exactly one.
	if _, err := db.wr.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	j := storetest.FullJob("big")
	j.Subject = strings.Repeat("x", 256<<10)
	wantUnavailable(t, "create in a full database", db.Create(ctx, []*faxbridge.Job{j}), msgFull)
	_, err := db.Get(ctx, "big")
	if faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Fatalf("the failed create left a job behind: %v", err)
	}
}

func TestSQLiteReadOnly(t *testing.T) {
	db, _ := openSQLite(t)
	ctx := t.Context()
	if err := db.Create(ctx, []*faxbridge.Job{storetest.FullJob("ro")}); err != nil {
		t.Fatal(err)
	}
	j, err := db.Get(ctx, "ro")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.wr.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	wantUnavailable(t, "update a read-only database", db.Update(ctx, j), msgUnavailable)
	if j.Version != 7 {
		t.Fatalf("a failed update changed Version to %d", j.Version)
	}
}

func TestSQLiteBusy(t *testing.T) {
	db, path := openSQLite(t)
	ctx := t.Context()
	// Another process holds the write lock longer than we wait.
	if _, err := db.wr.ExecContext(ctx, "PRAGMA busy_timeout = 20"); err != nil {
		t.Fatal(err)
	}
	other := rawSQLite(t, path)
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	wantUnavailable(t, "create while locked", db.Create(ctx, []*faxbridge.Job{storetest.FullJob("b")}), msgBusy)
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(ctx, []*faxbridge.Job{storetest.FullJob("b")}); err != nil {
		t.Fatalf("create after the lock is gone: %v", err)
	}
}

func TestSQLiteTimeout(t *testing.T) {
	db, _ := openSQLite(t)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := db.Get(ctx, "x")
	wantCode(t, err, faxbridge.EUnavailable)
}

func TestOpenSQLiteBadPath(t *testing.T) {
	ctx := t.Context()
	for _, p := range []string{"", "jobs.db?mode=ro", "file:jobs.db", ":memory:"} {
		_, err := OpenSQLite(ctx, p)
		wantCode(t, err, faxbridge.EInvalid)
	}
	_, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "missing", "jobs.db"))
	wantUnavailable(t, "open in a missing directory", err, msgUnavailable)
}

func TestSQLiteMigrationsOnce(t *testing.T) {
	_, path := openSQLite(t)
	for range 2 {
		db, err := OpenSQLite(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	raw := rawSQLite(t, path)
	var n, max int
	if err := raw.QueryRow("SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	want := 0
	for v, m := range migrations {
		if len(m) > 0 || migrationSteps[v] != nil {
			want++
		}
	}
	if n != want || max != len(migrations)-1 {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d up to %d", n, max, want, len(migrations)-1)
	}
}

// TestSQLiteColumns checks the indexed copies against the job, which the
// conformance suite sees only through query results.
func TestSQLiteColumns(t *testing.T) {
	db, path := openSQLite(t)
	ctx := t.Context()
	j := storetest.FullJob("c")
	j.NextAt = time.Unix(100, 1) // rounds up to the next millisecond
	if err := db.Create(ctx, []*faxbridge.Job{j}); err != nil {
		t.Fatal(err)
	}
	raw := rawSQLite(t, path)
	var (
		v                      int64
		state, sid             string
		next, created, updated int64
		sids                   int
	)
	err := raw.QueryRow(`SELECT version, state, fax_sid, next_at, created_at, updated_at,
		(SELECT count(*) FROM fax_sids WHERE job_id = jobs.id) FROM jobs WHERE id = 'c'`).
		Scan(&v, &state, &sid, &next, &created, &updated, &sids)
	if err != nil {
		t.Fatal(err)
	}
	if v != 7 || state != "sending" || sid != "c-sid-2" || next != 100001 ||
		created != j.CreatedAt.UnixMilli() || updated != j.UpdatedAt.UnixMilli() || sids != 2 {
		t.Fatalf("columns: version %d state %s sid %s next %d created %d updated %d sids %d",
			v, state, sid, next, created, updated, sids)
	}
	j.NextAt = time.Time{}
	if err := db.Update(ctx, j); err != nil {
		t.Fatal(err)
	}
	var nextNull sql.NullInt64
	if err := raw.QueryRow(`SELECT next_at FROM jobs WHERE id = 'c'`).Scan(&nextNull); err != nil {
		t.Fatal(err)
	}
	if nextNull.Valid {
		t.Fatalf("next_at of a job with nothing to do = %d, want NULL", nextNull.Int64)
	}
}

func wantCode(t *testing.T, err error, code faxbridge.Code) {
	t.Helper()
	if got := faxbridge.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// BenchmarkCreate measures durable job creation, one job per transaction as
// the SMTP server commits before each 250: it bounds the accepted mail rate.
func BenchmarkCreate(b *testing.B) {
	db, err := OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "jobs.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchCreate(b, db)
}

func benchCreate(b *testing.B, db *DB) {
	ctx := b.Context()
	n := 0
	start := time.Now()
	for b.Loop() {
		n++
		j := storetest.FullJob(fmt.Sprintf("bench-%d-%d", start.UnixNano(), n))
		if err := db.Create(ctx, []*faxbridge.Job{j}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "jobs/s")
}

package store

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store/storetest"
)

func pragmaInt(t *testing.T, db *sql.DB, name string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("PRAGMA " + name).Scan(&n); err != nil {
		t.Fatalf("pragma %s: %v", name, err)
	}
	return n
}

// TestSQLiteReclaim checks that purged jobs give their space back to the
// file system, in a new database and in one made before auto_vacuum was set.
func TestSQLiteReclaim(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("existing=%v", old), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "jobs.db")
			if old {
				// A database as earlier versions made it: no auto_vacuum.
				raw, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := raw.Exec(`PRAGMA journal_mode = WAL; CREATE TABLE leftover (x TEXT)`); err != nil {
					t.Fatal(err)
				}
				if pragmaInt(t, raw, "auto_vacuum") != 0 {
					t.Fatal("the old-style database has auto_vacuum set")
				}
				raw.Close()
			}
			db, err := OpenSQLite(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := pragmaInt(t, db.wr, "auto_vacuum"); got != 2 {
				t.Fatalf("auto_vacuum = %d, want 2 (incremental)", got)
			}
			ctx := t.Context()
			at := time.Now().Add(-time.Hour)
			var batch []*faxbridge.Job
			for i := range 600 {
				j := storetest.FullJob(fmt.Sprintf("job-%04d", i))
				j.State, j.NextAt, j.UpdatedAt = faxbridge.StateDone, time.Time{}, at
				j.Subject = strings.Repeat("subject of the message ", 200)
				batch = append(batch, j)
			}
			if err := db.Create(ctx, batch); err != nil {
				t.Fatal(err)
			}
			full := pragmaInt(t, db.wr, "page_count")
			for {
				n, err := db.Purge(ctx, time.Now(), 100)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			empty := pragmaInt(t, db.wr, "page_count")
			if empty*4 > full {
				t.Fatalf("after purging every job the file has %d pages of %d", empty, full)
			}
		})
	}
}

// TestSQLitePlans checks that the worker's and retention's queries use the
// partial indexes, so their cost follows the active (or settled) jobs, not
// every job ever stored.
func TestSQLitePlans(t *testing.T) {
	db, _ := openSQLite(t)
	tests := []struct {
		query string
		index string
	}{
		{`SELECT id, version, data FROM jobs WHERE next_at IS NOT NULL AND next_at <= 1 AND lease_until <= 1 ORDER BY next_at, id LIMIT 4`, "jobs_active"},
		{`SELECT next_at FROM jobs WHERE next_at IS NOT NULL AND lease_until <= next_at ORDER BY next_at LIMIT 1`, "jobs_active"},
		{`SELECT min(lease_until) FROM jobs WHERE lease_until > 0 AND next_at IS NOT NULL AND lease_until > next_at`, "jobs_leased"},
		{`SELECT id FROM jobs WHERE next_at IS NULL AND updated_at < 1 AND state = 'done' ORDER BY updated_at LIMIT 10`, "jobs_settled"},
	}
	for _, tc := range tests {
		rows, err := db.wr.Query("EXPLAIN QUERY PLAN " + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "; "), "INDEX "+tc.index) {
			t.Errorf("%s\nplan %q, want index %s", tc.query, plan, tc.index)
		}
	}
}

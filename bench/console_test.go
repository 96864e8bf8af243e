package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/console"
	"github.com/faxbridge/faxbridge/internal/testenv"
	"github.com/faxbridge/faxbridge/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// consoleJobs is how many jobs the console benchmarks run against.
const consoleJobs = 100_000

// consoleApp is the part of console.App the read-only pages use, straight
// over the store (the daemon's adapter adds only the writing actions).
type consoleApp struct {
	console.App // the actions, never called here
	db          *store.DB
}

func (a consoleApp) Session(ctx context.Context, id string) (*faxbridge.Session, error) {
	return a.db.Session(ctx, id)
}
func (a consoleApp) TouchSession(ctx context.Context, id string, t time.Time) error {
	return a.db.TouchSession(ctx, id, t)
}
func (a consoleApp) Role(name string) string {
	if name == "office" {
		return console.RoleAdmin
	}
	return console.RoleUser
}
func (a consoleApp) SenderOf(name string) string   { return "user:" + name }
func (a consoleApp) InboxOf(name string) []string  { return []string{name + "@office.example"} }
func (a consoleApp) FormatNumber(to string) string { return to }
func (a consoleApp) Job(ctx context.Context, id string) (*faxbridge.Job, error) {
	return a.db.Get(ctx, id)
}
func (a consoleApp) Search(ctx context.Context, q faxbridge.JobQuery) ([]*faxbridge.Job, error) {
	return a.db.Search(ctx, q)
}
func (a consoleApp) AuditLog(ctx context.Context, id string) ([]faxbridge.AuditEntry, error) {
	return a.db.AuditLog(ctx, id)
}

// seedJobs stores n jobs over 100 days: 20 senders, 1,000 numbers, most
// delivered, some failed, a few still moving; each with one document and
// one attempt, as a busy office's history looks.
func seedJobs(b *testing.B, db *store.DB, n int) (middle *faxbridge.Job) {
	b.Helper()
	ctx := context.Background()
	start := time.Now().Add(-100 * 24 * time.Hour)
	step := 100 * 24 * time.Hour / time.Duration(n)
	batch := make([]*faxbridge.Job, 0, 1000)
	for i := range n {
		at := start.Add(time.Duration(i) * step)
		j := &faxbridge.Job{
			ID: fmt.Sprintf("job%07d", i), Version: 1, State: faxbridge.StateDone, Outcome: faxbridge.OutcomeDelivered,
			CreatedAt: at, UpdatedAt: at.Add(time.Minute), FinishedAt: at.Add(time.Minute),
			MailFrom: fmt.Sprintf("clerk%d@office.example", i%20), ReportTo: fmt.Sprintf("clerk%d@office.example", i%20),
			Sender: fmt.Sprintf("user:clerk%d", i%20), Subject: fmt.Sprintf("Invoice %d", i),
			Destination: faxbridge.Destination{To: fmt.Sprintf("+1555%07d", i%1000)}, From: "+15550100000", Quality: "fine",
			DocumentKey: fmt.Sprintf("job%07d.pdf", i), DocumentBytes: 120_000, DocumentSHA256: fmt.Sprintf("%064x", i), Pages: 2,
			Documents:   []faxbridge.DocumentInfo{{Name: "invoice.pdf", Type: "pdf", Bytes: 120_000, Pages: 2, SHA256: fmt.Sprintf("%064x", i)}},
			FaxSID:      fmt.Sprintf("sid-%08d-0000-4000-8000-000000000000", i),
			Attempts:    []faxbridge.Attempt{{Number: 1, Quality: "fine", FaxSID: fmt.Sprintf("sid-%08d-0000-4000-8000-000000000000", i), StartedAt: at, Status: "delivered", Pages: 2}},
			ReportState: faxbridge.ReportSent, ReportSentAt: at.Add(time.Minute), CleanedAt: at.Add(time.Minute),
		}
		switch {
		case i%50 == 0:
			j.Outcome, j.Attempts[0].Status, j.Reason = faxbridge.OutcomeFailed, "failed", "The receiving machine did not answer."
		case i > n-20:
			j.State, j.Outcome, j.FinishedAt, j.NextAt = faxbridge.StateSending, "", time.Time{}, time.Now().Add(time.Minute)
		}
		if i == n/2 {
			middle = j
		}
		batch = append(batch, j)
		if len(batch) == cap(batch) || i == n-1 {
			if err := db.Create(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return middle
}

// BenchmarkConsole renders console pages, through the handler with a
// signed-in session, against 100,000 jobs in SQLite and in PostgreSQL. The
// bar is 100 ms a page. Pages:
//
//   - list: the first page, newest first;
//   - list-deep: a page in the middle of the history (keyset, not offset);
//   - list-state: only failed-or-done faxes, by state;
//   - list-user: a user who sees only their own faxes;
//   - search-number: a number as typed, matching 100 faxes;
//   - search-none: text that matches nothing (the worst case: every
//     row's search column is read);
//   - fax: one fax's page with its timeline and audit log.
func BenchmarkConsole(b *testing.B) {
	engines := []struct {
		name string
		// open returns the store and what to do once it is filled.
		open func(b *testing.B) (*store.DB, func())
	}{
		{"sqlite", func(b *testing.B) (*store.DB, func()) {
			db, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "jobs.db"))
			if err != nil {
				b.Fatal(err)
			}
			// What the store's upkeep does within a second of the
			// commits: the new jobs into the search index.
			return db, func() {
				if err := db.IndexSearch(context.Background(), 10_000); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"postgres", func(b *testing.B) (*store.DB, func()) {
			dsn := testenv.Postgres(b)
			db, err := store.OpenPostgres(context.Background(), dsn)
			if err != nil {
				b.Fatal(err)
			}
			// What autovacuum does to a table of 100,000 new rows within
			// a minute or so: statistics for the planner, and index
			// entries moved out of GIN's pending list.
			return db, func() {
				cfg, err := pgx.ParseConfig(dsn)
				if err != nil {
					b.Fatal(err)
				}
				raw := stdlib.OpenDB(*cfg)
				defer raw.Close()
				if _, err := raw.Exec(`VACUUM ANALYZE jobs`); err != nil {
					b.Fatal(err)
				}
			}
		}},
	}
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			db, settle := e.open(b)
			b.Cleanup(func() { db.Close() })
			middle := seedJobs(b, db, consoleJobs)
			settle()
			srv, err := console.New(console.Config{App: consoleApp{db: db}})
			if err != nil {
				b.Fatal(err)
			}
			cookie := func(user string) *http.Cookie {
				token := "bench-token-" + user
				sum := sha256.Sum256([]byte(token))
				now := time.Now()
				s := faxbridge.Session{ID: hex.EncodeToString(sum[:]), User: user, CSRF: "csrf", CreatedAt: now, SeenAt: now}
				if err := db.CreateSession(context.Background(), s, time.Time{}, time.Time{}); err != nil {
					b.Fatal(err)
				}
				return &http.Cookie{Name: "faxbridge_session", Value: token}
			}
			admin, clerk := cookie("office"), cookie("clerk7")
			pages := []struct {
				name, path string
				who        *http.Cookie
			}{
				{"list", "/", admin},
				{"list-deep", fmt.Sprintf("/?after=%d-%s", middle.CreatedAt.UnixMilli(), middle.ID), admin},
				{"list-state", "/?state=sending", admin},
				{"list-user", "/", clerk},
				{"search-number", "/?q=" + "(555)%20000-0123", admin},
				{"search-none", "/?q=nobody-wrote-this", admin},
				{"fax", "/fax/" + middle.ID, admin},
			}
			for _, p := range pages {
				b.Run(p.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						req := httptest.NewRequest(http.MethodGet, p.path, nil)
						req.AddCookie(p.who)
						rec := httptest.NewRecorder()
						srv.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Fatalf("%s: %d\n%s", p.path, rec.Code, rec.Body.String())
						}
					}
					b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
				})
			}
		})
	}
}

// Package fill puts many finished jobs into a SQLite job database, fast, so
// that benchmarks can measure faxbridge on a database as old as a busy
// gateway's: what a fax costs must not grow with the jobs kept.
package fill

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store"
)

// perTx is how many jobs go into one transaction: one fsync per 10,000
// rows instead of one per row.
const perTx = 10_000

// SQLite brings the database at path up to date and adds n finished, settled
// jobs (report sent, document deleted) to it, spread over the days before
// newest, with direct SQL inserts. The rows are what the store itself writes
// for such a job: the same columns and a JSON record of typical size.
func SQLite(ctx context.Context, path string, n int, newest time.Time) error {
	db, err := store.OpenSQLite(ctx, path)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	for start := 0; start < n; start += perTx {
		end := min(start+perTx, n)
		if err := insert(ctx, raw, start, end, n, newest); err != nil {
			return fmt.Errorf("fill rows %d-%d: %w", start, end, err)
		}
	}
	if err := raw.Close(); err != nil {
		return err
	}
	// The inserts listed every job for the search index, which the store
	// keeps up after its own commits: index them now, in the upkeep's
	// writes, as a database that grew one job at a time would have them.
	db, err = store.OpenSQLite(ctx, path)
	if err != nil {
		return err
	}
	if err := db.IndexSearch(ctx, store.IndexBatch); err != nil {
		db.Close()
		return fmt.Errorf("index the filled rows: %w", err)
	}
	return db.Close()
}

func insert(ctx context.Context, raw *sql.DB, from, to, n int, newest time.Time) error {
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	jobStmt, err := tx.PrepareContext(ctx, `INSERT INTO jobs
		(id, version, state, fax_sid, next_at, created_at, updated_at, data, sender, pages, direction, search)
		VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	sidStmt, err := tx.PrepareContext(ctx, `INSERT INTO fax_sids (sid, job_id) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	// Spread over 80 days, oldest first, so that the default 90-day
	// retention keeps them all.
	span := 80 * 24 * time.Hour
	for i := from; i < to; i++ {
		at := newest.Add(-span + time.Duration(int64(span)/int64(n)*int64(i)))
		j := Job(faxbridge.NewJobID(at), at)
		data, err := json.Marshal(j)
		if err != nil {
			return err
		}
		if _, err := jobStmt.ExecContext(ctx, j.ID, j.Version, string(j.State), j.FaxSID,
			at.UnixMilli(), j.UpdatedAt.UnixMilli(), string(data), j.Sender, j.Pages, string(faxbridge.Outbound), faxbridge.SearchText(j)); err != nil {
			return err
		}
		if _, err := sidStmt.ExecContext(ctx, j.FaxSID, j.ID); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Job is a delivered, reported and cleaned-up fax created at at, as the
// worker leaves it.
func Job(id string, at time.Time) *faxbridge.Job {
	sid := "fx-" + id
	done := at.Add(90 * time.Second)
	return &faxbridge.Job{
		ID: id, Version: 6, State: faxbridge.StateDone, CreatedAt: at, UpdatedAt: done.Add(time.Second),
		MailFrom: "sender@example.org", ReportTo: "sender@example.org",
		MessageID: "<" + id + "@mail.example.org>", Subject: "Invoice 2024-0042 for the March order",
		RemoteAddr:  "192.0.2.10:53412",
		Destination: faxbridge.Destination{To: "+15551234567"}, From: "+15550100000", Quality: "fine",
		DocumentKey: id + ".pdf", DocumentBytes: 86_000, DocumentSHA256: "9f2c7e4b1a8d3f6e5c0b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f",
		Pages:          1,
		Documents:      []faxbridge.DocumentInfo{{Name: "invoice.pdf", Type: "pdf", Bytes: 86_000, Pages: 1, SHA256: "9f2c7e4b1a8d3f6e5c0b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f"}},
		MediaURL:       "https://fax.example.com/media/" + id + ".pdf?expires=1700000000&sig=0123456789abcdef0123456789abcdef",
		MediaExpiresAt: at.Add(3 * time.Hour), IntentAt: at,
		FaxSID:   sid,
		Attempts: []faxbridge.Attempt{{Number: 1, FaxSID: sid, Quality: "fine", StartedAt: at, Status: faxbridge.OutcomeDelivered, Pages: 1, Duration: 42}},
		Outcome:  faxbridge.OutcomeDelivered, FaxStatus: faxbridge.OutcomeDelivered, NumPages: 1, Duration: 42,
		RemoteStationID: "ACME FAX", FinishedAt: done,
		ReportState: faxbridge.ReportSent, ReportSentAt: done, ReportDeadline: done.Add(48 * time.Hour),
		CleanedAt: done,
	}
}

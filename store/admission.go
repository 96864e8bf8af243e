package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/faxbridge/faxbridge"
)

// CreateAdmitted stores new jobs atomically, like Create, but only if the
// admission rules still hold inside the transaction that commits them: the
// sender's usage in each window plus these jobs stays within its limits,
// and the message key (if any) was not admitted within the replay window.
// Parallel messages of one sender are serialised here, so two sessions
// under a quota of one fax cannot both be told 250.
//
// It bypasses Create's group commit on purpose: a group shares one
// transaction, and a refusal must not fail the other members.
func (db *DB) CreateAdmitted(ctx context.Context, jobs []*faxbridge.Job, a faxbridge.Admission) error {
	rows, pages, err := encodeNew(jobs)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	var refusal error
	db.upkeep.accepting()
	err = db.tx(ctx, func(tx *sql.Tx) error {
		// SQLite's write transactions begin IMMEDIATE and so already
		// exclude each other; PostgreSQL needs a lock per sender, held
		// until commit, or two transactions could count the same usage.
		if db.d.dollar {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "faxbridge-admission:"+a.Sender); err != nil {
				return fmt.Errorf("lock sender: %w", err)
			}
		}
		for _, l := range a.Limits {
			if l.Faxes <= 0 && l.Pages <= 0 {
				continue
			}
			var faxes int
			var used sql.NullInt64
			err := tx.QueryRowContext(ctx, db.d.q(`SELECT count(*), sum(pages) FROM jobs WHERE sender = ? AND created_at >= ?`),
				a.Sender, millis(l.Since)).Scan(&faxes, &used)
			if err != nil {
				return fmt.Errorf("usage of %s: %w", a.Sender, err)
			}
			if (l.Faxes > 0 && faxes+len(jobs) > l.Faxes) || (l.Pages > 0 && int(used.Int64)+pages > l.Pages) {
				refusal = &faxbridge.QuotaExceeded{Limit: l, Faxes: faxes, Pages: int(used.Int64), FaxesWanted: len(jobs), PagesWanted: pages}
				return refusal
			}
		}
		if a.MessageKey != "" {
			now := millis(jobs[0].CreatedAt)
			if _, err := tx.ExecContext(ctx, db.d.q(`DELETE FROM message_keys WHERE created_at < ?`), millis(a.ReplaySince)); err != nil {
				return fmt.Errorf("forget old message keys: %w", err)
			}
			res, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO message_keys (message_key, created_at) VALUES (?, ?)
				ON CONFLICT (message_key) DO UPDATE SET created_at = excluded.created_at WHERE message_keys.created_at < ?`),
				a.MessageKey, now, millis(a.ReplaySince))
			if err != nil {
				return fmt.Errorf("record message key: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("record message key: %w", err)
			} else if n == 0 {
				refusal = &faxbridge.Replayed{Key: a.MessageKey}
				return refusal
			}
		}
		return db.insertRows(ctx, tx, rows)
	})
	if refusal != nil && errors.Is(err, refusal) {
		return refusal
	}
	return noteCreated(jobs, rows, db.createError(err))
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Purge deletes up to limit settled jobs (finished, report and cleanup done:
// nothing left to do) whose last change is before before, oldest first, with
// their fax SIDs, and returns how many it deleted. Each call is one short
// transaction, so the caller chooses how much to delete at once and how long
// to leave the database to others between batches. SQLite then gives the
// freed pages back to the file system, a few at a time.
func (db *DB) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// The subquery walks the jobs_settled index in order and stops at
		// limit, so the cost of a batch does not depend on how many jobs
		// are kept.
		res, err := tx.ExecContext(ctx, db.d.q(`DELETE FROM jobs WHERE id IN (
			SELECT id FROM jobs
			WHERE next_at IS NULL AND state = ? AND updated_at < ?
			ORDER BY updated_at LIMIT ?)`), string(faxbridge.StateDone), millis(before), limit)
		if err != nil {
			return fmt.Errorf("delete settled jobs: %w", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("delete settled jobs: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, db.fail(fmt.Errorf("purge: %w", err))
	}
	if n > 0 && db.d.reclaim != "" {
		// Its own statement: a short write of its own, after the delete
		// has committed. Pages it leaves are taken by the next batch's
		// reclaim or reused by new jobs.
		if _, err := db.wr.ExecContext(ctx, db.d.reclaim); err != nil {
			return int(n), db.fail(fmt.Errorf("reclaim space: %w", err))
		}
	}
	return int(n), nil
}

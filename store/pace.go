package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Reserve takes the next free slot of the named schedule, shared by every
// instance on this database: slots are interval apart and never in the
// past. It takes the slot only if it starts within ahead of now, so a caller
// waits at most ahead for it; otherwise it takes nothing and returns, with
// ok false, the time at which a slot will be within reach.
//
// One conditional UPDATE decides, so two instances reserving at once get
// two different slots: PostgreSQL locks the row for the second until the
// first commits, and SQLite has one writer.
func (db *DB) Reserve(ctx context.Context, name string, now time.Time, interval, ahead time.Duration) (slot time.Time, ok bool, err error) {
	if name == "" || interval <= 0 || ahead < 0 {
		return time.Time{}, false, faxbridge.Errorf(faxbridge.EInvalid, "a reservation needs a name and a positive interval")
	}
	nowMs := dueMillis(now)
	step := interval.Milliseconds()
	if step < 1 {
		step = 1
	}
	limit := nowMs + ahead.Milliseconds()
	var (
		next     int64
		reserved bool
	)
	err = db.tx(ctx, func(tx *sql.Tx) error {
		// The row appears on first use, so a schedule needs no setup.
		if _, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO pace (name, next_at) VALUES (?, 0) ON CONFLICT (name) DO NOTHING`), name); err != nil {
			return fmt.Errorf("create schedule: %w", err)
		}
		err := tx.QueryRowContext(ctx, db.d.q(`UPDATE pace
			SET next_at = CASE WHEN next_at > ? THEN next_at ELSE ? END + ?
			WHERE name = ? AND next_at <= ?
			RETURNING next_at`), nowMs, nowMs, step, name, limit).Scan(&next)
		switch {
		case err == nil:
			reserved = true
			next -= step
			return nil
		case err != sql.ErrNoRows:
			return fmt.Errorf("reserve slot: %w", err)
		}
		// Every slot within reach is taken: say when one will be.
		if err := tx.QueryRowContext(ctx, db.d.q(`SELECT next_at FROM pace WHERE name = ?`), name).Scan(&next); err != nil {
			return fmt.Errorf("read schedule: %w", err)
		}
		next -= ahead.Milliseconds()
		return nil
	})
	if err != nil {
		return time.Time{}, false, db.fail(fmt.Errorf("schedule %s: %w", name, err))
	}
	return time.UnixMilli(next), reserved, nil
}

package store

import (
	"context"
	"database/sql"
	"fmt"
)

// insertJob is the one INSERT of a new job (insertRows).
const insertJob = `INSERT INTO jobs
	(id, version, state, fax_sid, next_at, created_at, updated_at, data, sender, pages, direction, search)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// updateJob is the versioned UPDATE of every step (Update).
const updateJob = `UPDATE jobs SET
	version = ?, state = ?, fax_sid = ?, next_at = ?, lease_owner = '', lease_until = 0,
	created_at = ?, updated_at = ?, data = ?, search = ?
	WHERE id = ? AND version = ?`

// insertSID and insertMailTo record a job's fax SIDs and mail addresses
// on every write.
const (
	insertSID    = `INSERT INTO fax_sids (sid, job_id) VALUES (?, ?) ON CONFLICT (sid) DO NOTHING`
	insertMailTo = `INSERT INTO job_mail_to (address, job_id) VALUES (?, ?) ON CONFLICT (address, job_id) DO NOTHING`
)

// claimDue and claimLease are the worker's claim (Claim): the due jobs,
// then a lease on each. PostgreSQL appends FOR UPDATE SKIP LOCKED to the
// first.
const (
	claimDue = `SELECT id, version, data FROM jobs
	WHERE next_at IS NOT NULL AND next_at <= ? AND lease_until <= ?
	ORDER BY next_at, id LIMIT ?`
	claimLease = `UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = ?`
)

// nextDue is the worker's look at when it next has work (NextDue), asked
// after most steps.
const nextDue = `SELECT
	(SELECT next_at FROM jobs WHERE next_at IS NOT NULL AND lease_until <= next_at ORDER BY next_at LIMIT 1),
	(SELECT min(lease_until) FROM jobs WHERE lease_until > 0 AND next_at IS NOT NULL AND lease_until > next_at)`

// prepareWriter prepares the statements of the accept path and of every
// worker step on SQLite's writer, once, when the database opens. Preparing
// an INSERT into or an UPDATE of jobs compiles the search index's triggers
// with it, which per message and per step cost a tenth of the daemon's CPU; a
// statement prepared on the single writer connection is reused by each
// transaction (Tx.StmtContext finds it on that connection), and SQLite
// recompiles it by itself if the schema changes. It must run outside any
// transaction: the writer has one connection. PostgreSQL's driver (pgx)
// caches statements per connection on its own.
func (db *DB) prepareWriter(ctx context.Context) error {
	db.stmts = map[string]*sql.Stmt{}
	for _, q := range []string{insertJob, updateJob, insertSID, insertMailTo, claimDue, claimLease} {
		st, err := db.wr.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		db.stmts[q] = st
	}
	// The readers are a pool: a statement prepared on it is prepared again
	// on each connection the first time it runs there, and kept.
	st, err := db.rd.PrepareContext(ctx, nextDue)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	db.readStmts = map[string]*sql.Stmt{nextDue: st}
	return nil
}

// queryTx runs a query in tx like execTx.
func (db *DB) queryTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st, ok := db.stmts[query]; ok {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, db.d.q(query), args...)
}

// queryRow runs a one-row read on the readers, through its prepared
// statement when prepareWriter made one.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := db.readStmts[query]; ok {
		return st.QueryRowContext(ctx, args...)
	}
	return db.rd.QueryRowContext(ctx, db.d.q(query), args...)
}

// execTx runs query (with ? placeholders) in tx, through its prepared
// statement when prepareWriter made one.
func (db *DB) execTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := db.stmts[query]; ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, db.d.q(query), args...)
}

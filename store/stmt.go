package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// insertJob is the one INSERT of a new job (insertRows).
const insertJob = `INSERT INTO jobs
	(id, version, state, fax_sid, next_at, created_at, updated_at, data, sender, pages, direction, search)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// updateJob is the versioned UPDATE of every step (Update), setting the
// indexed columns in set and those that change at nearly every step.
// SQLite rewrites an index's entry whenever one of its columns is in the
// SET list, changed or not: state, created_at and search are in five
// indexes and the search index's trigger, and most steps change none of
// them, so they are set only when they changed.
func updateJob(set columns) string {
	var b strings.Builder
	b.WriteString(`UPDATE jobs SET version = ?, fax_sid = ?, next_at = ?, lease_owner = '', lease_until = 0, updated_at = ?, data = ?`)
	if set&colState != 0 {
		b.WriteString(`, state = ?`)
	}
	if set&colCreatedAt != 0 {
		b.WriteString(`, created_at = ?`)
	}
	if set&colSearch != 0 {
		b.WriteString(`, search = ?`)
	}
	b.WriteString(` WHERE id = ? AND version = ?`)
	return b.String()
}

// columns is a set of the optional columns of updateJob.
type columns uint8

const (
	colState columns = 1 << iota
	colCreatedAt
	colSearch
	allColumns = colState | colCreatedAt | colSearch
)

// updateArgs are the arguments of updateJob(set) writing r over version.
func updateArgs(set columns, r row, version int64) []any {
	args := []any{r.version, r.faxSID, r.nextAt, r.updatedAt, r.data}
	if set&colState != 0 {
		args = append(args, r.state)
	}
	if set&colCreatedAt != 0 {
		args = append(args, r.createdAt)
	}
	if set&colSearch != 0 {
		args = append(args, r.search)
	}
	return append(args, r.id, version)
}

// insertSID and insertMailTo record a job's fax SIDs and mail addresses
// on every write.
const (
	insertSID    = `INSERT INTO fax_sids (sid, job_id) VALUES (?, ?) ON CONFLICT (sid) DO NOTHING`
	insertMailTo = `INSERT INTO job_mail_to (address, job_id) VALUES (?, ?) ON CONFLICT (address, job_id) DO NOTHING`
)

// getJob and getJobBySID read one job for a worker step or a callback
// (Get, GetBySID), with the columns Update compares against.
const (
	getJob      = `SELECT version, data, state, created_at, search FROM jobs WHERE id = ?`
	getJobBySID = `SELECT j.version, j.data, j.state, j.created_at, j.search FROM fax_sids s JOIN jobs j ON j.id = s.job_id WHERE s.sid = ?`
)

// claimDue and claimLease are the worker's claim (Claim): the due jobs,
// then a lease on each. PostgreSQL appends FOR UPDATE SKIP LOCKED to the
// first.
const (
	claimDue = `SELECT id, version, data, state, created_at, search FROM jobs
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
	writes := []string{insertJob, insertSID, insertMailTo, claimDue, claimLease, savepoint, rollbackTo, release,
		unindexKey, keyPending, indexBatchQ, unlistBatch, mergeStep}
	for set := range allColumns + 1 {
		writes = append(writes, updateJob(set))
	}
	for _, q := range writes {
		st, err := db.wr.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		db.stmts[q] = st
	}
	// The readers are a pool: a statement prepared on it is prepared again
	// on each connection the first time it runs there, and kept.
	db.readStmts = map[string]*sql.Stmt{}
	for _, q := range []string{nextDue, getJob, getJobBySID} {
		st, err := db.rd.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		db.readStmts[q] = st
	}
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

package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
)

var _ faxbridge.ConsoleStore = (*DB)(nil)

// defaultPage is the length of a console page when the query names none.
const defaultPage = 50

// Search returns one page of jobs, newest first. Every filter is a column
// with an index that leads to created_at, so a page reads about Limit rows
// however many jobs there are; a text search reads the jobs its trigram
// index names (see search.go), or without one walks the rows (the narrow
// search column, not the JSON) until it has filled a page.
func (db *DB) Search(ctx context.Context, q faxbridge.JobQuery) ([]*faxbridge.Job, error) {
	query, args := db.searchQuery(q)
	return db.queryJobs(ctx, "search jobs", query, args...)
}

// searchQuery is the query Search runs, in the dialect, and its arguments.
//
// A console user's list is the union of two lists, each cut to a page on
// its own before they are merged: the jobs the user sent (the sender
// index, newest first) and the received faxes mailed to the user
// (job_mail_to). One condition with OR between them would leave the
// engine no index that gives both in order: SQLite then read a hundred
// times as many rows.
func (db *DB) searchQuery(q faxbridge.JobQuery) (string, []any) {
	var (
		cond string
		args []any
	)
	if q.Direction != "" {
		cond += ` AND direction = ?`
		args = append(args, string(q.Direction))
	}
	if q.State != "" {
		cond += ` AND state = ?`
		args = append(args, string(q.State))
	}
	if t := faxbridge.SearchTerm(q.Text); t != "" {
		c, targs := db.textCondition(t)
		cond += ` AND ` + c
		args = append(args, targs...)
	}
	if !q.Since.IsZero() {
		cond += ` AND created_at >= ?`
		args = append(args, millis(q.Since))
	}
	if !q.Until.IsZero() {
		cond += ` AND created_at < ?`
		args = append(args, millis(q.Until))
	}
	if q.After != nil {
		// Written out rather than as a row comparison so that both
		// engines see a range on created_at they can take from an index.
		at := millis(q.After.CreatedAt)
		cond += ` AND created_at <= ? AND (created_at < ? OR id < ?)`
		args = append(args, at, at, q.After.ID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPage
	}
	const order = ` ORDER BY created_at DESC, id DESC LIMIT ?`
	if q.Sender == "" && len(q.MailTo) == 0 {
		return db.d.q(`SELECT version, data FROM jobs WHERE 1 = 1` + cond + order), append(args, limit)
	}

	const cols = `SELECT version, data, created_at, id FROM jobs WHERE `
	var (
		arms    []string
		allArgs []any
	)
	if q.Sender != "" {
		arms = append(arms, cols+`sender = ?`+cond+order)
		allArgs = append(append(append(allArgs, q.Sender), args...), limit)
	}
	if len(q.MailTo) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(q.MailTo)), ", ")
		arm := cols + `direction = ? AND id IN (SELECT job_id FROM job_mail_to WHERE address IN (` + marks + `))`
		allArgs = append(allArgs, string(faxbridge.Inbound))
		for _, a := range q.MailTo {
			allArgs = append(allArgs, faxbridge.MailAddress(a))
		}
		if q.Sender != "" {
			arm += ` AND sender <> ?` // in the first list already
			allArgs = append(allArgs, q.Sender)
		}
		arms = append(arms, arm+cond+order)
		allArgs = append(append(allArgs, args...), limit)
	}
	for i, a := range arms {
		arms[i] = fmt.Sprintf(`SELECT * FROM (%s) AS arm%d`, a, i)
	}
	query := `SELECT version, data FROM (` + strings.Join(arms, ` UNION ALL `) + `) AS mine` + order
	return db.d.q(query), append(allArgs, limit)
}

// CreateSession stores a new session and clears out expired ones, so the
// table holds only sessions that can still be used.
func (db *DB) CreateSession(ctx context.Context, s faxbridge.Session, idleSince, createdSince time.Time) error {
	if s.ID == "" || s.User == "" {
		return faxbridge.Errorf(faxbridge.EInvalid, "a session needs an ID and a user")
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.d.q(`DELETE FROM console_sessions WHERE seen_at < ? OR created_at < ?`),
			millis(idleSince), millis(createdSince)); err != nil {
			return fmt.Errorf("delete expired sessions: %w", err)
		}
		_, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO console_sessions (id, user_name, csrf, created_at, seen_at) VALUES (?, ?, ?, ?, ?)`),
			s.ID, s.User, s.CSRF, millis(s.CreatedAt), millis(s.SeenAt))
		if err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		return nil
	})
	return db.fail(err)
}

// Session returns the session or ENotFound.
func (db *DB) Session(ctx context.Context, id string) (*faxbridge.Session, error) {
	var (
		s             faxbridge.Session
		created, seen int64
	)
	err := db.rd.QueryRowContext(ctx, db.d.q(`SELECT id, user_name, csrf, created_at, seen_at FROM console_sessions WHERE id = ?`), id).
		Scan(&s.ID, &s.User, &s.CSRF, &created, &seen)
	if err == sql.ErrNoRows {
		return nil, faxbridge.Errorf(faxbridge.ENotFound, "no such session")
	}
	if err != nil {
		return nil, db.fail(fmt.Errorf("read session: %w", err))
	}
	s.CreatedAt, s.SeenAt = time.UnixMilli(created), time.UnixMilli(seen)
	return &s, nil
}

// TouchSession records that the session was used at seen. It never moves
// seen_at back, so two instances touching one session cannot shorten it.
func (db *DB) TouchSession(ctx context.Context, id string, seen time.Time) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.d.q(`UPDATE console_sessions SET seen_at = ? WHERE id = ? AND seen_at < ?`), millis(seen), id, millis(seen))
		return err
	})
	if err != nil {
		return db.fail(fmt.Errorf("touch session: %w", err))
	}
	return nil
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.d.q(`DELETE FROM console_sessions WHERE id = ?`), id)
		return err
	})
	if err != nil {
		return db.fail(fmt.Errorf("delete session: %w", err))
	}
	return nil
}

// Audit appends an entry to the audit log.
func (db *DB) Audit(ctx context.Context, e faxbridge.AuditEntry) error {
	if e.ID == "" {
		e.ID = faxbridge.NewID()
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO audit_log (id, job_id, at, user_name, action, detail) VALUES (?, ?, ?, ?, ?, ?)`),
			e.ID, e.JobID, millis(e.At), e.User, e.Action, e.Detail)
		return err
	})
	if err != nil {
		return db.fail(fmt.Errorf("audit %s: %w", e.Action, err))
	}
	return nil
}

// AuditLog returns a job's entries, oldest first.
func (db *DB) AuditLog(ctx context.Context, jobID string) ([]faxbridge.AuditEntry, error) {
	rows, err := db.rd.QueryContext(ctx, db.d.q(`SELECT id, job_id, at, user_name, action, detail FROM audit_log WHERE job_id = ? ORDER BY at, id`), jobID)
	if err != nil {
		return nil, db.fail(fmt.Errorf("read audit log: %w", err))
	}
	defer rows.Close()
	var out []faxbridge.AuditEntry
	for rows.Next() {
		var (
			e  faxbridge.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.ID, &e.JobID, &at, &e.User, &e.Action, &e.Detail); err != nil {
			return nil, db.fail(fmt.Errorf("read audit log: %w", err))
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(fmt.Errorf("read audit log: %w", err))
	}
	return out, nil
}

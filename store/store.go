// Package store keeps faxbridge jobs in SQL: SQLite for a single host (the
// embedded default) and PostgreSQL for several instances sharing one database.
// Both speak the same schema and the same queries; a small dialect value holds
// the few places where they differ.
//
// Each job is stored whole as JSON in jobs.data. The other columns of jobs are
// copies of the fields that queries filter and sort on, rewritten from the Job
// on every write so they never drift from it. fax_sids maps the SID of every
// attempt to its job, so a late callback for an earlier attempt still finds it.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
)

// DB is a faxbridge.JobStore over database/sql.
type DB struct {
	// wr takes every write transaction. For SQLite it is a single connection:
	// SQLite admits one writer at a time anyway, and queueing in database/sql
	// is fairer and cheaper than connections sleeping in SQLite's busy handler.
	wr *sql.DB
	// rd serves plain reads. For SQLite it is a separate pool so reads go on
	// (WAL) while the writer waits for fsync; for PostgreSQL it is wr.
	rd *sql.DB
	d  dialect
	// group batches concurrent writes into one commit (SQLite only).
	group *grouper
	// upkeep indexes changed jobs for search and checkpoints the
	// write-ahead log, off the writer's path (SQLite only; see upkeep.go).
	upkeep *upkeep
	// indexed is set when text search has its index (see searchIndex).
	indexed bool
	// stmts are the writer's prepared statements (SQLite; set at open,
	// read-only after; see prepareWriter).
	stmts map[string]*sql.Stmt
	// readStmts are the readers' prepared statements (SQLite, likewise).
	readStmts map[string]*sql.Stmt
}

var _ faxbridge.JobStore = (*DB)(nil)

// dialect is everything that differs between the SQL engines.
type dialect struct {
	// dollar selects $1, $2, … placeholders instead of ?.
	dollar bool
	// skipLocked ends the claim query so that concurrent claimers pass over
	// rows another transaction is claiming instead of waiting for them.
	skipLocked string
	// migrateLock, run first in the migration transaction, serialises
	// instances that open the same database at once. SQLite needs none: the
	// transaction itself starts with BEGIN IMMEDIATE and so holds the write
	// lock from its first statement.
	migrateLock string
	// classify maps a driver error to a code and a sender-safe message, or
	// reports false when it does not recognise the error.
	classify func(error) (faxbridge.Code, string, bool)
	// duplicate reports whether err is a unique-key violation. Only Create
	// expects one (a job ID already taken); anywhere else it is a bug.
	duplicate func(error) bool
	// reclaim, run after Purge deleted rows, returns some freed pages to
	// the file system ("" where the engine does it itself).
	reclaim string
	// searchIndex gives text search its index (migration 9); hasSearchIndex
	// reports whether it is there, after every open.
	searchIndex    func(ctx context.Context, tx *sql.Tx) error
	hasSearchIndex func(ctx context.Context, db *sql.DB) (bool, error)
	// deferSearch moves the search index's upkeep out of commits
	// (migration 10; nil where the engine needs nothing: PostgreSQL).
	deferSearch func(ctx context.Context, tx *sql.Tx) error
	// textMatch is the condition by which Search finds a term through
	// that index, and textArgs the arguments of its placeholders.
	textMatch string
	textArgs  func(term string) []any
}

// q rewrites a query written with ? placeholders for the dialect. The queries
// in this package never contain a literal question mark.
func (d dialect) q(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// migrations are applied in order, each in its own transaction, and recorded
// in schema_migrations. Never edit one that has shipped: append a new one.
// The statements are the same for both engines: TEXT holds the JSON in
// PostgreSQL too, because jsonb refuses the \u0000 escape that encoding/json
// writes for a NUL in, say, a mail subject, and nothing queries inside data.
var migrations = [][]string{
	1: {
		`CREATE TABLE jobs (
			id          TEXT PRIMARY KEY,
			version     BIGINT NOT NULL,
			state       TEXT NOT NULL,
			fax_sid     TEXT NOT NULL DEFAULT '',
			next_at     BIGINT,
			lease_owner TEXT NOT NULL DEFAULT '',
			lease_until BIGINT NOT NULL DEFAULT 0,
			created_at  BIGINT NOT NULL,
			updated_at  BIGINT NOT NULL,
			data        TEXT NOT NULL
		)`,
		`CREATE INDEX jobs_next_at ON jobs (next_at)`,
		`CREATE INDEX jobs_state ON jobs (state)`,
		`CREATE INDEX jobs_created_at ON jobs (created_at)`,
		`CREATE TABLE fax_sids (
			sid    TEXT PRIMARY KEY,
			job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE
		)`,
		`CREATE INDEX fax_sids_job_id ON fax_sids (job_id)`,
	},
	// 2: who sent each job and its pages, for per-sender quotas.
	2: {
		`ALTER TABLE jobs ADD COLUMN sender TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE jobs ADD COLUMN pages BIGINT NOT NULL DEFAULT 0`,
		`CREATE INDEX jobs_sender_created ON jobs (sender, created_at)`,
	},
	// 3: which way each fax travels, so lists can show one direction.
	3: {
		`ALTER TABLE jobs ADD COLUMN direction TEXT NOT NULL DEFAULT 'outbound'`,
		`CREATE INDEX jobs_direction_created ON jobs (direction, created_at)`,
	},
	4: {},
	// 5: keys of messages admitted in MX mode, so that a replayed message
	// is refused within the replay window (see CreateAdmitted).
	5: {
		`CREATE TABLE message_keys (
			message_key TEXT PRIMARY KEY,
			created_at BIGINT NOT NULL
		)`,
		`CREATE INDEX message_keys_created_at ON message_keys (created_at)`,
	},
	6: {},
	// 7: the web console. search holds faxbridge.SearchText of each job
	// (old rows get their whole JSON, lowercased: it contains the same
	// fields); sessions survive restarts and are shared by instances; the
	// audit log records who did what to which fax. The indexes serve the
	// console's filters in newest-first order.
	7: {
		`ALTER TABLE jobs ADD COLUMN search TEXT NOT NULL DEFAULT ''`,
		`UPDATE jobs SET search = lower(data)`,
		`CREATE INDEX jobs_state_created ON jobs (state, created_at)`,
		`CREATE INDEX jobs_created_search ON jobs (created_at, id, search)`,
		`CREATE TABLE console_sessions (
			id         TEXT PRIMARY KEY,
			user_name  TEXT NOT NULL,
			csrf       TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			seen_at    BIGINT NOT NULL
		)`,
		`CREATE INDEX console_sessions_seen ON console_sessions (seen_at)`,
		`CREATE TABLE audit_log (
			id        TEXT PRIMARY KEY,
			job_id    TEXT NOT NULL,
			at        BIGINT NOT NULL,
			user_name TEXT NOT NULL,
			action    TEXT NOT NULL,
			detail    TEXT NOT NULL
		)`,
		`CREATE INDEX audit_log_job ON audit_log (job_id, at)`,
	},
	// 8: cost that does not grow with the number of finished jobs. The
	// worker's queries (Claim, NextDue) look only at active jobs, and
	// retention only at settled ones: each gets a partial index over just
	// those rows, so finished jobs neither lengthen its scans nor are
	// rewritten in it. pace holds the shared schedule of provider calls
	// (see Reserve).
	8: {
		`CREATE INDEX jobs_active ON jobs (next_at) WHERE next_at IS NOT NULL`,
		`DROP INDEX jobs_next_at`,
		`CREATE INDEX jobs_settled ON jobs (state, updated_at) WHERE next_at IS NULL`,
		`CREATE INDEX jobs_leased ON jobs (lease_until) WHERE lease_until > 0`,
		`CREATE TABLE pace (
			name    TEXT PRIMARY KEY,
			next_at BIGINT NOT NULL
		)`,
	},
	// 9: the console. job_mail_to lists the addresses each received fax
	// is mailed to (faxbridge.MailAddress form), so that a console user's
	// list of the faxes mailed to them is an index lookup; the step
	// fills it for faxes received before, and gives text search its
	// index, which differs by engine (see searchIndex).
	9: {
		`CREATE TABLE job_mail_to (
			address TEXT NOT NULL,
			job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
			PRIMARY KEY (address, job_id)
		)`,
		`CREATE INDEX job_mail_to_job ON job_mail_to (job_id)`,
	},
	// 10: SQLite's search index is brought up to date after commits
	// rather than in them (see sqliteDeferSearch); its Go step is all of
	// it.
	10: nil,
}

// migrationSteps are the parts of a migration that are Go rather than
// shared SQL: they run after the statements of the same number, in the
// same transaction.
var migrationSteps = map[int]func(ctx context.Context, db *DB, tx *sql.Tx) error{
	9: func(ctx context.Context, db *DB, tx *sql.Tx) error {
		if err := backfillMailTo(ctx, db, tx); err != nil {
			return err
		}
		return db.d.searchIndex(ctx, tx)
	},
	10: func(ctx context.Context, db *DB, tx *sql.Tx) error {
		if db.d.deferSearch == nil {
			return nil
		}
		return db.d.deferSearch(ctx, tx)
	},
}

// migrate brings the schema up to date. It is idempotent and safe to run from
// several instances at once.
func (db *DB) migrate(ctx context.Context) error {
	for v := 1; v < len(migrations); v++ {
		if len(migrations[v]) == 0 && migrationSteps[v] == nil {
			// A number reserved for a migration still being written
			// elsewhere: recording it as applied would make the real one
			// be skipped once it arrives.
			continue
		}
		err := db.tx(ctx, func(tx *sql.Tx) error {
			if db.d.migrateLock != "" {
				if _, err := tx.ExecContext(ctx, db.d.migrateLock); err != nil {
					return fmt.Errorf("lock: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)`); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, db.d.q(`SELECT count(*) FROM schema_migrations WHERE version = ?`), v).Scan(&n); err != nil {
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			if n > 0 {
				return nil
			}
			for _, s := range migrations[v] {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return err
				}
			}
			if step := migrationSteps[v]; step != nil {
				if err := step(ctx, db, tx); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, db.d.q(`INSERT INTO schema_migrations (version) VALUES (?)`), v)
			return err
		})
		if err != nil {
			return db.fail(fmt.Errorf("migration %d: %w", v, err))
		}
	}
	return nil
}

// Ping reports whether the database answers, for readiness checks.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.wr.PingContext(ctx); err != nil {
		return db.fail(fmt.Errorf("ping: %w", err))
	}
	if db.rd != db.wr {
		if err := db.rd.PingContext(ctx); err != nil {
			return db.fail(fmt.Errorf("ping readers: %w", err))
		}
	}
	return nil
}

// Close closes the connection pools.
func (db *DB) Close() error {
	if db.group != nil {
		db.group.close()
	}
	err := db.upkeep.close()
	if werr := db.wr.Close(); err == nil {
		err = werr
	}
	if db.rd != db.wr {
		if rerr := db.rd.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// tx runs fn in a write transaction and commits it if fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.wr.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.upkeep.committed()
	return nil
}

// row is the stored form of one job.
type row struct {
	id        string
	version   int64
	state     string
	faxSID    string
	nextAt    sql.NullInt64
	createdAt int64
	updatedAt int64
	data      string
	sids      []string
	sender    string
	pages     int64
	direction string
	search    string
	mailTo    []string // faxbridge.MailAddress of each MailTo of a received fax
}

// encode builds the stored form of j as it will be at version v.
func encode(j *faxbridge.Job, v int64) (row, error) {
	c := *j
	c.Version = v
	data, err := json.Marshal(&c)
	if err != nil {
		return row{}, fmt.Errorf("encode job %s: %w", j.ID, err)
	}
	r := row{
		id:        j.ID,
		version:   v,
		state:     string(j.State),
		faxSID:    j.FaxSID,
		createdAt: millis(j.CreatedAt),
		updatedAt: millis(j.UpdatedAt),
		data:      string(data),
		sender:    j.Sender,
		pages:     int64(j.Pages),
		direction: string(j.Dir()),
		search:    faxbridge.SearchText(j),
	}
	if !j.NextAt.IsZero() {
		r.nextAt = sql.NullInt64{Int64: dueMillis(j.NextAt), Valid: true}
	}
	r.sids = sidsOf(j)
	r.mailTo = mailAddresses(j)
	return r, nil
}

// sidsOf lists the distinct fax SIDs the job names.
func sidsOf(j *faxbridge.Job) []string {
	var sids []string
	add := func(s string) {
		if s != "" && !slices.Contains(sids, s) {
			sids = append(sids, s)
		}
	}
	add(j.FaxSID)
	for _, a := range j.Attempts {
		add(a.FaxSID)
	}
	for _, x := range j.ExtraFaxes {
		add(x.SID)
	}
	return sids
}

// stored is what the store knows of a job's row (Job.Stored): the
// optional columns of updateJob as they are in the row, and the SIDs and
// mail addresses already recorded for it, which are only ever added.
type stored struct {
	state     string
	createdAt int64
	search    string
	sids      []string
	mailTo    []string
}

// stored is the note of r for the job written as r.
func (r row) stored() *stored {
	return &stored{state: r.state, createdAt: r.createdAt, search: r.search, sids: r.sids, mailTo: r.mailTo}
}

// changed is the set of optional columns Update must write for r over a
// row noted as old (every one when there is no note).
func changed(old *stored, r row) columns {
	if old == nil {
		return allColumns
	}
	var set columns
	if old.state != r.state {
		set |= colState
	}
	if old.createdAt != r.createdAt {
		set |= colCreatedAt
	}
	if old.search != r.search {
		set |= colSearch
	}
	return set
}

// noteRead sets j.Stored from the columns read with it. Its SIDs and mail
// addresses were recorded by the write that stored this version of it.
func noteRead(j *faxbridge.Job, state string, createdAt int64, search string) {
	j.Stored = &stored{state: state, createdAt: createdAt, search: search, sids: sidsOf(j), mailTo: mailAddresses(j)}
}

// mailAddresses are the distinct addresses a received fax is mailed to,
// in faxbridge.MailAddress form (none for a fax sent).
func mailAddresses(j *faxbridge.Job) []string {
	if j.Dir() != faxbridge.Inbound {
		return nil
	}
	var out []string
	for _, m := range j.MailTo {
		if a := faxbridge.MailAddress(m); a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// writeMailTo records where a received fax is mailed. The addresses of
// a job never change once set, so rows are only ever added.
func (db *DB) writeMailTo(ctx context.Context, tx *sql.Tx, r row, old *stored) error {
	for _, a := range r.mailTo {
		if old != nil && slices.Contains(old.mailTo, a) {
			continue
		}
		if _, err := db.execTx(ctx, tx, insertMailTo, a, r.id); err != nil {
			return fmt.Errorf("record mail address: %w", err)
		}
	}
	return nil
}

// backfillMailTo fills job_mail_to for the received faxes stored before
// it existed (migration 9).
func backfillMailTo(ctx context.Context, db *DB, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, db.d.q(`SELECT version, data FROM jobs WHERE direction = ?`), string(faxbridge.Inbound))
	if err != nil {
		return fmt.Errorf("read received faxes: %w", err)
	}
	var todo []row
	for rows.Next() {
		var (
			v    int64
			data string
		)
		if err := rows.Scan(&v, &data); err != nil {
			rows.Close()
			return fmt.Errorf("read received faxes: %w", err)
		}
		j, err := decode(v, data)
		if err != nil {
			rows.Close()
			return err
		}
		todo = append(todo, row{id: j.ID, mailTo: mailAddresses(j)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read received faxes: %w", err)
	}
	for _, r := range todo {
		if err := db.writeMailTo(ctx, tx, r, nil); err != nil {
			return err
		}
	}
	return nil
}

// decode rebuilds a job from its stored JSON. The version column is the
// authority for Version; the copy inside data always agrees with it.
func decode(version int64, data string) (*faxbridge.Job, error) {
	var j faxbridge.Job
	if err := json.Unmarshal([]byte(data), &j); err != nil {
		return nil, fmt.Errorf("decode job: %w", err)
	}
	j.Version = version
	return &j, nil
}

// millis is t in Unix milliseconds, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// dueMillis rounds t up to the millisecond, so a job is never claimed before
// its NextAt.
func dueMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return ms
}

// writeSIDs records the job's fax SIDs. A SID belongs to the job that first
// recorded it: providers never reuse one, so a second job naming it can only
// have adopted another job's fax (two reconciliations racing for one fax),
// and its write is refused with faxbridge.ErrFaxTaken.
func (db *DB) writeSIDs(ctx context.Context, tx *sql.Tx, r row, old *stored) error {
	for _, s := range r.sids {
		if old != nil && slices.Contains(old.sids, s) {
			continue // recorded for this job by an earlier write
		}
		res, err := db.execTx(ctx, tx, insertSID, s, r.id)
		if err != nil {
			return fmt.Errorf("record fax sid: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			continue
		}
		var owner string
		if err := tx.QueryRowContext(ctx, db.d.q(`SELECT job_id FROM fax_sids WHERE sid = ?`), s).Scan(&owner); err != nil {
			return fmt.Errorf("find the owner of fax sid: %w", err)
		}
		if owner != r.id {
			return faxbridge.WrapError(faxbridge.EConflict, faxbridge.ErrFaxTaken, "fax %s belongs to job %s", s, owner)
		}
	}
	return nil
}

// Create stores new jobs atomically: all or none. A job whose ID is already
// stored (or appears twice in jobs) fails the whole batch with EConflict.
func (db *DB) Create(ctx context.Context, jobs []*faxbridge.Job) error {
	rows, _, err := encodeNew(jobs)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	db.upkeep.accepting()
	err = db.write(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.insertRows(ctx, tx, rows) })
	return noteCreated(jobs, rows, db.createError(err))
}

// noteCreated sets Job.Stored of jobs stored as rows, unless err says they
// were not.
func noteCreated(jobs []*faxbridge.Job, rows []row, err error) error {
	if err == nil {
		for i, j := range jobs {
			j.Stored = rows[i].stored()
		}
	}
	return err
}

// encodeNew encodes new jobs for insertRows, and counts their pages.
func encodeNew(jobs []*faxbridge.Job) (rows []row, pages int, err error) {
	rows = make([]row, 0, len(jobs))
	for _, j := range jobs {
		if j == nil || j.ID == "" {
			return nil, 0, faxbridge.Errorf(faxbridge.EInvalid, "a job has no ID")
		}
		r, err := encode(j, j.Version)
		if err != nil {
			return nil, 0, faxbridge.WrapError(faxbridge.EInternal, err, "the job could not be stored")
		}
		rows = append(rows, r)
		pages += j.Pages
	}
	return rows, pages, nil
}

// insertRows inserts new jobs in tx: the one INSERT of a job, for Create
// and CreateAdmitted alike.
func (db *DB) insertRows(ctx context.Context, tx *sql.Tx, rows []row) error {
	for _, r := range rows {
		_, err := db.execTx(ctx, tx, insertJob,
			r.id, r.version, r.state, r.faxSID, r.nextAt, r.createdAt, r.updatedAt, r.data, r.sender, r.pages, r.direction, r.search)
		if err != nil {
			return fmt.Errorf("insert job %s: %w", r.id, err)
		}
		if err := db.writeSIDs(ctx, tx, r, nil); err != nil {
			return err
		}
		if err := db.writeMailTo(ctx, tx, r, nil); err != nil {
			return err
		}
	}
	return nil
}

// createError maps the error of a transaction that inserted new jobs: a
// job ID that exists already is a conflict.
func (db *DB) createError(err error) error {
	switch {
	case err == nil:
		return nil
	case db.d.duplicate(err):
		return faxbridge.WrapError(faxbridge.EConflict, fmt.Errorf("create jobs: %w", err), msgExists)
	}
	return db.fail(fmt.Errorf("create jobs: %w", err))
}

// Usage counts the jobs a sender created since a time, and their pages.
func (db *DB) Usage(ctx context.Context, sender string, since time.Time) (faxes, pages int, err error) {
	var p sql.NullInt64
	err = db.rd.QueryRowContext(ctx, db.d.q(`SELECT count(*), sum(pages) FROM jobs WHERE sender = ? AND created_at >= ?`),
		sender, millis(since)).Scan(&faxes, &p)
	if err != nil {
		return 0, 0, db.fail(fmt.Errorf("usage of %s: %w", sender, err))
	}
	return faxes, int(p.Int64), nil
}

// Get returns the job or an error with code NotFound.
func (db *DB) Get(ctx context.Context, id string) (*faxbridge.Job, error) {
	return db.one(ctx, getJob, id)
}

// GetBySID returns the job whose current or earlier attempt has the fax SID.
func (db *DB) GetBySID(ctx context.Context, sid string) (*faxbridge.Job, error) {
	if sid == "" {
		return nil, faxbridge.Errorf(faxbridge.ENotFound, "no such fax")
	}
	return db.one(ctx, getJobBySID, sid)
}

// one reads a job with getJob or getJobBySID.
func (db *DB) one(ctx context.Context, query string, arg string) (*faxbridge.Job, error) {
	var (
		v, createdAt        int64
		data, state, search string
	)
	err := db.queryRow(ctx, query, arg).Scan(&v, &data, &state, &createdAt, &search)
	if err != nil {
		return nil, db.fail(fmt.Errorf("get job %s: %w", arg, err))
	}
	j, err := decode(v, data)
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInternal, err, "the job could not be read")
	}
	noteRead(j, state, createdAt, search)
	return j, nil
}

// Update writes j if its Version still matches the stored one, and then
// increments j.Version; otherwise it returns EConflict and writes nothing.
// It also ends any lease on the job: the holder's update is the end of its
// turn, and the job's NextAt says when the next one is due.
func (db *DB) Update(ctx context.Context, j *faxbridge.Job) error {
	if j == nil || j.ID == "" {
		return faxbridge.Errorf(faxbridge.EInvalid, "a job has no ID")
	}
	r, err := encode(j, j.Version+1)
	if err != nil {
		return faxbridge.WrapError(faxbridge.EInternal, err, "the job could not be stored")
	}
	old, _ := j.Stored.(*stored)
	set := changed(old, r)
	err = db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := db.execTx(ctx, tx, updateJob(set), updateArgs(set, r, j.Version)...)
		if err != nil {
			return fmt.Errorf("update job %s: %w", r.id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("update job %s: %w", r.id, err)
		}
		if n == 0 {
			return db.missingOr(ctx, tx, r.id, faxbridge.Errorf(faxbridge.EConflict, "the job was changed by someone else"))
		}
		if err := db.writeSIDs(ctx, tx, r, old); err != nil {
			return err
		}
		return db.writeMailTo(ctx, tx, r, old)
	})
	if err != nil {
		return db.fail(err)
	}
	j.Version++
	j.Stored = r.stored()
	return nil
}

// missingOr returns ENotFound when the job does not exist and err otherwise.
func (db *DB) missingOr(ctx context.Context, tx *sql.Tx, id string, err error) error {
	var one int
	qerr := tx.QueryRowContext(ctx, db.d.q(`SELECT 1 FROM jobs WHERE id = ?`), id).Scan(&one)
	switch {
	case qerr == sql.ErrNoRows:
		return faxbridge.Errorf(faxbridge.ENotFound, "no such job")
	case qerr != nil:
		return fmt.Errorf("find job %s: %w", id, qerr)
	}
	return err
}

// Claim leases up to limit jobs whose NextAt is at or before now and that no
// other worker holds (or whose lease has ended), earliest NextAt first.
//
// A claim does not change Version. Fencing a worker whose lease ran out comes
// from the optimistic check instead: of two workers holding the same version,
// only the first Update succeeds, so a worker must record its intent with an
// Update before it acts outside the store.
func (db *DB) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*faxbridge.Job, error) {
	if owner == "" {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "a claim needs an owner")
	}
	if lease <= 0 {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "a claim needs a positive lease")
	}
	if limit <= 0 {
		return nil, nil
	}
	nowMs := now.UnixMilli()
	until := now.Add(lease).UnixMilli()
	if until <= nowMs {
		until = math.MaxInt64 // overflowed: an effectively endless lease
	}
	var jobs []*faxbridge.Job
	err := db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := db.queryTx(ctx, tx, claimDue+db.d.skipLocked, nowMs, nowMs, limit)
		if err != nil {
			return fmt.Errorf("select due jobs: %w", err)
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var (
				id, data, state, search string
				v, createdAt            int64
			)
			if err := rows.Scan(&id, &v, &data, &state, &createdAt, &search); err != nil {
				return fmt.Errorf("scan due job: %w", err)
			}
			j, err := decode(v, data)
			if err != nil {
				return faxbridge.WrapError(faxbridge.EInternal, err, "a job could not be read")
			}
			noteRead(j, state, createdAt, search)
			ids = append(ids, id)
			jobs = append(jobs, j)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("select due jobs: %w", err)
		}
		rows.Close()
		for _, id := range ids {
			if _, err := db.execTx(ctx, tx, claimLease, owner, until, id); err != nil {
				return fmt.Errorf("lease job %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.fail(fmt.Errorf("claim jobs: %w", err))
	}
	return jobs, nil
}

// Release drops owner's lease on the job so another claim can take it. It
// does nothing when owner does not hold the lease, and returns ENotFound when
// there is no such job.
func (db *DB) Release(ctx context.Context, id, owner string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.d.q(`UPDATE jobs SET lease_owner = '', lease_until = 0 WHERE id = ? AND lease_owner = ?`), id, owner)
		if err != nil {
			return fmt.Errorf("release job %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("release job %s: %w", id, err)
		}
		if n == 0 {
			return db.missingOr(ctx, tx, id, nil)
		}
		return nil
	})
	if err != nil {
		return db.fail(err)
	}
	return nil
}

// List returns jobs, newest first.
func (db *DB) List(ctx context.Context, f faxbridge.JobFilter) ([]*faxbridge.Job, error) {
	query := `SELECT version, data FROM jobs WHERE 1 = 1`
	var args []any
	if f.State != "" {
		query += ` AND state = ?`
		args = append(args, string(f.State))
	}
	if f.Direction != "" {
		query += ` AND direction = ?`
		args = append(args, string(f.Direction))
	}
	if f.Active {
		query += ` AND next_at IS NOT NULL`
	}
	query += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return db.queryJobs(ctx, "list jobs", db.d.q(query), args...)
}

// queryJobs runs a read whose rows are (version, data) and decodes them.
// what names the read in errors.
func (db *DB) queryJobs(ctx context.Context, what, query string, args ...any) ([]*faxbridge.Job, error) {
	rows, err := db.rd.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, db.fail(fmt.Errorf("%s: %w", what, err))
	}
	defer rows.Close()
	var jobs []*faxbridge.Job
	for rows.Next() {
		var (
			v    int64
			data string
		)
		if err := rows.Scan(&v, &data); err != nil {
			return nil, db.fail(fmt.Errorf("%s: %w", what, err))
		}
		j, err := decode(v, data)
		if err != nil {
			return nil, faxbridge.WrapError(faxbridge.EInternal, err, "a job could not be read")
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(fmt.Errorf("%s: %w", what, err))
	}
	return jobs, nil
}

// NextDue returns the earliest time at which Claim can take an active job,
// or zero if none is active. A job under lease counts from the end of its
// lease rather than from its NextAt: a worker that sleeps until NextDue would
// otherwise wake again and again for a job it cannot claim.
func (db *DB) NextDue(ctx context.Context) (time.Time, error) {
	//
	// It is the smaller of two index walks, neither of which reads every
	// active job (a backlog, or faxes waiting for their callback, can be
	// thousands, and the worker asks after most steps): the first job in
	// next_at order that is not held past its NextAt (the walk passes over
	// only the few held ones), and the earliest end of a lease that does
	// hold a job past its NextAt (jobs_leased has only leased jobs).
	var free, held sql.NullInt64
	err := db.queryRow(ctx, nextDue).Scan(&free, &held)
	if err != nil {
		return time.Time{}, db.fail(fmt.Errorf("next due job: %w", err))
	}
	switch {
	case !free.Valid && !held.Valid:
		return time.Time{}, nil
	case !held.Valid || (free.Valid && free.Int64 <= held.Int64):
		return time.UnixMilli(free.Int64), nil
	}
	return time.UnixMilli(held.Int64), nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/faxbridge/faxbridge"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeoutMs is how long a connection waits for another process's write
// lock before it gives up with SQLITE_BUSY.
const busyTimeoutMs = "5000"

// OpenSQLite opens (creating if needed) the SQLite database at path and
// brings its schema up to date. The file is made readable by its owner only.
//
// Every commit is fsynced (synchronous=FULL in WAL mode): the SMTP server
// says 250 only after the job is committed, and that promise must survive a
// power cut. Write transactions start with BEGIN IMMEDIATE, so a transaction
// that reads before it writes cannot fail half-way on lock upgrade.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the job database path is not valid")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EUnavailable, err, msgUnavailable)
	}
	f.Close()
	// The jobs hold addresses, subjects and SIP passwords. SQLite gives the
	// -wal and -shm files the mode of the database file, so this covers them.
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, faxbridge.WrapError(faxbridge.EUnavailable, err, msgUnavailable)
	}

	common := "_pragma=busy_timeout(" + busyTimeoutMs + ")&_pragma=foreign_keys(1)"
	// auto_vacuum first: on a new file it takes effect with the first
	// table, without the VACUUM an existing file needs (incrementalVacuum).
	wr, err := sql.Open("sqlite", path+"?_pragma=auto_vacuum(2)&"+common+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint("+backstopPages+")&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	wr.SetMaxOpenConns(1)
	wr.SetMaxIdleConns(1)
	wr.SetConnMaxLifetime(0)
	wr.SetConnMaxIdleTime(0)

	db := &DB{wr: wr, rd: wr, d: sqliteDialect}
	// The writer goes first: it switches the file to WAL and creates the
	// schema before any reader looks.
	if err := db.Ping(ctx); err != nil {
		wr.Close()
		return nil, err
	}
	if err := db.incrementalVacuum(ctx); err != nil {
		wr.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		wr.Close()
		return nil, err
	}
	if err := db.openSearchIndex(ctx); err != nil {
		wr.Close()
		return nil, err
	}
	// Readers cannot write even by mistake, so every write goes through the
	// one writer and its IMMEDIATE transactions.
	rd, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		wr.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	rd.SetMaxOpenConns(4)
	rd.SetMaxIdleConns(4)
	db.rd = rd
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.prepareWriter(ctx); err != nil {
		db.Close()
		return nil, db.fail(err)
	}
	db.startGroupCommit()
	if err := db.startUpkeep(ctx, path, common); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// reclaimPages is how many free pages (4 KiB each) one reclaim returns to
// the file system: more than a batch of purged jobs frees, so the file
// shrinks as retention deletes, in steps short enough not to hold up a
// commit for long.
const reclaimPages = "2048"

// incrementalVacuum makes the file one that can shrink: with
// auto_vacuum=INCREMENTAL, pages freed by deleted jobs can be handed back
// a few at a time (see Purge). A database made before this setting needs
// one full VACUUM to switch, which rewrites the file once, at start, before
// anything is accepted.
func (db *DB) incrementalVacuum(ctx context.Context) error {
	var mode int
	if err := db.wr.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return db.fail(fmt.Errorf("read auto_vacuum: %w", err))
	}
	const incremental = 2
	if mode == incremental {
		return nil
	}
	if _, err := db.wr.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return db.fail(fmt.Errorf("set auto_vacuum: %w", err))
	}
	if _, err := db.wr.ExecContext(ctx, "VACUUM"); err != nil {
		return db.fail(fmt.Errorf("vacuum: %w", err))
	}
	return nil
}

var sqliteDialect = dialect{
	reclaim:        "PRAGMA incremental_vacuum(" + reclaimPages + ")",
	searchIndex:    sqliteBuildSearchIndex,
	deferSearch:    sqliteDeferSearch,
	hasSearchIndex: sqliteHasSearchIndex,
	textMatch:      sqliteMatch,
	textArgs:       func(t string) []any { return []any{sqlitePhrase(t), t} },
	classify:       classifySQLite,
	duplicate: func(err error) bool {
		var se *sqlite.Error
		return errors.As(err, &se) &&
			(se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
	},
}

func classifySQLite(err error) (faxbridge.Code, string, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", "", false
	}
	// Extended result codes are on; the low byte is the primary code.
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return faxbridge.EUnavailable, msgBusy, true
	case sqlite3.SQLITE_FULL:
		return faxbridge.EUnavailable, msgFull, true
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_PERM, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
		return faxbridge.EUnavailable, msgUnavailable, true
	}
	return "", "", false
}

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
	wr, err := sql.Open("sqlite", path+"?"+common+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
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
	if err := db.migrate(ctx); err != nil {
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
	db.startGroupCommit()
	return db, nil
}

var sqliteDialect = dialect{
	classify: classifySQLite,
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

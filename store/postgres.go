package store

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/faxbridge/faxbridge"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrateLockKey names the advisory lock that serialises schema migrations
// among instances; any constant works as long as nothing else uses it.
const migrateLockKey = 0x6661786272696467 // "faxbridg"

// OpenPostgres connects to the PostgreSQL database named by dsn (a URL or
// key=value string, as libpq takes) and brings its schema up to date. Several
// instances may open the same database at once.
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "the job database address is not valid")
	}
	sdb := stdlib.OpenDB(*cfg)
	sdb.SetMaxOpenConns(10)
	sdb.SetMaxIdleConns(5)
	db := &DB{wr: sdb, rd: sdb, d: postgresDialect}
	if err := db.Ping(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	if err := db.openSearchIndex(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

var postgresDialect = dialect{
	dollar:         true,
	skipLocked:     " FOR UPDATE SKIP LOCKED",
	migrateLock:    "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(migrateLockKey, 10) + ")",
	classify:       classifyPostgres,
	searchIndex:    postgresBuildSearchIndex,
	hasSearchIndex: postgresHasSearchIndex,
	textMatch:      postgresMatch,
	textArgs:       func(t string) []any { return []any{likePattern(t)} },
	duplicate: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
	},
}

func classifyPostgres(err error) (faxbridge.Code, string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return classifySQLState(pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return faxbridge.EUnavailable, msgUnavailable, true
	}
	if pgconn.Timeout(err) {
		return faxbridge.EUnavailable, msgTimeout, true
	}
	return "", "", false
}

// classifySQLState maps a PostgreSQL error code (SQLSTATE).
func classifySQLState(code string) (faxbridge.Code, string, bool) {
	switch {
	case code == "53100": // disk_full
		return faxbridge.EUnavailable, msgFull, true
	case strings.HasPrefix(code, "53"): // insufficient resources: connections, memory
		return faxbridge.EUnavailable, msgBusy, true
	case code == "40001", code == "40P01", code == "55P03": // serialization, deadlock, lock not available
		return faxbridge.EUnavailable, msgBusy, true
	case code == "57014": // query_canceled, by statement_timeout or the context
		return faxbridge.EUnavailable, msgTimeout, true
	case strings.HasPrefix(code, "57"), // operator intervention: shutdown, crash recovery
		strings.HasPrefix(code, "08"), // connection exception
		code == "25006":               // read-only transaction: a standby after failover
		return faxbridge.EUnavailable, msgUnavailable, true
	}
	return "", "", false
}

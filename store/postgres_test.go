package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/internal/testenv"
	"github.com/faxbridge/faxbridge/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresEnv names the variable holding the DSN of a PostgreSQL server the
// tests may create and drop schemas in. Without it the tests are skipped.
const postgresEnv = "FAXBRIDGE_TEST_POSTGRES_DSN"

// postgresDSN returns the server named by the variable, or else starts a
// real PostgreSQL for this test (testenv skips, or fails under
// FAXBRIDGE_REQUIRE_REAL, when the server binaries are not available).
func postgresDSN(t testing.TB) string {
	if dsn := os.Getenv(postgresEnv); dsn != "" {
		return dsn
	}
	return testenv.Postgres(t)
}

// withParam adds a run-time parameter to a DSN in either of its forms.
func withParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			panic(err)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

// freshSchema creates an empty schema for one test, drops it afterwards, and
// returns a DSN whose connections use it.
func freshSchema(t testing.TB, dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	rand.Read(b[:])
	schema := "faxbridge_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return withParam(dsn, "search_path", schema)
}

func postgresOpener(dsn string) storetest.Opener {
	return func(ctx context.Context) (faxbridge.JobStore, error) {
		db, err := OpenPostgres(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
}

func TestPostgres(t *testing.T) {
	base := postgresDSN(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		return postgresOpener(freshSchema(t, base))
	})
}

// TestPostgresReadOnly opens a database that refuses writes, as a standby
// does after a failover: the store reports it unavailable, not broken.
func TestPostgresReadOnly(t *testing.T) {
	dsn := freshSchema(t, postgresDSN(t))
	db, err := OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro := withParam(dsn, "default_transaction_read_only", "on")
	_, err = OpenPostgres(t.Context(), ro)
	wantUnavailable(t, "open read-only", err, msgUnavailable)
}

// TestPostgresUnreachable needs no server: nothing listens on the port.
func TestPostgresUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = OpenPostgres(ctx, "postgres://nobody@"+addr+"/none?sslmode=disable&connect_timeout=5")
	wantUnavailable(t, "open unreachable", err, msgUnavailable)

	_, err = OpenPostgres(ctx, "postgres://nobody@"+addr+"/none?sslmode=bogus")
	wantCode(t, err, faxbridge.EInvalid)
}

func TestErrorMapping(t *testing.T) {
	pg := &DB{d: postgresDialect}
	lite := &DB{d: sqliteDialect}
	coded := faxbridge.Errorf(faxbridge.EConflict, "changed")
	tests := []struct {
		name string
		db   *DB
		err  error
		code faxbridge.Code
		msg  string
	}{
		{"no rows", pg, fmt.Errorf("get: %w", sql.ErrNoRows), faxbridge.ENotFound, msgNotFound},
		{"coded", lite, fmt.Errorf("update: %w", coded), faxbridge.EConflict, "changed"},
		{"deadline", lite, fmt.Errorf("get: %w", context.DeadlineExceeded), faxbridge.EUnavailable, msgTimeout},
		{"canceled", pg, context.Canceled, faxbridge.EUnavailable, msgUnavailable},
		{"bad conn", pg, fmt.Errorf("x: %w", driver.ErrBadConn), faxbridge.EUnavailable, msgUnavailable},
		{"net", pg, &net.OpError{Op: "read", Err: errors.New("reset")}, faxbridge.EUnavailable, msgUnavailable},
		{"disk full", pg, &pgconn.PgError{Code: "53100"}, faxbridge.EUnavailable, msgFull},
		{"too many connections", pg, &pgconn.PgError{Code: "53300"}, faxbridge.EUnavailable, msgBusy},
		{"admin shutdown", pg, &pgconn.PgError{Code: "57P01"}, faxbridge.EUnavailable, msgUnavailable},
		{"cannot connect now", pg, &pgconn.PgError{Code: "57P03"}, faxbridge.EUnavailable, msgUnavailable},
		{"statement timeout", pg, &pgconn.PgError{Code: "57014"}, faxbridge.EUnavailable, msgTimeout},
		{"connection failure", pg, &pgconn.PgError{Code: "08006"}, faxbridge.EUnavailable, msgUnavailable},
		{"deadlock", pg, &pgconn.PgError{Code: "40P01"}, faxbridge.EUnavailable, msgBusy},
		{"read only", pg, &pgconn.PgError{Code: "25006"}, faxbridge.EUnavailable, msgUnavailable},
		{"unique outside Create", pg, &pgconn.PgError{Code: "23505"}, faxbridge.EInternal, msgInternal},
		{"undefined table", pg, &pgconn.PgError{Code: "42P01", Message: "relation jobs does not exist"}, faxbridge.EInternal, msgInternal},
		{"other", lite, errors.New("boom"), faxbridge.EInternal, msgInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.db.fail(tc.err)
			if got := faxbridge.ErrorCode(err); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if got := faxbridge.ErrorMessage(err); got != tc.msg {
				t.Errorf("message %q, want %q", got, tc.msg)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("the cause is lost: %v", err)
			}
		})
	}
	if pg.fail(nil) != nil {
		t.Error("fail(nil) is not nil")
	}
}

func BenchmarkCreatePostgres(b *testing.B) {
	db, err := OpenPostgres(b.Context(), freshSchema(b, postgresDSN(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchCreate(b, db)
}

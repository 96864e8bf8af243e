package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// initdbTimeout bounds initdb, which takes about a second.
const initdbTimeout = 2 * time.Minute

// Postgres starts a PostgreSQL server for the test in a fresh cluster, stops
// it in t.Cleanup, and returns a DSN for its "postgres" database (user
// postgres, no password, no TLS). It skips the test when FAXBRIDGE_PG_BIN_DIR
// is unset (fails under RequireReal).
//
// The server runs in the foreground as a child of the test, like the other
// servers here, rather than through pg_ctl: pg_ctl detaches it into its own
// session, where neither the process-group kill nor the kernel's
// parent-death signal would reach it if the test binary died. It listens on
// TCP only (no Unix socket, so no socket directory to find or outgrow).
// PostgreSQL refuses to run as root, so as root the cluster belongs to the
// "postgres" user and its programs run with that user's credentials.
func Postgres(t testing.TB) string {
	t.Helper()
	binDir := lookPath(t, EnvPGBinDir, "PostgreSQL")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "postgres.log")

	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		var err error
		if cred, err = pgCredential(dir); err != nil {
			t.Fatalf("postgres as root: %v", err)
		}
	}
	logOnFailure(t, "postgres", logPath)

	ctx, cancel := context.WithTimeout(context.Background(), initdbTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	// Our working directory may be closed to the postgres user.
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, bytes.TrimSpace(out))
	}

	return launch(t, "postgres", func() (string, *process) {
		port := FreePort(t)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p := &process{
			name: "postgres",
			path: filepath.Join(binDir, "postgres"),
			args: []string{
				"-D", data,
				"-c", "listen_addresses=127.0.0.1",
				"-p", strconv.Itoa(port),
				"-c", "unix_socket_directories=",
				// The cluster is thrown away: syncing to disk would only
				// slow the tests down.
				"-c", "fsync=off",
				"-c", "full_page_writes=off",
				"-c", "synchronous_commit=off",
			},
			env:     []string{"LC_ALL=C"},
			dir:     dir,
			cred:    cred,
			logPath: logPath,
			// SIGINT is the fast shutdown: it does not wait for clients
			// a test forgot to close, as SIGTERM's smart shutdown would.
			stopSignal: syscall.SIGINT,
			ready: func(ctx context.Context) error {
				return pgStartup(ctx, addr, "postgres", "postgres")
			},
		}
		return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr), p
	})
}

// pgCredential hands dir to the postgres user and returns that user's
// credentials for the server's processes.
func pgCredential(dir string) (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no postgres user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres user has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, err
	}
	// The testing package makes the per-test parent of t.TempDir() private
	// to us; postgres only needs to pass through it.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// pgStartup opens a session as user on database at addr and closes it again.
// It speaks just enough of the wire protocol (3.0) to tell a server that
// accepts the session from one that is still starting up or refuses it: what
// pg_isready checks, without needing a driver.
func pgStartup(ctx context.Context, addr, user, database string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	params := "user\x00" + user + "\x00database\x00" + database + "\x00\x00"
	msg := binary.BigEndian.AppendUint32(nil, uint32(8+len(params)))
	msg = binary.BigEndian.AppendUint32(msg, 3<<16) // protocol 3.0
	msg = append(msg, params...)
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("send startup: %w", err)
	}
	// Trust authentication answers AuthenticationOk at once; the server
	// then sets up the session (and only now finds out whether the database
	// exists), sends parameters, and says ReadyForQuery.
	r := bufio.NewReader(c)
	for {
		var head [5]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return fmt.Errorf("read startup reply: %w", err)
		}
		n := binary.BigEndian.Uint32(head[1:])
		if n < 4 || n > 1<<16 {
			return fmt.Errorf("startup reply %q: bad length %d", head[0], n)
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return fmt.Errorf("read startup reply: %w", err)
		}
		switch head[0] {
		case 'R':
			if len(body) != 4 || binary.BigEndian.Uint32(body) != 0 {
				return fmt.Errorf("server asks for authentication (%x); want trust", body)
			}
		case 'E':
			return fmt.Errorf("server refused the session: %s", pgErrorText(body))
		case 'Z':
			// Terminate, so the server does not log an unexpected EOF.
			c.Write([]byte{'X', 0, 0, 0, 4})
			return nil
		}
		// ParameterStatus, BackendKeyData, NoticeResponse: read on.
	}
}

// pgErrorText renders an ErrorResponse body (typed, NUL-terminated fields)
// as "SQLSTATE message".
func pgErrorText(body []byte) string {
	var code, msg string
	for len(body) > 1 {
		typ := body[0]
		v, rest, ok := bytes.Cut(body[1:], []byte{0})
		if !ok {
			break
		}
		switch typ {
		case 'C':
			code = string(v)
		case 'M':
			msg = string(v)
		}
		body = rest
	}
	return code + " " + msg
}

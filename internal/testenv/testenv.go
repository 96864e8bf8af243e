// Package testenv starts real outside programs (MinIO, Mailpit, PostgreSQL)
// for tests, one private instance per test.
//
// Each server listens on a free 127.0.0.1 port, keeps its data in the test's
// t.TempDir(), writes its output to a log file that is shown when the test
// fails, and is killed in t.Cleanup. Programs are found through environment
// variables (scripts/test sets them after installing the programs):
//
//	FAXBRIDGE_MINIO_BIN     the minio binary
//	FAXBRIDGE_MAILPIT_BIN   the mailpit binary
//	FAXBRIDGE_PG_BIN_DIR    the directory holding PostgreSQL's initdb and postgres
//
// When a variable is unset the test is skipped, so a plain go test stays
// hermetic; with FAXBRIDGE_REQUIRE_REAL=1 it fails instead, so that a run that
// claims to use the real components cannot quietly skip them.
//
// The functions call t.Fatal, so call them (and the Start and Stop methods)
// from the test's own goroutine. Stop and Start report failures to the test
// that started the server.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables read by this package.
const (
	EnvRequireReal = "FAXBRIDGE_REQUIRE_REAL"
	EnvMinIO       = "FAXBRIDGE_MINIO_BIN"
	EnvMailpit     = "FAXBRIDGE_MAILPIT_BIN"
	EnvPGBinDir    = "FAXBRIDGE_PG_BIN_DIR"
)

const (
	// readyTimeout bounds how long a server may take to come up. They need
	// about a second; the margin is for a loaded two-core CI machine running
	// race-enabled tests in parallel.
	readyTimeout = 60 * time.Second
	// stopTimeout is how long a server gets to exit after SIGTERM before it
	// is killed.
	stopTimeout = 20 * time.Second
	// maxLogShown caps how much of a server log a failing test prints.
	maxLogShown = 64 << 10
	// startAttempts: a free port is only free until someone binds it, so a
	// server that dies at once is retried on fresh ports.
	startAttempts = 3
)

// RequireReal reports whether tests must fail, rather than skip, when a real
// component they need is not configured (FAXBRIDGE_REQUIRE_REAL=1).
func RequireReal() bool {
	return os.Getenv(EnvRequireReal) == "1"
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lookPath returns the path named by the environment variable env, skipping
// the test when it is unset (failing under RequireReal). A path that is set
// but wrong is always a failure: someone meant the test to run.
func lookPath(t testing.TB, env, what string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		Missing(t, "%s is not set: this test needs a real %s", env, what)
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v", env, p, err)
	}
	return p
}

// logOnFailure registers a cleanup that prints the log file if the test has
// failed by the time cleanups run.
func logOnFailure(t testing.TB, name, path string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("---- %s log (%s) ----\n%s", name, path, readTail(path, maxLogShown))
	})
}

// readTail returns up to the last n bytes of the file at path.
func readTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	var prefix string
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		if _, err := f.Seek(-n, io.SeekEnd); err == nil {
			prefix = "(earlier output cut)\n"
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return prefix + string(b)
}

// errExited reports a server that died while we waited for it to become
// ready: usually its port was taken after FreePort released it.
var errExited = errors.New("server exited before it was ready")

// launch starts the server that attempt describes, on fresh ports each try:
// a server that exits before it is ready has usually lost a port it was
// given by FreePort to another process, so a new attempt picks new ports.
// The server is stopped when the test ends.
func launch[T any](t testing.TB, name string, attempt func() (T, *process)) T {
	t.Helper()
	var err error
	for range startAttempts {
		srv, p := attempt()
		if err = p.start(); err != nil {
			if errors.Is(err, errExited) {
				continue
			}
			break
		}
		t.Cleanup(func() {
			if err := p.stop(); err != nil {
				t.Errorf("stop %s: %v", name, err)
			}
		})
		return srv
	}
	t.Fatalf("start %s: %v", name, err)
	var zero T
	return zero
}

// process is one outside server that can be stopped and started again with
// the same command line (same ports and data directory).
type process struct {
	name    string
	path    string
	args    []string
	env     []string
	dir     string              // working directory; empty for ours
	cred    *syscall.Credential // run as this user; nil for ours
	logPath string
	// stopSignal asks the server to shut down; SIGTERM when zero.
	stopSignal syscall.Signal
	// ready reports nil once the server answers.
	ready func(ctx context.Context) error

	mu  sync.Mutex
	cur *run // nil while stopped
}

// run is one life of the server process.
type run struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has been waited for
	err  error         // cmd.Wait's result; read it only after done is closed
}

// start runs the server and waits until ready succeeds. On any error the
// process is gone when start returns.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		return fmt.Errorf("%s is already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", p.name, err)
	}
	fmt.Fprintf(logf, "==== %s start %s\n", time.Now().Format(time.RFC3339Nano), p.path)
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Dir = p.dir
	// A file (not a pipe) as output: no copying goroutines to wait for.
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Its own process group, so that stop reaches every child it forks.
	cmd.SysProcAttr = sysProcAttr()
	cmd.SysProcAttr.Credential = p.cred
	err = cmd.Start()
	logf.Close() // the child holds its own copy
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	r := &run{cmd: cmd, done: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	p.cur = r

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := waitReady(ctx, r.done, p.ready); err != nil {
		p.killLocked()
		if errors.Is(err, errExited) {
			return fmt.Errorf("%s: %w (%v)", p.name, err, r.err)
		}
		return fmt.Errorf("%s not ready: %w", p.name, err)
	}
	return nil
}

// waitReady polls ready until it succeeds, the context ends or the process
// exits (done closed).
func waitReady(ctx context.Context, done <-chan struct{}, ready func(context.Context) error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(pctx)
		cancel()
		select {
		case <-done:
			// Even if the probe succeeded, it reached someone else's server.
			return errExited
		default:
		}
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("%w; last probe: %v", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// stop sends stopSignal (SIGTERM by default) to the server's process group
// and waits for it to exit, killing it if it takes longer than stopTimeout.
// Stopping a stopped server does nothing.
func (p *process) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.cur
	if r == nil {
		return nil
	}
	pid := r.cmd.Process.Pid
	sig := p.stopSignal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	_ = syscall.Kill(-pid, sig)
	select {
	case <-r.done:
		// Children that ignored the signal must not outlive the leader.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		p.cur = nil
		return nil
	case <-time.After(stopTimeout):
	}
	p.killLocked()
	return fmt.Errorf("%s did not exit within %v of %v; killed", p.name, stopTimeout, sig)
}

// killLocked kills the process group and waits for the leader; p.mu is held.
func (p *process) killLocked() {
	r := p.cur
	if r == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.done
	p.cur = nil
}

// httpOK returns a readiness probe that wants 200 from GET url.
func httpOK(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// tcpOpen returns a readiness probe that wants a TCP connection to addr.
func tcpOpen(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

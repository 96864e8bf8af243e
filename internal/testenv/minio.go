package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// MinIOServer is a private MinIO server with random root credentials.
type MinIOServer struct {
	// Endpoint is host:port, the form minio-go's minio.New takes.
	Endpoint  string
	AccessKey string
	SecretKey string
	// DataDir is the directory the server keeps its objects in.
	DataDir string

	t    testing.TB
	proc *process
}

// MinIO starts a MinIO server for the test and stops it in t.Cleanup. It
// skips the test when FAXBRIDGE_MINIO_BIN is unset (fails under RequireReal).
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	bin := lookPath(t, EnvMinIO, "MinIO server")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatalf("minio data dir: %v", err)
	}
	logPath := filepath.Join(dir, "minio.log")
	logOnFailure(t, "minio", logPath)

	return launch(t, "minio", func() (*MinIOServer, *process) {
		m := &MinIOServer{
			Endpoint:  net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t))),
			AccessKey: "fb" + rand.Text()[:10],
			SecretKey: rand.Text(),
			DataDir:   data,
			t:         t,
		}
		m.proc = &process{
			name:    "minio",
			path:    bin,
			args:    []string{"server", data, "--address", m.Endpoint},
			logPath: logPath,
			env: []string{
				"MINIO_ROOT_USER=" + m.AccessKey,
				"MINIO_ROOT_PASSWORD=" + m.SecretKey,
				// No web console (it would need a second port), no update
				// check (no internet), and the same CI behaviour (small
				// buffer pool, immediate purges) whether or not CI is set.
				"MINIO_BROWSER=off",
				"MINIO_UPDATE=off",
				"MINIO_CI_CD=1",
			},
			ready: m.ready,
		}
		return m, m.proc
	})
}

// ready wants the health check to pass and, because that check passes
// before the S3 API is set up (which answers 503 until then), an anonymous
// bucket listing to be refused with 403 as a running server refuses it.
func (m *MinIOServer) ready(ctx context.Context) error {
	if err := httpOK(m.URL() + "/minio/health/ready")(ctx); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL()+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		return fmt.Errorf("anonymous GET /: %s, want 403", resp.Status)
	}
	return nil
}

// URL returns the server's base URL, http://host:port.
func (m *MinIOServer) URL() string {
	return "http://" + m.Endpoint
}

// Stop shuts the server down (SIGTERM, then waits) to simulate an outage.
// Stopping a stopped server does nothing.
func (m *MinIOServer) Stop() {
	m.t.Helper()
	if err := m.proc.stop(); err != nil {
		m.t.Fatalf("stop minio: %v", err)
	}
}

// Start starts a stopped server again on the same port and data directory
// and waits until it reports ready.
func (m *MinIOServer) Start() {
	m.t.Helper()
	if err := m.proc.start(); err != nil {
		m.t.Fatalf("restart minio: %v", err)
	}
}

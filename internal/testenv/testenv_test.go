package testenv

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a tiny HTTP server (see TestMain), so
// the process handling can be tested without any outside program.
const helperEnv = "TESTENV_HELPER_ADDR"

func TestMain(m *testing.M) {
	if addr := os.Getenv(helperEnv); addr != "" {
		os.Exit(helperServer(addr))
	}
	os.Exit(m.Run())
}

// helperServer serves 200 on /ready at addr until it is killed; it exits
// with 3 at once when it cannot listen, as a real server would.
func helperServer(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	fmt.Println("helper listening on", addr)
	http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" {
			http.NotFound(w, r)
		}
	}))
	return 0
}

func helperProcess(t *testing.T, addr string) *process {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &process{
		name:    "helper",
		path:    exe,
		env:     []string{helperEnv + "=" + addr},
		logPath: filepath.Join(t.TempDir(), "helper.log"),
		ready:   httpOK("http://" + addr + "/ready"),
	}
}

func TestProcessStopStart(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p := helperProcess(t, addr)
	t.Cleanup(func() { p.stop() })
	probe := httpOK("http://" + addr + "/ready")

	for round := 1; round <= 2; round++ {
		if err := p.start(); err != nil {
			t.Fatalf("round %d: start: %v", round, err)
		}
		if err := probe(context.Background()); err != nil {
			t.Fatalf("round %d: after start: %v", round, err)
		}
		if err := p.start(); err == nil {
			t.Fatalf("round %d: second start of a running process succeeded", round)
		}
		if err := p.stop(); err != nil {
			t.Fatalf("round %d: stop: %v", round, err)
		}
		if err := probe(context.Background()); err == nil {
			t.Fatalf("round %d: still answering after stop", round)
		}
		if err := p.stop(); err != nil {
			t.Fatalf("round %d: stopping a stopped process: %v", round, err)
		}
	}
	log, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(log), "helper listening on"); got != 2 {
		t.Errorf("log has %d starts, want 2 (both lives appended):\n%s", got, log)
	}
}

func TestProcessExitsBeforeReady(t *testing.T) {
	// Hold the port so the helper cannot listen and exits at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := helperProcess(t, l.Addr().String())
	p.ready = func(context.Context) error { return errors.New("never ready") }

	start := time.Now()
	err = p.start()
	if !errors.Is(err, errExited) {
		t.Fatalf("start = %v, want errExited", err)
	}
	if d := time.Since(start); d > readyTimeout/2 {
		t.Errorf("noticed the exit only after %v", d)
	}
	if !strings.Contains(readTail(p.logPath, maxLogShown), "address already in use") {
		t.Errorf("log lacks the helper's error:\n%s", readTail(p.logPath, maxLogShown))
	}
}

func TestReadTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readTail(path, 100); got != "0123456789" {
		t.Errorf("short file: %q", got)
	}
	if got := readTail(path, 4); got != "(earlier output cut)\n6789" {
		t.Errorf("long file: %q", got)
	}
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	l.Close()
}

// recorder stands in for a testing.TB to see whether lookPath skips or fails.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skipf(string, ...any)  { r.skipped = true; runtime.Goexit() }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }

func TestLookPath(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, value, require string
		wantSkip, wantFail   bool
	}{
		{name: "unset skips", value: "", require: "", wantSkip: true},
		{name: "unset fails when real is required", value: "", require: "1", wantFail: true},
		{name: "missing file fails", value: filepath.Join(t.TempDir(), "nope"), require: "", wantFail: true},
		{name: "existing file runs", value: exe, require: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TESTENV_TEST_BIN", tt.value)
			t.Setenv(EnvRequireReal, tt.require)
			r := &recorder{TB: t}
			var got string
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = lookPath(r, "TESTENV_TEST_BIN", "thing")
			}()
			<-done
			if r.skipped != tt.wantSkip || r.failed != tt.wantFail {
				t.Errorf("skipped=%v failed=%v, want skipped=%v failed=%v", r.skipped, r.failed, tt.wantSkip, tt.wantFail)
			}
			if !tt.wantSkip && !tt.wantFail && got != tt.value {
				t.Errorf("path = %q, want %q", got, tt.value)
			}
		})
	}
}

// s3Do sends an S3 request signed with AWS Signature V4 (empty body), enough
// to check that the server's credentials are the ones MinIO reports.
func s3Do(t *testing.T, m *MinIOServer, method, path, secret string) (int, string) {
	t.Helper()
	const region = "us-east-1"
	now := time.Now().UTC()
	amzDate, day := now.Format("20060102T150405Z"), now.Format("20060102")
	emptyHash := sha256.Sum256(nil)
	payload := hex.EncodeToString(emptyHash[:])
	canonical := strings.Join([]string{
		method, path, "",
		"host:" + m.Endpoint, "x-amz-content-sha256:" + payload, "x-amz-date:" + amzDate, "",
		"host;x-amz-content-sha256;x-amz-date", payload,
	}, "\n")
	scope := day + "/" + region + "/s3/aws4_request"
	canonicalHash := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(canonicalHash[:])
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	key := mac(mac(mac(mac([]byte("AWS4"+secret), day), region), "s3"), "aws4_request")
	req, err := http.NewRequest(method, m.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+m.AccessKey+"/"+scope+
		", SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="+hex.EncodeToString(mac(key, toSign)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestMinIOStopStart(t *testing.T) {
	m := MinIO(t)
	ready := httpOK(m.URL() + "/minio/health/ready")
	if code, body := s3Do(t, m, http.MethodPut, "/outage", m.SecretKey); code != http.StatusOK {
		t.Fatalf("create bucket with the reported credentials: %d %s", code, body)
	}
	if code, _ := s3Do(t, m, http.MethodGet, "/", "wrong"+m.SecretKey); code != http.StatusForbidden {
		t.Errorf("list buckets with a wrong secret: %d, want 403", code)
	}
	endpoint := m.Endpoint

	m.Stop()
	if err := ready(context.Background()); err == nil {
		t.Fatal("still ready after Stop")
	}
	m.Stop() // a second Stop is harmless

	m.Start()
	if m.Endpoint != endpoint {
		t.Fatalf("endpoint moved from %s to %s", endpoint, m.Endpoint)
	}
	if err := ready(context.Background()); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	// Same data directory: the bucket made before the outage is still there.
	code, body := s3Do(t, m, http.MethodGet, "/", m.SecretKey)
	if code != http.StatusOK || !strings.Contains(body, "<Name>outage</Name>") {
		t.Errorf("list buckets after restart: %d %s", code, body)
	}
}

func TestMailpit(t *testing.T) {
	m := Mailpit(t)
	if got := m.Messages(t); len(got) != 0 {
		t.Fatalf("new server has %d messages", len(got))
	}

	send := func(subject, body string) {
		t.Helper()
		msg := "From: Alice <alice@example.com>\r\n" +
			"To: 15551234567@fax.example\r\n" +
			"Subject: " + subject + "\r\n" +
			"Message-ID: <" + subject + "@example.com>\r\n" +
			"X-Faxbridge-Test: yes\r\n" +
			"\r\n" + body + "\r\n"
		if err := smtp.SendMail(m.SMTPAddr, nil, "alice@example.com", []string{"15551234567@fax.example"}, []byte(msg)); err != nil {
			t.Fatalf("send %s: %v", subject, err)
		}
	}
	send("first", "hello fax")

	got := m.WaitMessages(t, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("got %d messages, want 1", len(got))
	}
	s := got[0]
	if s.Subject != "first" || s.MessageID != "first@example.com" || s.From.Address != "alice@example.com" ||
		s.From.Name != "Alice" || len(s.To) != 1 || s.To[0].Address != "15551234567@fax.example" || s.Created.IsZero() {
		t.Errorf("summary = %+v", s)
	}
	full := m.Message(t, s.ID)
	if strings.TrimSpace(full.Text) != "hello fax" {
		t.Errorf("text = %q", full.Text)
	}
	if h := full.Header("x-faxbridge-test"); h != "yes" {
		t.Errorf("X-Faxbridge-Test = %q (headers %v)", h, full.Headers)
	}
	if full.ReturnPath != "alice@example.com" {
		t.Errorf("return path = %q", full.ReturnPath)
	}
	if raw := m.Raw(t, s.ID); !strings.Contains(string(raw), "Subject: first") {
		t.Errorf("raw message lacks its subject:\n%s", raw)
	}

	// An outage: sending fails while stopped; after restart the old message
	// is still there and new mail arrives, in order.
	m.Stop()
	if err := smtp.SendMail(m.SMTPAddr, nil, "alice@example.com", []string{"x@fax.example"}, []byte("Subject: lost\r\n\r\nx\r\n")); err == nil {
		t.Fatal("sending to a stopped server succeeded")
	}
	m.Start()
	send("second", "again")
	got = m.WaitMessages(t, 2, 10*time.Second)
	if len(got) != 2 || got[0].Subject != "first" || got[1].Subject != "second" {
		t.Errorf("after restart: %+v", got)
	}
}

func TestPostgres(t *testing.T) {
	dsn := Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("DSN %q: %v", dsn, err)
	}
	if u.Scheme != "postgres" || u.Hostname() != "127.0.0.1" || u.Query().Get("sslmode") != "disable" {
		t.Errorf("DSN %q", dsn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A session for the DSN's user and database is accepted; one for a
	// database that does not exist is refused, so the check means something.
	if err := pgStartup(ctx, u.Host, u.User.Username(), strings.TrimPrefix(u.Path, "/")); err != nil {
		t.Errorf("session from DSN %q: %v", dsn, err)
	}
	err = pgStartup(ctx, u.Host, u.User.Username(), "nosuchdb")
	if err == nil || !strings.Contains(err.Error(), "3D000") {
		t.Errorf("session for a missing database: %v, want SQLSTATE 3D000", err)
	}
}

func TestPostgresTwice(t *testing.T) {
	a, b := Postgres(t), Postgres(t)
	if a == b {
		t.Fatalf("two clusters share a DSN: %s", a)
	}
}

//go:build e2e

// Package e2e runs the real faxbridge binary against real MinIO and Mailpit
// servers, with real mail clients (swaks, curl, s-nail, mutt) talking SMTP to
// it and the SignalWire simulator, started in this process, standing in for
// SignalWire. Nothing here calls the daemon's Go code: everything goes through
// its ports, its config file, its log and, once it has stopped, its database.
//
// Run it with
//
//	FAXBRIDGE_E2E=1 FAXBRIDGE_MINIO_BIN=... FAXBRIDGE_MAILPIT_BIN=... go test -tags e2e ./e2e/
//
// (scripts/test does this after installing everything). Without
// FAXBRIDGE_E2E=1 every test skips and nothing is built.
package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
	"github.com/faxbridge/faxbridge/internal/testenv"
	"github.com/faxbridge/faxbridge/store"
)

// binPath is the faxbridge binary TestMain built; "" when the suite is off.
// It is written once, before any test runs.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("FAXBRIDGE_E2E") != "1" {
		// The tests skip themselves (newStack), so `go test -tags e2e`
		// without the variable reports them as skipped rather than passed.
		os.Exit(m.Run())
	}
	// Most of the suite's time is spent waiting on daemon timers (a crash
	// recovery waits out send_timeout+30s), not on the CPU, so run more
	// stacks at once than GOMAXPROCS unless -parallel was given.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", "8")
	}
	dir, err := os.MkdirTemp("", "faxbridge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		root, err := repoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		binPath = filepath.Join(dir, "faxbridge")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/faxbridge")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: build faxbridge:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// repoRoot finds the module root above the package directory (go test runs
// in the package directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the e2e package directory")
		}
		dir = parent
	}
}

// What every stack's config says; the tests check these values arrive at
// SignalWire and in the reports. Quality and TTL are not the defaults, so
// a daemon that ignored them would be caught.
const (
	faxDomain   = "fax.example.com"
	faxFrom     = "+15550100000"
	faxQuality  = "superfine"
	faxTTL      = 30
	bucket      = "faxes"
	reportFrom  = "fax@gateway.example"
	projectID   = "e2e-project"
	smtpTimeout = 90 * time.Second // for the SMTP clients
)

// opts varies a stack.
type opts struct {
	// maxMessageBytes sets smtp.max_message_bytes (0: the default).
	maxMessageBytes int64
	// quick makes a job caught mid-submission by a crash recoverable in
	// about 35 s instead of minutes: send_timeout 2s, lease 4s.
	quick bool
	// sendTimeout sets worker.send_timeout (0: 2s when quick, else the
	// default 60s). reconcileAfter sets worker.reconcile_after (0: the
	// smallest valid value, twice send_timeout, so that ambiguous
	// submissions are settled as soon as the rules allow).
	sendTimeout, reconcileAfter time.Duration
	// keepMedia sets signalwire.keep_media: the provider keeps each fax's
	// media after its report. Otherwise settle wants it deleted there.
	keepMedia bool
	// env is added to the daemon's environment at the first start only.
	env []string
	// extraTOML is appended to the config: more tables ([console],
	// [[users]]) after the stack's own.
	extraTOML func(s *stack) string
}

// stack is one faxbridge daemon with its own MinIO, Mailpit, simulator,
// state directory and ports.
type stack struct {
	t      *testing.T
	o      opts
	dir    string
	minio  *testenv.MinIOServer
	mail   *testenv.MailpitServer
	sim    *signalwiretest.Server
	simLog *lockedFile
	key    string // the simulator's signing key, which the daemon shares

	config    string // path of the TOML file
	smtpAddr  string
	httpAddr  string
	publicURL string
	logPath   string
	stateDir  string

	mu    sync.Mutex
	proc  *daemon
	notes []string // client transcripts, shown when the test fails
}

// daemon is one run of the faxbridge process.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's result, valid once done is closed
}

// newStack starts MinIO, Mailpit, the simulator and the daemon, and returns
// once the daemon answers /readyz and SMTP. Everything is stopped in
// t.Cleanup.
func newStack(t *testing.T, o opts) *stack {
	t.Helper()
	if binPath == "" {
		testenv.Missing(t, "FAXBRIDGE_E2E is not 1: skipping the end-to-end test")
	}
	for _, tool := range []string{"swaks", "gs", "qpdf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed by the end-to-end tests: %v", tool, err)
		}
	}
	s := &stack{t: t, o: o, dir: t.TempDir(), key: "PSK_" + rand.Text()}
	s.minio = testenv.MinIO(t)
	s.mail = testenv.Mailpit(t)

	s.simLog = &lockedFile{path: filepath.Join(s.dir, "simulator.log")}
	token := rand.Text()
	sim, err := signalwiretest.Start(signalwiretest.Config{
		ProjectID:  projectID,
		APIToken:   token,
		SigningKey: s.key,
		StepDelay:  50 * time.Millisecond,
		Logf:       s.simLog.printf,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.sim = sim
	t.Cleanup(func() { sim.Close() })

	s.stateDir = filepath.Join(s.dir, "state")
	s.logPath = filepath.Join(s.dir, "faxbridge.log")
	s.config = filepath.Join(s.dir, "faxbridge.toml")
	t.Cleanup(func() {
		s.mu.Lock()
		p := s.proc
		s.mu.Unlock()
		if p != nil {
			killGroup(p)
		}
		if t.Failed() {
			s.mu.Lock()
			notes := strings.Join(s.notes, "\n")
			s.mu.Unlock()
			t.Logf("---- config %s ----\n%s", s.config, tail(s.config, 8<<10))
			t.Logf("---- SMTP client transcripts ----\n%s", notes)
			t.Logf("---- simulator log ----\n%s", tail(s.simLog.path, 32<<10))
			t.Logf("---- faxbridge log (%s) ----\n%s", s.logPath, tail(s.logPath, 96<<10))
		}
	})

	// A free port is free only until someone else binds it: a daemon that
	// could not listen is started again on fresh ports.
	for attempt := 1; ; attempt++ {
		s.writeConfig(o, token)
		err := s.launch(o.env)
		if err == nil {
			return s
		}
		if !errors.Is(err, errExited) || !strings.Contains(s.log(), "address already in use") || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("faxbridge could not listen (attempt %d); trying other ports", attempt)
	}
}

// writeConfig picks the daemon's ports and writes its config file.
func (s *stack) writeConfig(o opts, token string) {
	t := s.t
	t.Helper()
	s.smtpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	s.httpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	s.publicURL = "http://" + s.httpAddr

	var b strings.Builder
	fmt.Fprintf(&b, "state_dir = %q\n\n", s.stateDir)
	fmt.Fprintf(&b, "[log]\nlevel = \"debug\"\nformat = \"text\"\n\n")
	fmt.Fprintf(&b, "[smtp]\nlisten = %q\ndomains = [%q]\nhostname = \"gateway.example\"\n", s.smtpAddr, faxDomain)
	if o.maxMessageBytes > 0 {
		fmt.Fprintf(&b, "max_message_bytes = %d\n", o.maxMessageBytes)
	}
	fmt.Fprintf(&b, "\n[http]\nlisten = %q\npublic_url = %q\n\n", s.httpAddr, s.publicURL)
	fmt.Fprintf(&b, "[signalwire]\nbase_url = %q\nproject_id = %q\napi_token = %q\nsigning_key = %q\nfrom = %q\nquality = %q\nttl = %d\nkeep_media = %t\n\n",
		s.sim.URL(), projectID, token, s.key, faxFrom, faxQuality, faxTTL, o.keepMedia)
	fmt.Fprintf(&b, "[storage]\nbackend = \"s3\"\n\n[storage.s3]\nendpoint = %q\nuse_ssl = false\nbucket = %q\nregion = \"us-east-1\"\naccess_key = %q\nsecret_key = %q\nprefix = \"documents/\"\ncreate_bucket = true\n\n",
		s.minio.Endpoint, bucket, s.minio.AccessKey, s.minio.SecretKey)
	fmt.Fprintf(&b, "[database]\ndriver = \"sqlite\"\n\n")
	fmt.Fprintf(&b, "[mail]\nrelay = %q\ntls = \"none\"\nfrom = \"Fax Gateway <%s>\"\n\n", s.mail.SMTPAddr, reportFrom)
	// poll_after is short so that an outcome whose callback was lost
	// (the daemon was dead when it came) is fetched within seconds;
	// send_retry_max caps the wait after a provider outage.
	// orphan_age 3s: the janitor removes the upload of a message that a
	// crash kept from being committed while the test watches.
	fmt.Fprintf(&b, "[worker]\npoll_after = \"2s\"\npoll_max = \"2s\"\nsend_retry_max = \"3s\"\norphan_age = \"3s\"\n")
	sendTimeout := o.sendTimeout
	switch {
	case sendTimeout == 0 && o.quick:
		sendTimeout = 2 * time.Second
	case sendTimeout == 0:
		sendTimeout = time.Minute // the default
	}
	reconcileAfter := o.reconcileAfter
	if reconcileAfter == 0 {
		reconcileAfter = 2 * sendTimeout
	}
	fmt.Fprintf(&b, "send_timeout = %q\nreconcile_after = %q\n", sendTimeout, reconcileAfter)
	if o.quick {
		fmt.Fprintf(&b, "lease = %q\n", 2*sendTimeout)
	}
	if o.extraTOML != nil {
		b.WriteString("\n" + o.extraTOML(s))
	}
	if err := os.WriteFile(s.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the daemon again on the stack's config (same state, same
// ports) and waits until it is ready. env is added to the daemon's
// environment; FAXBRIDGE_CRASH_AT is never inherited from ours.
func (s *stack) start(env ...string) {
	s.t.Helper()
	if err := s.launch(env); err != nil {
		s.t.Fatal(err)
	}
}

// errExited is a daemon that died before it was ready.
var errExited = errors.New("faxbridge exited before it was ready")

// launch starts the daemon and waits until /readyz is 200 and the SMTP
// port greets.
func (s *stack) launch(env []string) error {
	s.mu.Lock()
	running := s.proc != nil
	s.mu.Unlock()
	if running {
		return errors.New("faxbridge is already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== %s start %v\n", time.Now().Format(time.RFC3339Nano), env)
	cmd := exec.Command(binPath, "serve", "-config", s.config)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FAXBRIDGE_CRASH_AT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("start faxbridge: %w", err)
	}
	p := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		last := s.ready()
		select {
		case <-p.done:
			// Even a probe that succeeded reached someone else's server.
			s.mu.Lock()
			s.proc = nil
			s.mu.Unlock()
			return fmt.Errorf("%w: %v", errExited, p.err)
		default:
		}
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("faxbridge not ready within 60s: %v", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready wants 200 from /readyz and a 220 greeting on the SMTP port.
func (s *stack) ready() error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(s.publicURL + "/readyz")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	conn, err := net.DialTimeout("tcp", s.smtpAddr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("SMTP greeting: %w", err)
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("SMTP greeting %q", line)
	}
	io.WriteString(conn, "QUIT\r\n")
	return nil
}

// running returns the current daemon process or fails the test.
func (s *stack) running() *daemon {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatal("faxbridge is not running")
	}
	return s.proc
}

// stop shuts the daemon down as systemd does (SIGTERM) and waits; it must
// exit 0 within its 25 s grace plus a margin.
func (s *stack) stop() {
	s.t.Helper()
	p := s.running()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		killGroup(p)
		s.t.Errorf("faxbridge did not stop within 40s of SIGTERM")
	}
	s.mu.Lock()
	s.proc = nil
	s.mu.Unlock()
	if p.err != nil {
		s.t.Errorf("faxbridge exited with %v after SIGTERM, want 0", p.err)
	}
}

// kill kills the daemon with SIGKILL, like a power cut of the process.
func (s *stack) kill() {
	s.t.Helper()
	killGroup(s.running())
	s.mu.Lock()
	s.proc = nil
	s.mu.Unlock()
}

// waitCrash waits for the daemon to kill itself at the FAXBRIDGE_CRASH_AT
// step and checks that it did so there.
func (s *stack) waitCrash(step string, timeout time.Duration) {
	s.t.Helper()
	p := s.running()
	select {
	case <-p.done:
	case <-time.After(timeout):
		s.t.Fatalf("faxbridge did not crash at %s within %v", step, timeout)
	}
	s.mu.Lock()
	s.proc = nil
	s.mu.Unlock()
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		s.t.Errorf("faxbridge ended with %v, want death by SIGKILL", p.err)
	}
	if want := `msg="crash test hook: killing the process" step=` + step; !strings.Contains(s.log(), want) {
		s.t.Errorf("the log does not show the crash hook firing at %s", step)
	}
}

func killGroup(p *daemon) {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// log returns the daemon's whole log so far (every run).
func (s *stack) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// logLines returns the log lines whose message is msg.
func (s *stack) logLines(msg string) []string {
	var out []string
	for _, l := range strings.Split(s.log(), "\n") {
		if strings.Contains(l, "msg="+strconv.Quote(msg)) || strings.Contains(l, "msg="+msg+" ") {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits until the log holds at least n lines with message msg.
func (s *stack) waitLog(msg string, n int, timeout time.Duration) []string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l := s.logLines(msg); len(l) >= n {
			return l
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the log has %d %q lines after %v, want %d", len(s.logLines(msg)), msg, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var attrRe = regexp.MustCompile(`(?:^| )([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)`)

// attr returns the value of key in a slog text line.
func attr(line, key string) string {
	for _, m := range attrRe.FindAllStringSubmatch(line, -1) {
		if m[1] == key {
			if v, err := strconv.Unquote(m[2]); err == nil {
				return v
			}
			return m[2]
		}
	}
	return ""
}

// acceptedJobs returns the IDs of every job the log says was accepted.
func (s *stack) acceptedJobs() []string {
	var ids []string
	for _, l := range s.logLines("job accepted") {
		ids = append(ids, attr(l, "job_id"))
	}
	return ids
}

// note keeps a client transcript for the failure output.
func (s *stack) note(what, out string) {
	s.mu.Lock()
	s.notes = append(s.notes, fmt.Sprintf("$ %s\n%s", what, out))
	s.mu.Unlock()
}

// client runs an SMTP client program and returns its exit code and output.
func (s *stack) client(stdin string, env []string, name string, args ...string) (int, string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), smtpTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	s.note(name+" "+strings.Join(args, " "), string(out))
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), string(out)
	}
	s.t.Fatalf("%s: %v\n%s", name, err, out)
	return -1, ""
}

// swaks runs swaks against the daemon's SMTP port.
func (s *stack) swaks(args ...string) (int, string) {
	s.t.Helper()
	// --suppress-data keeps the base64 of attachments out of the transcript.
	return s.client("", nil, "swaks", append([]string{"--server", s.smtpAddr, "--timeout", "60", "--suppress-data"}, args...)...)
}

// curl runs curl; the caller gives the URL.
func (s *stack) curl(args ...string) (int, string) {
	s.t.Helper()
	return s.client("", nil, "curl", append([]string{"--silent", "--show-error", "--max-time", "60"}, args...)...)
}

// mail describes one message sent with swaks.
type mail struct {
	to        string // envelope recipient
	from      string // envelope sender
	header    string // From header; "" for swaks' default (the envelope sender)
	messageID string // "" for swaks' own
	subject   string
	pdfs      []string // paths, attached as application/pdf
	extra     []string // more swaks arguments
}

// sendSwaks sends m with swaks and returns swaks' exit code and transcript.
func (s *stack) sendSwaks(m mail) (int, string) {
	s.t.Helper()
	args := []string{"--to", m.to, "--from", m.from, "--body", "Please fax the attached document."}
	if m.header != "" {
		args = append(args, "--header", "From: "+m.header)
	}
	if m.messageID != "" {
		// swaks matches header names case-sensitively: "Message-ID" would
		// add a second field next to its own "Message-Id".
		args = append(args, "--header", "Message-Id: "+m.messageID)
	}
	if m.subject != "" {
		args = append(args, "--header", "Subject: "+m.subject)
	}
	for _, p := range m.pdfs {
		args = append(args, "--attach-type", "application/pdf", "--attach-name", filepath.Base(p), "--attach", "@"+p)
	}
	args = append(args, m.extra...)
	return s.swaks(args...)
}

// mustSend sends m and fails the test unless the daemon answered 250.
func (s *stack) mustSend(m mail) {
	s.t.Helper()
	code, out := s.sendSwaks(m)
	if code != 0 || !regexp.MustCompile(`(?m)^<-  250 `).MatchString(lastReplies(out)) {
		s.t.Fatalf("swaks exit %d; want the message accepted:\n%s", code, out)
	}
}

// mustSendBeforeCrash is mustSend for a daemon that is told to crash as
// soon as its worker reaches a step: the crash can come between the 250
// for DATA and the answer to QUIT, and swaks then exits 6 (connection
// closed unexpectedly). The promise under test is the 250, so that is
// what must be in the transcript.
func (s *stack) mustSendBeforeCrash(m mail) {
	s.t.Helper()
	code, out := s.sendSwaks(m)
	accepted := regexp.MustCompile(`(?m)^<-  250 `).MatchString(lastReplies(out))
	cutAtQuit := code == 6 && strings.Contains(out, " -> QUIT")
	if !accepted || (code != 0 && !cutAtQuit) {
		s.t.Fatalf("swaks exit %d; want the message accepted:\n%s", code, out)
	}
}

// lastReplies returns the server replies from DATA on in a swaks transcript.
func lastReplies(out string) string {
	if i := strings.LastIndex(out, " -> DATA"); i >= 0 {
		return out[i:]
	}
	return out
}

// waitCreates waits until the simulator has accepted at least n creates.
func (s *stack) waitCreates(n int, timeout time.Duration) []signalwiretest.Create {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := s.sim.Creates()
		if len(c) >= n {
			return c
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d fax creates after %v, want %d", len(c), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReports waits for n messages in Mailpit and returns them in full.
func (s *stack) waitReports(n int, timeout time.Duration) []testenv.MailMessage {
	s.t.Helper()
	sums := s.mail.WaitMessages(s.t, n, timeout)
	out := make([]testenv.MailMessage, len(sums))
	for i, m := range sums {
		out[i] = s.mail.Message(s.t, m.ID)
	}
	return out
}

// waitIdle waits until the simulator has no fax in flight and no callback
// pending.
func (s *stack) waitIdle(timeout time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.sim.WaitIdle(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// settle proves that nothing more will happen: it stops the daemon (which
// finishes every step in flight), then reads its database. Every job must
// be done with its report sent and no work scheduled, Mailpit and the
// simulator must have exactly want reports and successful creates, and the
// bucket must be empty. It returns the jobs, oldest first.
func (s *stack) settle(want int) []*faxbridge.Job {
	s.t.Helper()
	jobs := s.settleJobs(want)
	// keep_documents is false: no document may outlive its fax.
	if keys := s.objects(); len(keys) != 0 {
		s.t.Errorf("documents left in the bucket: %v", keys)
	}
	return jobs
}

// settleJobs is settle without the check of the bucket.
func (s *stack) settleJobs(want int) []*faxbridge.Job {
	s.t.Helper()
	s.waitIdle(30 * time.Second)
	// After its report a job deletes its faxes' media at SignalWire
	// (unless keep_media): wait for that step before the daemon stops.
	if !s.o.keepMedia {
		for _, c := range s.sim.Creates() {
			if c.Media.Status == http.StatusOK { // it has media to delete
				s.waitMediaDeleted(c.SID, 30*time.Second)
			}
		}
	}
	s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.OpenSQLite(ctx, filepath.Join(s.stateDir, "faxbridge.db"))
	if err != nil {
		s.t.Fatalf("open the daemon's database: %v", err)
	}
	defer db.Close()
	jobs, err := db.List(ctx, faxbridge.JobFilter{})
	if err != nil {
		s.t.Fatal(err)
	}
	if len(jobs) != want {
		s.t.Errorf("%d jobs in the database, want %d", len(jobs), want)
	}
	for _, j := range jobs {
		if j.State != faxbridge.StateDone || j.ReportState != faxbridge.ReportSent || !j.NextAt.IsZero() || j.CleanedAt.IsZero() {
			s.t.Errorf("job %s to %s: state %s, outcome %q, report %q, next at %v, cleaned at %v; want done, report sent, document deleted, nothing scheduled",
				j.ID, j.Destination.To, j.State, j.Outcome, j.ReportState, j.NextAt, j.CleanedAt)
		}
		if released := !j.ProviderDeletedAt.IsZero(); released == s.o.keepMedia {
			s.t.Errorf("job %s: media deleted at the provider at %v with keep_media = %t", j.ID, j.ProviderDeletedAt, s.o.keepMedia)
		}
		if len(j.ExtraFaxes) != 0 {
			s.t.Errorf("job %s: extra faxes %+v: sent more than once", j.ID, j.ExtraFaxes)
		}
	}
	if got := len(s.mail.Messages(s.t)); got != want {
		s.t.Errorf("%d messages in Mailpit, want exactly %d reports", got, want)
	}
	// The simulator records only creates that made a fax: refused ones
	// (503 while down, forced errors) are not in Creates.
	if got := len(s.sim.Creates()); got != want {
		s.t.Errorf("%d faxes created, want exactly %d", got, want)
	}
	return jobs
}

// waitMediaDeleted waits until the fax's media is deleted at the simulator.
func (s *stack) waitMediaDeleted(sid string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !s.sim.MediaDeleted(sid) {
		if time.Now().After(deadline) {
			s.t.Errorf("the media of fax %s is not deleted at the provider after %v", sid, timeout)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// objects lists every object in the stack's bucket.
func (s *stack) objects() []string {
	s.t.Helper()
	c, err := minio.New(s.minio.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.minio.AccessKey, s.minio.SecretKey, "")})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var keys []string
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			s.t.Fatalf("list bucket %s: %v", bucket, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// pdf writes a PDF with the given number of pages (ghostscript) and
// returns its path.
func pdf(t *testing.T, name string, pages int) string {
	t.Helper()
	var ps strings.Builder
	ps.WriteString("/Helvetica findfont 24 scalefont setfont ")
	for i := 1; i <= pages; i++ {
		fmt.Fprintf(&ps, "72 720 moveto (%s page %d of %d) show showpage ", name, i, pages)
	}
	path := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite", "-o", path, "-c", ps.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("gs: %v\n%s", err, out)
	}
	return path
}

// encrypted writes a copy of in that needs a password to open (qpdf).
func encrypted(t *testing.T, in, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("qpdf", "--encrypt", "user-secret", "owner-secret", "256", "--", in, path).CombinedOutput()
	if err != nil {
		t.Fatalf("qpdf: %v\n%s", err, out)
	}
	return path
}

// sha256File returns the hex SHA-256 of a file.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// httpStatus GETs u and returns the status code.
func httpStatus(t *testing.T, u string) int {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// lockedFile is an append-only log file safe for concurrent writers (the
// simulator logs from its own goroutines, which must not call t.Log).
type lockedFile struct {
	mu   sync.Mutex
	path string
}

func (f *lockedFile) printf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, err := os.OpenFile(f.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	w.Close()
}

// tail returns up to the last n bytes of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	if len(b) > n {
		return "(earlier output cut)\n" + string(b[len(b)-n:])
	}
	return string(b)
}

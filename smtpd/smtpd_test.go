package smtpd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge"
)

func TestReply(t *testing.T) {
	tests := []struct {
		err  error
		code int
		enh  smtp.EnhancedCode
	}{
		{faxbridge.Errorf(faxbridge.EDenied, "no relay"), 550, smtp.EnhancedCode{5, 7, 1}},
		{faxbridge.Errorf(faxbridge.EBadAddress, "bad number"), 553, smtp.EnhancedCode{5, 1, 3}},
		{faxbridge.Errorf(faxbridge.EBadContent, "no PDF"), 554, smtp.EnhancedCode{5, 6, 0}},
		{faxbridge.Errorf(faxbridge.ETooLarge, "too many pages"), 552, smtp.EnhancedCode{5, 3, 4}},
		{faxbridge.Errorf(faxbridge.ELimit, "too many"), 452, smtp.EnhancedCode{4, 5, 3}},
		{faxbridge.Errorf(faxbridge.EUnavailable, "storage down"), 451, smtp.EnhancedCode{4, 3, 0}},
		{fmt.Errorf("wrapped: %w", faxbridge.Errorf(faxbridge.EUnavailable, "db busy")), 451, smtp.EnhancedCode{4, 3, 0}},
		{errors.New("secret internal detail"), 451, smtp.EnhancedCode{4, 3, 0}},
		{fmt.Errorf("read: %w", smtp.ErrDataTooLarge), 552, smtp.EnhancedCode{5, 3, 4}},
		{context.DeadlineExceeded, 451, smtp.EnhancedCode{4, 4, 2}},
	}
	for _, tt := range tests {
		r := Reply(tt.err)
		if r.Code != tt.code || r.EnhancedCode != tt.enh {
			t.Errorf("Reply(%v) = %d %v, want %d %v", tt.err, r.Code, r.EnhancedCode, tt.code, tt.enh)
		}
		if strings.Contains(r.Message, "secret") || strings.Contains(r.Message, "\n") {
			t.Errorf("Reply(%v) leaks or breaks lines: %q", tt.err, r.Message)
		}
		// Basic and enhanced codes come from one temporary/permanent flag.
		if r.Code/100 != r.EnhancedCode[0] {
			t.Errorf("Reply(%v): class mismatch %d vs %v", tt.err, r.Code, r.EnhancedCode)
		}
	}
	if Reply(nil) != nil {
		t.Error("Reply(nil) != nil")
	}
}

type fakeBackend struct {
	mu       sync.Mutex
	accepted []faxbridge.Envelope
	bodies   []string
	err      error
	block    chan struct{} // when set, Accept waits for it
	entered  chan struct{}
}

func (f *fakeBackend) Resolve(rcpt string) (faxbridge.Recipient, error) {
	local, domain, _ := strings.Cut(rcpt, "@")
	if !strings.EqualFold(domain, "fax.example.com") {
		return faxbridge.Recipient{}, faxbridge.Errorf(faxbridge.EDenied, "relaying to %s is not permitted", domain)
	}
	if strings.Trim(local, "+0123456789") != "" {
		return faxbridge.Recipient{}, faxbridge.Errorf(faxbridge.EBadAddress, "%q is not a fax number", local)
	}
	return faxbridge.Recipient{Destination: faxbridge.Destination{To: "+" + strings.TrimPrefix(local, "+")}}, nil
}

var _ Backend = (*fakeBackend)(nil)

func (f *fakeBackend) CheckRecipient(context.Context, Identity, faxbridge.Recipient, int) error {
	return nil
}

func (f *fakeBackend) AcceptMessage(ctx context.Context, m Message, r io.Reader) ([]string, error) {
	return f.Accept(ctx, m.Envelope, r)
}

func (f *fakeBackend) Accept(ctx context.Context, env faxbridge.Envelope, r io.Reader) ([]string, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.block != nil {
		<-f.block
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accepted = append(f.accepted, env)
	f.bodies = append(f.bodies, string(b))
	return []string{"job1"}, nil
}

func start(t *testing.T, cfg Config, be Backend) (*Server, string) {
	t.Helper()
	if cfg.Trusted == nil {
		cfg.Trusted = func(a netip.Addr) bool { return a.IsLoopback() }
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	if cfg.MaxLineLength == 0 {
		cfg.MaxLineLength = 64 << 10
	}
	cfg.Hostname = "fax.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, be, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return s, ln.Addr().String()
}

func smtpErr(t *testing.T, err error) *smtp.SMTPError {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("want an SMTP error reply, got %v", err)
	}
	return se
}

func TestSessionRefusals(t *testing.T) {
	be := &fakeBackend{}
	_, addr := start(t, Config{MaxMessageBytes: 4096}, be)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	se := smtpErr(t, c.Rcpt("15551234567@example.org", nil))
	if se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "relay") {
		t.Errorf("other domain: %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
	se = smtpErr(t, c.Rcpt("bob@fax.example.com", nil))
	if se.Code != 553 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 3}) {
		t.Errorf("bad number: %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
	if err := c.Rcpt("15551234567@FAX.example.com", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: big\r\n\r\n"+strings.Repeat("x", 8000)+"\r\n")
	se = smtpErr(t, w.Close())
	if se.Code != 552 || se.EnhancedCode != (smtp.EnhancedCode{5, 3, 4}) {
		t.Errorf("too large: %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
	if len(be.accepted) != 0 {
		t.Errorf("backend accepted %d messages", len(be.accepted))
	}
}

func TestUntrustedClient(t *testing.T) {
	_, addr := start(t, Config{Trusted: func(netip.Addr) bool { return false }}, &fakeBackend{})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	se := smtpErr(t, c.Mail("a@example.com", nil))
	if se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "trusted") {
		t.Errorf("untrusted: %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
}

func TestAcceptLongLinesAndRecipients(t *testing.T) {
	be := &fakeBackend{}
	_, addr := start(t, Config{MaxRecipients: 2}, be)
	long := strings.Repeat("y", 5000)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Mail("a@example.com", nil)
	for _, r := range []string{"15551234567@fax.example.com", "+15551234567@fax.example.com", "15557654321@fax.example.com"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("rcpt %s: %v", r, err)
		}
	}
	se := smtpErr(t, c.Rcpt("15550000000@fax.example.com", nil))
	if se.Code != 452 {
		t.Errorf("third distinct recipient: %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
	w, _ := c.Data()
	io.WriteString(w, "Subject: long\r\n\r\n"+long+"\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("long line refused: %v", err)
	}
	if len(be.accepted) != 1 || len(be.accepted[0].Recipients) != 2 {
		t.Fatalf("accepted = %+v (duplicate recipient must be sent once)", be.accepted)
	}
	if !strings.Contains(be.bodies[0], long) {
		t.Error("long line was altered")
	}
	if be.accepted[0].MailFrom != "a@example.com" || be.accepted[0].RemoteAddr != "127.0.0.1" {
		t.Errorf("envelope = %+v", be.accepted[0])
	}
}

func TestBackendErrorsBecomeReplies(t *testing.T) {
	be := &fakeBackend{err: fmt.Errorf("put: %w", faxbridge.Errorf(faxbridge.EUnavailable, "document storage is unavailable"))}
	_, addr := start(t, Config{}, be)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Mail("a@example.com", nil)
	c.Rcpt("15551234567@fax.example.com", nil)
	w, _ := c.Data()
	io.WriteString(w, "Subject: s\r\n\r\nbody\r\n")
	se := smtpErr(t, w.Close())
	if se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) || !strings.Contains(se.Message, "try again later") {
		t.Errorf("storage down: %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
}

func TestTooManySessions(t *testing.T) {
	_, addr := start(t, Config{MaxSessions: 2, MaxSessionsPerClient: 2}, &fakeBackend{})
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		if !strings.HasPrefix(line, "220") {
			t.Fatalf("session %d greeting: %q", i, line)
		}
		conns = append(conns, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("third session got %q, want 421 4.3.2", line)
	}
	// A freed slot is usable again.
	conns[0].Close()
	var ok bool
	for i := 0; i < 50 && !ok; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		ok = strings.HasPrefix(line, "220")
		if !ok {
			time.Sleep(20 * time.Millisecond) // the server notices the close asynchronously
		}
	}
	if !ok {
		t.Error("slot not released after a session closed")
	}
}

func TestShutdownLetsDataFinish(t *testing.T) {
	be := &fakeBackend{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	s, addr := start(t, Config{}, be)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Mail("a@example.com", nil)
	c.Rcpt("15551234567@fax.example.com", nil)
	w, _ := c.Data()
	io.WriteString(w, "Subject: s\r\n\r\nbody\r\n")
	result := make(chan error, 1)
	go func() { result <- w.Close() }()
	<-be.entered

	idle, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := idle.Hello("idle.test"); err != nil {
		t.Fatal(err)
	}

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// The idle session is closed as soon as shutdown begins (which happens
	// in another goroutine: poll, bounded).
	closed := false
	for i := 0; i < 100 && !closed; i++ {
		if err := idle.Noop(); err != nil {
			closed = true
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !closed {
		t.Error("idle session still open after shutdown began")
	}
	close(be.block)
	if err := <-result; err != nil {
		t.Errorf("message in DATA during shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if len(be.accepted) != 1 {
		t.Errorf("accepted %d", len(be.accepted))
	}
}

// 200 clients at once against a limit of 100: the first hundred are served,
// the rest get 421 4.3.2 at once instead of queueing up (and using memory).
func TestTwoHundredSessions(t *testing.T) {
	_, addr := start(t, Config{MaxSessions: 100, MaxSessionsPerClient: 100}, &fakeBackend{})
	greetings := map[string]int{}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		greetings[strings.SplitN(line, " ", 2)[0]]++
	}
	if greetings["220"] != 100 || greetings["421"] != 100 {
		t.Errorf("greetings = %v, want 100 × 220 and 100 × 421", greetings)
	}
}

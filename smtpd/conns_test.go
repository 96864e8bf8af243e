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
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge"
)

// dialFrom opens a connection from a chosen loopback address (all of
// 127.0.0.0/8 is local on Linux) and reads the greeting.
func dialFrom(t *testing.T, from, addr string) (net.Conn, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("greeting for %s: %v", from, err)
	}
	return c, line
}

// sendFax sends one message from a chosen address with a real client.
func sendFax(t *testing.T, from, addr string) error {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	c := smtp.NewClient(nc)
	defer c.Close()
	if err := c.Hello("scanner.test"); err != nil {
		return err
	}
	return c.SendMail("scanner@example.com", []string{"15551234567@fax.example.com"}, strings.NewReader("Subject: scan\r\n\r\nbody\r\n"))
}

// The "done when": 120 idle connections from one address, and a
// trusted scanner on another address still gets its fax accepted. Then the
// same with the 120 spread over twelve addresses, so that the per-client
// limit does not help and only the slots kept for trusted networks do.
func TestIdleFloodCannotShutOutTrustedScanner(t *testing.T) {
	for _, tc := range []struct {
		name      string
		attackers int // distinct addresses, 127.0.0.2 onwards
	}{{"one address", 1}, {"twelve addresses", 12}} {
		t.Run(tc.name, func(t *testing.T) {
			be := &fakeBackend{}
			cfg := Config{
				MaxSessions:          100,
				MaxSessionsPerClient: 10,
				TrustedSessions:      20,
				Trusted:              func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") },
			}
			_, addr := start(t, cfg, be)
			admitted, refused := 0, 0
			for i := 0; i < 120; i++ {
				from := fmt.Sprintf("127.0.0.%d", 2+i%tc.attackers)
				c, line := dialFrom(t, from, addr)
				defer c.Close()
				switch {
				case strings.HasPrefix(line, "220"):
					admitted++
				case strings.HasPrefix(line, "421 4.3.2"):
					refused++
				default:
					t.Fatalf("connection %d from %s: %q", i, from, line)
				}
			}
			want := 10 // one address: its own limit
			if tc.attackers > 1 {
				want = 80 // every untrusted slot, none of the trusted ones
			}
			if admitted != want || refused != 120-want {
				t.Errorf("admitted %d, refused %d; want %d and %d", admitted, refused, want, 120-want)
			}
			if err := sendFax(t, "127.0.0.1", addr); err != nil {
				t.Fatalf("trusted scanner during the flood: %v", err)
			}
			if len(be.accepted) != 1 {
				t.Errorf("accepted %d messages, want 1", len(be.accepted))
			}
		})
	}
}

func TestPerClientLimitIsPerIPv6Slash64(t *testing.T) {
	s := New(Config{MaxSessions: 10, MaxSessionsPerClient: 2}, &fakeBackend{}, discardLog())
	a := netip.MustParseAddr("2001:db8:1:2::1")
	b := netip.MustParseAddr("2001:db8:1:2:ffff::7") // same /64
	c := netip.MustParseAddr("2001:db8:1:3::1")      // another /64
	r1, why := s.admitConn(a, false)
	if why != "" {
		t.Fatal(why)
	}
	if _, why := s.admitConn(b, false); why != "" {
		t.Fatal(why)
	}
	if _, why := s.admitConn(a, false); why != "from your address" {
		t.Errorf("third session in one /64: refusal %q", why)
	}
	if _, why := s.admitConn(c, false); why != "" {
		t.Errorf("another /64 refused: %q", why)
	}
	r1()
	if _, why := s.admitConn(b, false); why != "" {
		t.Errorf("released slot not reusable: %q", why)
	}
	// A trusted client (the office's print server, a NAT) is bounded by
	// MaxSessions alone.
	for i := range 5 {
		if _, why := s.admitConn(a, true); why != "" {
			t.Errorf("trusted session %d refused: %q", i, why)
		}
	}
}

// A client that neither logs in nor starts a transaction is disconnected
// after StartTimeout, however it keeps the session busy.
func TestStartTimeoutClosesIdleSessions(t *testing.T) {
	_, addr := start(t, Config{StartTimeout: 200 * time.Millisecond, ReadTimeout: time.Minute}, &fakeBackend{})
	c, line := dialFrom(t, "127.0.0.1", addr)
	defer c.Close()
	if !strings.HasPrefix(line, "220") {
		t.Fatal(line)
	}
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var last string
	// NOOP until the server gives up; every answer before that is 250.
	for i := 0; ; i++ {
		if _, err := io.WriteString(c, "NOOP\r\n"); err != nil {
			break
		}
		l, err := br.ReadString('\n')
		if err != nil {
			break
		}
		last = l
		if !strings.HasPrefix(l, "250") {
			break
		}
		if i > 1e6 {
			t.Fatal("session never closed")
		}
	}
	if !strings.HasPrefix(last, "421 4.4.2") {
		t.Errorf("last reply %q, want 421 4.4.2", last)
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Error("connection still open after the start timeout")
	}
}

func TestStartTimeoutLiftedOnceStarted(t *testing.T) {
	c := &slotConn{Conn: nopConn{}}
	soon := time.Now().Add(time.Second)
	later := time.Now().Add(time.Hour)
	c.capStart(soon)
	c.SetReadDeadline(later)
	if got := c.capped(); !got.Equal(soon) {
		t.Errorf("before start: deadline %v, want the cap %v", got, soon)
	}
	c.started()
	if got := c.capped(); !got.Equal(later) {
		t.Errorf("after start: deadline %v, want %v", got, later)
	}
	c.capData(soon)
	c.SetReadDeadline(time.Time{}) // no deadline asked: the cap still holds
	if got := c.capped(); !got.Equal(soon) {
		t.Errorf("in data: deadline %v, want %v", got, soon)
	}
	c.endData()
	if got := c.capped(); !got.IsZero() {
		t.Errorf("after data: deadline %v, want none", got)
	}
}

type nopConn struct{ net.Conn }

func (nopConn) SetReadDeadline(time.Time) error { return nil }

// data_timeout bounds plain DATA, however slowly the client trickles the
// message (read_timeout alone would allow minutes per line).
func TestDataTimeoutBoundsDATA(t *testing.T) {
	be := &fakeBackend{}
	_, addr := start(t, Config{DataTimeout: 300 * time.Millisecond, ReadTimeout: time.Minute}, be)
	c, _ := dialFrom(t, "127.0.0.1", addr)
	defer c.Close()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, cmd := range []string{"EHLO c.test", "MAIL FROM:<a@example.com>", "RCPT TO:<15551234567@fax.example.com>", "DATA"} {
		io.WriteString(c, cmd+"\r\n")
		readReply(t, br)
	}
	io.WriteString(c, "Subject: slow\r\n\r\nfirst line\r\n")
	// ... and nothing more: the reply comes when data_timeout ends.
	reply := readReply(t, br)
	if !strings.HasPrefix(reply, "451 4.4.2") || !strings.Contains(reply, "300ms") {
		t.Errorf("reply %q, want 451 4.4.2 naming the limit", reply)
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Error("connection still open after the data timeout")
	}
	if len(be.accepted) != 0 {
		t.Error("a message cut off by the timeout was accepted")
	}
}

// ... and BDAT: a client that idles between chunks does not keep the
// transaction open past data_timeout.
func TestDataTimeoutBoundsBDAT(t *testing.T) {
	be := &fakeBackend{}
	_, addr := start(t, Config{DataTimeout: 300 * time.Millisecond, ReadTimeout: time.Minute}, be)
	c, _ := dialFrom(t, "127.0.0.1", addr)
	defer c.Close()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, cmd := range []string{"EHLO c.test", "MAIL FROM:<a@example.com>", "RCPT TO:<15551234567@fax.example.com>"} {
		io.WriteString(c, cmd+"\r\n")
		readReply(t, br)
	}
	chunk := "Subject: chunked\r\n\r\n"
	fmt.Fprintf(c, "BDAT %d\r\n%s", len(chunk), chunk)
	if r := readReply(t, br); !strings.HasPrefix(r, "250") {
		t.Fatalf("first chunk: %q", r)
	}
	// No more chunks: the server ends the transaction and the session.
	var replies []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			break
		}
		replies = append(replies, strings.TrimSpace(l))
	}
	if len(replies) == 0 || !strings.Contains(replies[0], "4.4.2") {
		t.Errorf("replies after idling in BDAT: %q, want a 4.4.2 timeout", replies)
	}
	if len(be.accepted) != 0 {
		t.Error("a message cut off by the timeout was accepted")
	}
}

// readReply reads one (possibly multi-line) reply and returns its last line.
func readReply(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read reply: %v", err)
		}
		if len(l) < 4 || l[3] != '-' {
			return strings.TrimSpace(l)
		}
	}
}

// An MX listener takes mail without AUTH from anyone, so it must never run
// without the backend that proves senders.
func TestMXListenerNeedsSenderVerification(t *testing.T) {
	s := New(Config{}, &fakeBackend{}, discardLog())
	if err := s.CheckListener(Listener{Name: "mx", MX: true}); err == nil || !strings.Contains(err.Error(), "sender verification") {
		t.Errorf("CheckListener: %v, want a refusal naming sender verification", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := s.ServeListener(ln, Listener{Name: "mx", MX: true}); err == nil {
		t.Error("ServeListener served an MX listener without sender verification")
	}
	withMX := New(Config{}, &mxBackend{}, discardLog())
	if err := withMX.CheckListener(Listener{Name: "mx", MX: true}); err != nil {
		t.Errorf("with verification: %v", err)
	}
}

// Internet mail reaches only AcceptInternet, never the trusted path.
func TestMXMailTakesTheVerifiedPath(t *testing.T) {
	be := &mxBackend{}
	s := New(Config{Hostname: "fax.test", MaxMessageBytes: 1 << 20, MaxLineLength: 1 << 16}, be, discardLog())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeListener(ln, Listener{Name: "mx", MX: true})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.org", []string{"15551234567@fax.example.com"}, strings.NewReader("Subject: s\r\n\r\nb\r\n")); err != nil {
		t.Fatal(err)
	}
	if be.internet != 1 || len(be.accepted) != 0 {
		t.Errorf("internet path %d, trusted path %d; want 1 and 0", be.internet, len(be.accepted))
	}
}

type mxBackend struct {
	fakeBackend
	internet int
}

var _ MXBackend = (*mxBackend)(nil)

func (b *mxBackend) AcceptInternet(ctx context.Context, m Message, r io.Reader) ([]string, error) {
	io.Copy(io.Discard, r)
	b.mu.Lock()
	b.internet++
	b.mu.Unlock()
	return []string{"job"}, nil
}

// Temporary failures never show the sender their cause: bucket names,
// database conditions and internal keys stay in the log.
func TestReplyHidesInternalDetail(t *testing.T) {
	secret := []string{"faxes-prod", "SQLSTATE", "user:carol", "under lease"}
	for _, err := range []error{
		faxbridge.Errorf(faxbridge.EUnavailable, "bucket faxes-prod does not exist"),
		fmt.Errorf("upload: %w", faxbridge.WrapError(faxbridge.EUnavailable, errors.New("SQLSTATE 40001"), "database busy: SQLSTATE 40001")),
		faxbridge.Errorf(faxbridge.EConflict, "job changed under lease for user:carol"),
		faxbridge.Errorf(faxbridge.EInternal, "nil pointer in user:carol"),
		errors.New("pq: SQLSTATE 53300 faxes-prod"),
		&dataTimeout{limit: time.Minute, err: errors.New("read tcp: user:carol under lease")},
	} {
		r := Reply(err)
		if r.Code != 451 || r.EnhancedCode[0] != 4 {
			t.Errorf("Reply(%v) = %d %v, want a 451", err, r.Code, r.EnhancedCode)
		}
		for _, s := range secret {
			if strings.Contains(r.Message, s) {
				t.Errorf("Reply(%v) shows %q: %q", err, s, r.Message)
			}
		}
		if !strings.Contains(r.Message, "try again later") {
			t.Errorf("Reply(%v) does not say what to do: %q", err, r.Message)
		}
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

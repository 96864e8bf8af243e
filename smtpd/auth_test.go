package smtpd

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/faxbridge/faxbridge/internal/testenv"
	"golang.org/x/crypto/bcrypt"
)

// cheapHash makes hashes of the same formats as HashPassword at the lowest
// costs, so that the many logins of these tests stay fast under -race.
func cheapHash(password, alg string) (string, error) {
	return hashPassword(password, alg, bcrypt.MinCost, 1, 64)
}

// testHashes are computed once per test binary.
var testHashes = struct {
	once       sync.Once
	alice, bob string
	err        error
}{}

func users(t *testing.T) []User {
	t.Helper()
	testHashes.once.Do(func() {
		testHashes.alice, testHashes.err = cheapHash("alice-secret", Bcrypt)
		if testHashes.err == nil {
			testHashes.bob, testHashes.err = cheapHash("bob-secret", Argon2id)
		}
	})
	if testHashes.err != nil {
		t.Fatal(testHashes.err)
	}
	return []User{
		{Name: "alice", PasswordHash: testHashes.alice, ReportTo: "alice@example.com"},
		{Name: "bob", PasswordHash: testHashes.bob},
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// common name, and returns the file names.
func writeCert(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"fax.test"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// clientTLS trusts whatever certificate the server shows and records the
// common name it saw, so tests can tell certificates apart.
func clientTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "fax.test"}
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// identityBackend records the identity smtpd hands over with each message.
type identityBackend struct {
	fakeBackend
	mu       sync.Mutex
	messages []Message
}

func (b *identityBackend) AcceptMessage(ctx context.Context, m Message, r io.Reader) ([]string, error) {
	ids, err := b.fakeBackend.Accept(ctx, m.Envelope, r)
	if err == nil {
		b.mu.Lock()
		b.messages = append(b.messages, m)
		b.mu.Unlock()
	}
	return ids, err
}

func (b *identityBackend) last(t *testing.T) Message {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.messages) == 0 {
		t.Fatal("no message accepted")
	}
	return b.messages[len(b.messages)-1]
}

type authServer struct {
	srv   *Server
	addrs map[string]string // listener name → address
	log   *logBuf
	cert  *Certificate
	dir   string
}

// startAuth runs a server with the test users and a fresh certificate on
// one port per listener. Nobody is trusted unless cfg says otherwise.
func startAuth(t *testing.T, cfg Config, be Backend, ls ...Listener) *authServer {
	t.Helper()
	dir := t.TempDir()
	cf, kf := writeCert(t, dir, "first")
	cert, err := LoadCertificate(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Trusted == nil {
		cfg.Trusted = func(netip.Addr) bool { return false }
	}
	if cfg.Users == nil {
		cfg.Users = users(t)
	}
	cfg.TLS = cert.TLSConfig(0)
	cfg.Hostname = "fax.test"
	cfg.MaxMessageBytes = 1 << 20
	cfg.MaxLineLength = 64 << 10
	lb := &logBuf{}
	s := New(cfg, be, slog.New(slog.NewTextHandler(lb, nil)))
	as := &authServer{srv: s, addrs: map[string]string{}, log: lb, cert: cert, dir: dir}
	var wg sync.WaitGroup
	for _, l := range ls {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		as.addrs[l.Name] = ln.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ServeListener(ln, l); err != nil {
				t.Errorf("listener %s: %v", l.Name, err)
			}
		}()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		wg.Wait()
	})
	return as
}

var (
	submission = Listener{Name: "submission", TLS: STARTTLS, Auth: AuthRequired}
	smtps      = Listener{Name: "smtps", TLS: ImplicitTLS, Auth: AuthRequired}
)

// dial connects to a listener from a given local address ("" for any),
// doing the TLS its mode needs.
func dial(t *testing.T, as *authServer, name, from string) *smtp.Client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", as.addrs[name])
	if err != nil {
		if from != "" {
			testenv.Missing(t, "cannot connect from %s: %v", from, err)
		}
		t.Fatal(err)
	}
	var c *smtp.Client
	switch name {
	case "smtps":
		c = smtp.NewClient(tls.Client(conn, clientTLS()))
	case "submission", "optional":
		c, err = smtp.NewClientStartTLS(conn, clientTLS())
		if err != nil {
			t.Fatal(err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func send(c *smtp.Client, rcpt string) error {
	if err := c.Mail("scanner@example.com", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	io.WriteString(w, "Subject: s\r\n\r\nbody\r\n")
	return w.Close()
}

func TestAuthOverTLS(t *testing.T) {
	be := &identityBackend{}
	as := startAuth(t, Config{}, be, submission, smtps)
	for _, listener := range []string{"submission", "smtps"} {
		for _, mech := range []string{sasl.Plain, sasl.Login} {
			t.Run(listener+"/"+mech, func(t *testing.T) {
				c := dial(t, as, listener, "")
				if _, ok := c.TLSConnectionState(); !ok {
					t.Fatal("not TLS")
				}
				if _, mechs := c.Extension("AUTH"); mechs != "PLAIN LOGIN" {
					t.Errorf("AUTH mechanisms = %q", mechs)
				}
				var a sasl.Client = sasl.NewPlainClient("", "alice", "alice-secret")
				if mech == sasl.Login {
					a = sasl.NewLoginClient("alice", "alice-secret")
				}
				if err := c.Auth(a); err != nil {
					t.Fatalf("auth: %v", err)
				}
				if err := send(c, "15551234567@fax.example.com"); err != nil {
					t.Fatalf("send after auth: %v", err)
				}
				m := be.last(t)
				if m.Identity != (Identity{User: "alice", ReportTo: "alice@example.com"}) {
					t.Errorf("identity = %+v", m.Identity)
				}
				if m.Envelope.MailFrom != "scanner@example.com" || len(m.Envelope.Recipients) != 1 {
					t.Errorf("envelope = %+v", m.Envelope)
				}
			})
		}
	}
	// bob's hash is argon2id.
	c := dial(t, as, "smtps", "")
	if err := c.Auth(sasl.NewLoginClient("bob", "bob-secret")); err != nil {
		t.Fatalf("argon2id user: %v", err)
	}
	if strings.Contains(as.log.String(), "secret") {
		t.Errorf("a password reached the log:\n%s", as.log)
	}
}

func TestLoginWithInitialResponse(t *testing.T) {
	// "AUTH LOGIN <base64 user>" is how some clients start LOGIN.
	var got [2]string
	l := &loginServer{check: func(u, p string) error { got = [2]string{u, p}; return nil }}
	ch, done, err := l.Next([]byte("alice"))
	if err != nil || done || string(ch) != "Password:" {
		t.Fatalf("after user: %q %v %v", ch, done, err)
	}
	if _, done, err = l.Next([]byte("pw")); err != nil || !done {
		t.Fatalf("after password: %v %v", done, err)
	}
	if got != [2]string{"alice", "pw"} {
		t.Errorf("checked %q", got)
	}
	if _, _, err := l.Next([]byte("more")); err == nil {
		t.Error("a response after the end was accepted")
	}
}

func TestNoAuthBeforeTLS(t *testing.T) {
	as := startAuth(t, Config{}, &fakeBackend{}, submission)
	conn, err := net.Dial("tcp", as.addrs["submission"])
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered")
	}
	err = c.Auth(sasl.NewPlainClient("", "alice", "alice-secret"))
	if se := smtpErr(t, err); se.Code != 523 {
		t.Errorf("AUTH before TLS: %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
	se := smtpErr(t, c.Mail("a@example.com", nil))
	if se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "authentication required") || !strings.Contains(se.Message, "STARTTLS") {
		t.Errorf("MAIL before TLS: %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
}

func TestInsecureAuthListener(t *testing.T) {
	be := &identityBackend{}
	lan := Listener{Name: "lan", TLS: TLSNone, Auth: AuthRequired, InsecureAuth: true}
	as := startAuth(t, Config{}, be, lan)
	c := dial(t, as, "lan", "")
	if _, mechs := c.Extension("AUTH"); mechs != "PLAIN LOGIN" {
		t.Fatalf("AUTH on an insecure_auth listener = %q", mechs)
	}
	if err := c.Auth(sasl.NewLoginClient("alice", "alice-secret")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "15551234567@fax.example.com"); err != nil {
		t.Fatal(err)
	}
}

func TestListenerPolicyChecked(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	withUsers := New(Config{Users: users(t)}, &fakeBackend{}, log)
	noUsers := New(Config{}, &fakeBackend{}, log)
	tests := []struct {
		srv  *Server
		l    Listener
		want string
	}{
		{withUsers, Listener{Auth: AuthRequired}, "in the clear"},
		{withUsers, Listener{TLS: STARTTLS}, "certificate"},
		{noUsers, Listener{Auth: AuthOptional, InsecureAuth: true}, "no user"},
		{withUsers, Listener{TLS: "ssl"}, "unknown TLS"},
		{withUsers, Listener{Auth: "maybe"}, "unknown auth"},
	}
	for _, tt := range tests {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		err = tt.srv.ServeListener(ln, tt.l)
		ln.Close()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ServeListener(%+v) = %v, want an error about %q", tt.l, err, tt.want)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	as := startAuth(t, Config{}, &fakeBackend{}, smtps)
	var c *smtp.Client
	for _, a := range []sasl.Client{
		sasl.NewPlainClient("", "alice", "wrong-guess-1"),
		sasl.NewLoginClient("alice", "wrong-guess-2"),
		sasl.NewPlainClient("", "mallory", "wrong-guess-3"),
		sasl.NewPlainClient("bob", "alice", "alice-secret"), // acting as someone else
	} {
		// One connection each: go-smtp's client answers a failure with
		// "*", which the server counts as a protocol error.
		c = dial(t, as, "smtps", "")
		se := smtpErr(t, c.Auth(a))
		if se.Code != 535 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 8}) {
			t.Errorf("wrong password: %d %v %q", se.Code, se.EnhancedCode, se.Message)
		}
	}
	se := smtpErr(t, c.Mail("a@example.com", nil))
	if se.Code != 550 || !strings.Contains(se.Message, "authentication required") {
		t.Errorf("MAIL after failed AUTH: %d %q", se.Code, se.Message)
	}
	logs := as.log.String()
	if n := strings.Count(logs, "authentication failed"); n != 4 {
		t.Errorf("%d failures logged, want 4:\n%s", n, logs)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if strings.Contains(line, "authentication failed") && !strings.Contains(line, "remote_addr=127.0.0.1") {
			t.Errorf("failure logged without the client address: %s", line)
		}
	}
	for _, secret := range []string{"wrong-guess", "alice-secret", testHashes.alice} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLockout(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lan := Listener{Name: "lan", Auth: AuthRequired, InsecureAuth: true}
	as := startAuth(t, Config{AuthMaxFailures: 3, AuthUserMaxFailures: 6, AuthLockout: 15 * time.Minute, Now: clock.Now}, &fakeBackend{}, lan)
	auth := func(from, user, pw string) error {
		t.Helper()
		c := dial(t, as, "lan", from)
		return c.Auth(sasl.NewPlainClient("", user, pw))
	}
	wantLocked := func(err error, what string) {
		t.Helper()
		se := smtpErr(t, err)
		if se.Code != 454 || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 0}) || !strings.Contains(se.Message, "try again in 15 minutes") {
			t.Errorf("%s: %d %v %q, want 454 4.7.0 with the wait", what, se.Code, se.EnhancedCode, se.Message)
		}
	}

	// The scanner logs in as alice from its own address.
	if err := auth("127.0.0.3", "alice", "alice-secret"); err != nil {
		t.Fatalf("alice before any failure: %v", err)
	}
	// Per user and address: alice fails three times from one address,
	// which locks that address out, and not alice elsewhere.
	for i := 0; i < 3; i++ {
		if se := smtpErr(t, auth("127.0.0.2", "alice", "nope")); se.Code != 535 {
			t.Fatalf("failure %d: %d %q", i+1, se.Code, se.Message)
		}
	}
	wantLocked(auth("127.0.0.2", "alice", "alice-secret"), "alice from the guessing address")
	if err := auth("127.0.0.3", "alice", "alice-secret"); err != nil {
		t.Errorf("alice from the scanner's address after failures elsewhere: %v", err)
	}

	// Per user, slower: failures spread over addresses (two each, under
	// the address limit) reach the user limit of six. Alice is then shut
	// out of new addresses, never out of the scanner's.
	for _, from := range []string{"127.0.0.6", "127.0.0.7", "127.0.0.8"} {
		for i := 0; i < 2; i++ {
			smtpErr(t, auth(from, "alice", "nope"))
		}
	}
	wantLocked(auth("127.0.0.9", "alice", "alice-secret"), "alice from a new address during a distributed attack")
	if err := auth("127.0.0.3", "alice", "alice-secret"); err != nil {
		t.Errorf("alice from the scanner's address during a distributed attack: %v", err)
	}
	if err := auth("127.0.0.3", "bob", "bob-secret"); err != nil {
		t.Errorf("bob from a clean address: %v", err)
	}

	// Per address: failures with names that do not exist lock out the
	// address, for every user, before a password is even read.
	for i := 0; i < 3; i++ {
		smtpErr(t, auth("127.0.0.4", "nobody", "nope"))
	}
	wantLocked(auth("127.0.0.4", "bob", "bob-secret"), "bob from a locked address")
	if err := auth("127.0.0.5", "bob", "bob-secret"); err != nil {
		t.Errorf("bob from a clean address: %v", err)
	}
	if !strings.Contains(as.log.String(), "locking out") {
		t.Error("lockout not logged")
	}

	// Locks expire.
	clock.Add(14*time.Minute + 30*time.Second)
	se := smtpErr(t, auth("127.0.0.4", "bob", "bob-secret"))
	if se.Code != 454 || !strings.Contains(se.Message, "30 seconds") {
		t.Errorf("30 seconds before the end: %d %q", se.Code, se.Message)
	}
	clock.Add(30 * time.Second)
	if err := auth("127.0.0.4", "bob", "bob-secret"); err != nil {
		t.Errorf("bob after the address lock expired: %v", err)
	}
	if err := auth("127.0.0.9", "alice", "alice-secret"); err != nil {
		t.Errorf("alice from a new address after her lock expired: %v", err)
	}
}

func TestLimiter(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(3, 10*time.Minute, clock.Now)
	l.fail("k")
	l.fail("k")
	clock.Add(11 * time.Minute)
	// Old failures are forgotten: two new ones do not lock.
	if n, locked := l.fail("k"); n != 1 || locked {
		t.Errorf("after the window: n=%d locked=%v", n, locked)
	}
	l.fail("k")
	if _, locked := l.fail("k"); !locked {
		t.Error("third failure in the window did not lock")
	}
	if _, locked := l.locked("k"); !locked {
		t.Error("not locked")
	}
	l.reset("k")
	if _, locked := l.locked("k"); locked {
		t.Error("reset did not unlock")
	}
	if addrKey(netip.MustParseAddr("2001:db8::1")) != addrKey(netip.MustParseAddr("2001:db8::ffff")) {
		t.Error("IPv6 addresses in one /64 are counted apart")
	}
}

func TestTrustedNetworksAndAuth(t *testing.T) {
	be := &identityBackend{}
	optional := Listener{Name: "optional", TLS: STARTTLS, Auth: AuthOptional}
	lan := Listener{Name: "lan", TLS: TLSNone, Auth: AuthNone}
	required := Listener{Name: "required", Auth: AuthRequired, InsecureAuth: true,
		Trusted: func(a netip.Addr) bool { return true }}
	cfg := Config{
		Trusted: func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") },
		Network: func(a netip.Addr) Identity {
			if a == netip.MustParseAddr("127.0.0.1") {
				return Identity{Network: "scanners", ReportTo: "office@example.com"}
			}
			return Identity{}
		},
	}
	as := startAuth(t, cfg, be, optional, lan, required)

	// A trusted scanner sends without AUTH, over plain SMTP too, and its
	// network's identity reaches the backend.
	for _, name := range []string{"optional", "lan"} {
		if err := send(dial(t, as, name, ""), "15551234567@fax.example.com"); err != nil {
			t.Fatalf("%s: trusted client: %v", name, err)
		}
		if id := be.last(t).Identity; id != (Identity{Network: "scanners", ReportTo: "office@example.com"}) {
			t.Errorf("%s: identity = %+v", name, id)
		}
	}

	// Outside the trusted networks, AUTH is required.
	se := smtpErr(t, dial(t, as, "optional", "127.0.0.2").Mail("a@example.com", nil))
	if se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "authentication required") {
		t.Errorf("untrusted without AUTH: %d %v %q", se.Code, se.EnhancedCode, se.Message)
	}
	se = smtpErr(t, dial(t, as, "lan", "127.0.0.2").Mail("a@example.com", nil))
	if se.Code != 550 || !strings.Contains(se.Message, "trusted networks") {
		t.Errorf("untrusted on a listener without AUTH: %d %q", se.Code, se.Message)
	}
	c := dial(t, as, "optional", "127.0.0.2")
	if err := c.Auth(sasl.NewPlainClient("", "bob", "bob-secret")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "15551234567@fax.example.com"); err != nil {
		t.Fatalf("untrusted after AUTH: %v", err)
	}
	if id := be.last(t).Identity; id != (Identity{User: "bob"}) {
		t.Errorf("identity = %+v", id)
	}

	// A listener that requires AUTH requires it of trusted clients too.
	se = smtpErr(t, dial(t, as, "required", "").Mail("a@example.com", nil))
	if se.Code != 550 || !strings.Contains(se.Message, "authentication required") {
		t.Errorf("trusted client on a required listener: %d %q", se.Code, se.Message)
	}
}

// faxbridge is never a relay, for anyone: the backend's refusal of other
// domains reaches logged-in and trusted clients alike.
func TestNoRelayForAnyone(t *testing.T) {
	be := &identityBackend{}
	lan := Listener{Name: "lan"}
	as := startAuth(t, Config{Trusted: func(a netip.Addr) bool { return a.IsLoopback() }}, be, smtps, lan)
	authed := dial(t, as, "smtps", "")
	if err := authed.Auth(sasl.NewPlainClient("", "alice", "alice-secret")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*smtp.Client{"authenticated": authed, "trusted": dial(t, as, "lan", "")} {
		for _, rcpt := range []string{"someone@example.org", "15551234567@fax.example.com.evil.test", "15551234567@example.org"} {
			err := send(c, rcpt)
			if se := smtpErr(t, err); se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "relay") {
				t.Errorf("%s client, RCPT %s: %d %v %q", name, rcpt, se.Code, se.EnhancedCode, se.Message)
			}
			c.Reset()
		}
	}
	if len(be.messages) != 0 {
		t.Errorf("%d messages accepted", len(be.messages))
	}
}

func TestCertificateReload(t *testing.T) {
	as := startAuth(t, Config{}, &fakeBackend{}, smtps, submission)
	seen := func(listener string) string {
		t.Helper()
		c := dial(t, as, listener, "")
		st, ok := c.TLSConnectionState()
		if !ok {
			t.Fatal("not TLS")
		}
		return st.PeerCertificates[0].Subject.CommonName
	}
	if cn := seen("smtps"); cn != "first" {
		t.Fatalf("first certificate: %q", cn)
	}
	writeCert(t, as.dir, "second")
	if cn := seen("smtps"); cn != "first" {
		t.Errorf("certificate changed before Reload: %q", cn)
	}
	if err := as.cert.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"smtps", "submission"} {
		if cn := seen(l); cn != "second" {
			t.Errorf("%s after Reload: %q", l, cn)
		}
	}
	// A broken file keeps the certificate in use.
	if err := os.WriteFile(filepath.Join(as.dir, "cert.pem"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := as.cert.Reload()
	if err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("error quotes the key: %v", err)
	}
	if cn := seen("smtps"); cn != "second" {
		t.Errorf("after a failed Reload: %q", cn)
	}
}

func TestImplicitTLSSessionLimit(t *testing.T) {
	as := startAuth(t, Config{MaxSessions: 1}, &fakeBackend{}, smtps)
	first := dial(t, as, "smtps", "")
	conn, err := tls.Dial("tcp", as.addrs["smtps"], clientTLS())
	if err == nil {
		// The handshake cannot succeed: the server closed the
		// connection; at most the read fails.
		buf := make([]byte, 1)
		_, err = conn.Read(buf)
		conn.Close()
	}
	if err == nil {
		t.Error("a connection over the session limit was served")
	}
	first.Close()
	// The slot comes back when the TLS session closes (asynchronously).
	var ok bool
	for i := 0; i < 100 && !ok; i++ {
		c, err := smtp.DialTLS(as.addrs["smtps"], clientTLS())
		if err == nil {
			ok = c.Noop() == nil
			c.Close()
		}
		if !ok {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !ok {
		t.Error("slot not released after a TLS session closed")
	}
}

func TestPasswordHashes(t *testing.T) {
	for _, alg := range []string{Bcrypt, Argon2id} {
		h, err := cheapHash("correct horse", alg)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckPasswordHash(h); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		p, _ := parsePasswordHash(h)
		if !p.verify("correct horse") || p.verify("correct horsE") || p.verify("") {
			t.Errorf("%s: verify is wrong", alg)
		}
	}
	// The real costs (bcrypt's is checked by the passwd command's test).
	h, err := HashPassword("correct horse", Argon2id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("argon2id hash = %q", h)
	}
	if _, err := HashPassword("", Bcrypt); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := HashPassword(strings.Repeat("x", 73), Bcrypt); err == nil || !strings.Contains(err.Error(), "argon2id") {
		t.Errorf("long bcrypt password: %v", err)
	}
	// A hash made by another implementation (the argon2 reference CLI,
	// "password" with salt "somesalt") proves the PHC format is read right.
	ref := "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	p, err := parsePasswordHash(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !p.verify("password") || p.verify("Password") {
		t.Error("reference argon2id hash verifies wrongly")
	}
	for _, bad := range []string{
		"", "plaintext", "$2b$12$tooshortXXXXXXXXXXXXXXXX", "$1$md5$hashhashhashhash",
		"$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=65536,t=2,p=1$!!!!$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	} {
		err := CheckPasswordHash(bad)
		if err == nil {
			t.Errorf("CheckPasswordHash(%q) accepted", bad)
		} else if len(bad) > 12 && strings.Contains(err.Error(), bad[len(bad)-12:]) {
			t.Errorf("error repeats the hash: %v", err)
		}
	}
}

func TestReplyLockedOut(t *testing.T) {
	r := Reply(&lockedOut{wait: 90 * time.Second})
	if r.Code != 454 || r.EnhancedCode != (smtp.EnhancedCode{4, 7, 0}) || !strings.Contains(r.Message, "2 minutes") {
		t.Errorf("lockout reply: %d %v %q", r.Code, r.EnhancedCode, r.Message)
	}
	r = Reply(errors.Join(errors.New("x"), &lockedOut{wait: 5 * time.Second}))
	if r.Code != 454 || !strings.Contains(r.Message, "5 seconds") {
		t.Errorf("wrapped lockout reply: %d %q", r.Code, r.Message)
	}
}

// swaks is a real SMTP client with its own TLS and SASL code; it finds
// mistakes a go-smtp client, sharing code with the server, would not.
func swaksBin(t *testing.T) string {
	t.Helper()
	return testenv.Tool(t, "FAXBRIDGE_SWAKS_BIN", "swaks")
}

func TestSwaksAuth(t *testing.T) {
	bin := swaksBin(t)
	be := &identityBackend{}
	as := startAuth(t, Config{}, be, submission, smtps)
	tests := []struct {
		listener, tlsFlag, mech, password string
		ok                                bool
	}{
		{"submission", "--tls", "PLAIN", "alice-secret", true},
		{"submission", "--tls", "LOGIN", "alice-secret", true},
		{"smtps", "--tls-on-connect", "PLAIN", "alice-secret", true},
		{"smtps", "--tls-on-connect", "LOGIN", "alice-secret", true},
		{"smtps", "--tls-on-connect", "LOGIN", "wrong", false},
	}
	for _, tt := range tests {
		t.Run(tt.listener+"/"+tt.mech+"/"+tt.password, func(t *testing.T) {
			be.mu.Lock()
			before := len(be.messages)
			be.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "--server", as.addrs[tt.listener], tt.tlsFlag,
				"--auth", tt.mech, "--auth-user", "alice", "--auth-password", tt.password,
				"--from", "scanner@example.com", "--to", "15551234567@fax.example.com",
				"--header", "Subject: swaks", "--body", "hello")
			out, err := cmd.CombinedOutput()
			be.mu.Lock()
			got := len(be.messages) - before
			be.mu.Unlock()
			if tt.ok {
				if err != nil || got != 1 {
					t.Fatalf("swaks: %v, %d accepted\n%s", err, got, out)
				}
				return
			}
			if err == nil || got != 0 || !strings.Contains(string(out), "535 5.7.8") {
				t.Fatalf("swaks with a wrong password: %v, %d accepted\n%s", err, got, out)
			}
		})
	}
}

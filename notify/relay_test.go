package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge"
)

// received is one message as the test relay saw it.
type received struct {
	from, rcpt string
	data       []byte
	tls        bool
	helo       string
	mech, user string
}

// backend is a tiny relay: it records what arrives and answers with the
// replies a test sets.
type backend struct {
	mechs    []string // AUTH mechanisms offered
	user     string   // the one login it accepts
	pass     string
	mailErr  error
	rcptErr  error
	dataErr  error
	mu       sync.Mutex
	received []received
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, c: c}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.received...)
}

type session struct {
	b   *backend
	c   *smtp.Conn
	cur received
}

func (s *session) AuthMechanisms() []string { return s.b.mechs }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.b.user || pass != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.cur.mech, s.cur.user = mech, user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.mailErr != nil {
		return s.b.mailErr
	}
	s.cur.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.cur.rcpt = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataErr != nil {
		return s.b.dataErr
	}
	s.cur.data = data
	_, s.cur.tls = s.c.TLSConnectionState()
	s.cur.helo = s.c.Hostname()
	s.b.mu.Lock()
	s.b.received = append(s.b.received, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{mech: s.cur.mech, user: s.cur.user} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	user  *string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case l.user == nil && resp == nil:
		return []byte("Username:"), false, nil
	case l.user == nil:
		u := string(resp)
		l.user = &u
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(*l.user, string(resp))
}

// certificate returns a self-signed certificate for 127.0.0.1 and a pool
// that trusts it.
func certificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test relay"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// serve runs a go-smtp server for b on 127.0.0.1:0: plain ("none"), offering
// STARTTLS, or speaking TLS from the start ("tls").
func serve(t *testing.T, mode string, b *backend, cert tls.Certificate) string {
	t.Helper()
	srv := smtp.NewServer(b)
	srv.Domain = "relay.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	switch mode {
	case TLSStartTLS:
		srv.TLSConfig = tc
	case TLSImplicit:
		ln = tls.NewListener(ln, tc)
	default:
		srv.AllowInsecureAuth = true
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return addr
}

func testReport() faxbridge.Report {
	j := baseJob()
	j.ID = faxbridge.NewID()
	j.Outcome = faxbridge.OutcomeDelivered
	j.NumPages = 3
	return faxbridge.Report{Job: j, From: "Fax Gateway <fax@gw.example>", Hostname: "gw.example", Date: reportDate}
}

func TestRelayDelivers(t *testing.T) {
	cert, pool := certificate(t)
	tests := []struct {
		name     string
		mode     string // server and client TLS mode
		mechs    []string
		cfg      RelayConfig
		wantTLS  bool
		wantMech string
		wantFrom string
		wantHelo string
	}{
		{name: "none", mode: TLSNone, cfg: RelayConfig{TLS: TLSNone},
			wantFrom: "fax@gw.example", wantHelo: "gw.example"},
		{name: "starttls", mode: TLSStartTLS, cfg: RelayConfig{TLS: TLSStartTLS},
			wantTLS: true, wantFrom: "fax@gw.example", wantHelo: "gw.example"},
		{name: "starttls by default", mode: TLSStartTLS, cfg: RelayConfig{HeloName: "mx.gw.example"},
			wantTLS: true, wantFrom: "fax@gw.example", wantHelo: "mx.gw.example"},
		{name: "implicit tls", mode: TLSImplicit, cfg: RelayConfig{TLS: TLSImplicit},
			wantTLS: true, wantFrom: "fax@gw.example", wantHelo: "gw.example"},
		{name: "auth plain", mode: TLSStartTLS, mechs: []string{sasl.Login, sasl.Plain},
			cfg:     RelayConfig{Username: "reports", Password: "hunter2-relay"},
			wantTLS: true, wantMech: sasl.Plain, wantFrom: "fax@gw.example", wantHelo: "gw.example"},
		{name: "auth login only", mode: TLSImplicit, mechs: []string{sasl.Login},
			cfg:     RelayConfig{TLS: TLSImplicit, Username: "reports", Password: "hunter2-relay"},
			wantTLS: true, wantMech: sasl.Login, wantFrom: "fax@gw.example", wantHelo: "gw.example"},
		{name: "auth plain without tls on loopback", mode: TLSNone, mechs: []string{sasl.Plain},
			cfg:      RelayConfig{TLS: TLSNone, Username: "reports", Password: "hunter2-relay"},
			wantMech: sasl.Plain, wantFrom: "fax@gw.example", wantHelo: "gw.example"},
		{name: "envelope sender", mode: TLSNone, cfg: RelayConfig{TLS: TLSNone, EnvelopeFrom: "bounces@gw.example"},
			wantFrom: "bounces@gw.example", wantHelo: "gw.example"},
		{name: "null envelope sender", mode: TLSNone, cfg: RelayConfig{TLS: TLSNone, EnvelopeFrom: "<>"},
			wantFrom: "", wantHelo: "gw.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &backend{mechs: tt.mechs, user: "reports", pass: "hunter2-relay"}
			cfg := tt.cfg
			cfg.Addr = serve(t, tt.mode, b, cert)
			cfg.TLSConfig = &tls.Config{RootCAs: pool}
			r, err := NewRelay(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rep := testReport()
			if err := r.Notify(context.Background(), rep); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			want, _ := Compose(rep)
			msgs := b.messages()
			if len(msgs) != 1 {
				t.Fatalf("relay received %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if !bytes.Equal(m.data, want) {
				t.Errorf("relay received\n%s\nwant the composed report\n%s", m.data, want)
			}
			if m.from != tt.wantFrom || m.rcpt != "anna@clinic.example" {
				t.Errorf("envelope %q -> %q, want %q -> anna@clinic.example", m.from, m.rcpt, tt.wantFrom)
			}
			if m.tls != tt.wantTLS {
				t.Errorf("message went over TLS: %v, want %v", m.tls, tt.wantTLS)
			}
			if m.mech != tt.wantMech || (tt.wantMech != "" && m.user != "reports") {
				t.Errorf("logged in with %q as %q, want %q as reports", m.mech, m.user, tt.wantMech)
			}
			if m.helo != tt.wantHelo {
				t.Errorf("EHLO %q, want %q", m.helo, tt.wantHelo)
			}
		})
	}
}

func TestRelayErrors(t *testing.T) {
	cert, pool := certificate(t)
	const password = "hunter2-relay"
	tests := []struct {
		name    string
		mode    string
		b       *backend
		cfg     RelayConfig
		trust   bool
		want    faxbridge.Code
		wantErr string // in the error's cause, never its Message
	}{
		{name: "451 on mail from", mode: TLSNone, cfg: RelayConfig{TLS: TLSNone}, trust: true,
			b:    &backend{mailErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}},
			want: faxbridge.EUnavailable, wantErr: "Try again later"},
		{name: "451 on rcpt (greylisting)", mode: TLSStartTLS, trust: true,
			b:    &backend{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted"}},
			want: faxbridge.EUnavailable, wantErr: "Greylisted"},
		{name: "550 on rcpt", mode: TLSStartTLS, trust: true,
			b:    &backend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user anna"}},
			want: faxbridge.EInvalid, wantErr: "No such user anna"},
		{name: "554 after data", mode: TLSImplicit, cfg: RelayConfig{TLS: TLSImplicit}, trust: true,
			b:    &backend{dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Rejected as spam"}},
			want: faxbridge.EInvalid, wantErr: "Rejected as spam"},
		{name: "wrong password", mode: TLSStartTLS, trust: true,
			b:    &backend{mechs: []string{sasl.Plain}, user: "reports", pass: "other"},
			cfg:  RelayConfig{Username: "reports", Password: password},
			want: faxbridge.EUnauthorized, wantErr: "535"},
		{name: "no usable auth mechanism", mode: TLSStartTLS, trust: true,
			b:    &backend{mechs: []string{"CRAM-MD5"}},
			cfg:  RelayConfig{Username: "reports", Password: password},
			want: faxbridge.EUnauthorized},
		{name: "untrusted certificate (starttls)", mode: TLSStartTLS,
			want: faxbridge.EUnavailable, wantErr: "certificate"},
		{name: "untrusted certificate (implicit)", mode: TLSImplicit, cfg: RelayConfig{TLS: TLSImplicit},
			want: faxbridge.EUnavailable, wantErr: "certificate"},
		{name: "starttls not offered", mode: TLSNone, trust: true,
			want: faxbridge.EUnavailable, wantErr: "STARTTLS"},
		{name: "implicit tls against a plain relay", mode: TLSNone, cfg: RelayConfig{TLS: TLSImplicit}, trust: true,
			want: faxbridge.EUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			if b == nil {
				b = &backend{}
			}
			cfg := tt.cfg
			cfg.Addr = serve(t, tt.mode, b, cert)
			if tt.trust {
				cfg.TLSConfig = &tls.Config{RootCAs: pool}
			} else {
				// An empty pool: verification must fail, whatever roots the
				// machine has.
				cfg.TLSConfig = &tls.Config{RootCAs: x509.NewCertPool()}
			}
			r, err := NewRelay(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Notify(context.Background(), testReport())
			checkError(t, err, tt.want, tt.wantErr, password)
			if n := len(b.messages()); n != 0 {
				t.Errorf("relay accepted %d messages", n)
			}
		})
	}
}

// checkError asserts err's code, that want appears in its cause, and that
// neither the message nor the cause leaks the password or a reply.
func checkError(t *testing.T, err error, code faxbridge.Code, want, password string) {
	t.Helper()
	if got := faxbridge.ErrorCode(err); got != code {
		t.Fatalf("code %q (%v), want %q", got, err, code)
	}
	var fe *faxbridge.Error
	if !errors.As(err, &fe) {
		t.Fatalf("%v is not a *faxbridge.Error", err)
	}
	if fe.Err == nil || !strings.Contains(fe.Err.Error(), want) {
		t.Errorf("cause %v does not mention %q", fe.Err, want)
	}
	if want != "" && strings.Contains(fe.Message, want) {
		t.Errorf("message %q shows the relay's reply", fe.Message)
	}
	if password != "" && strings.Contains(err.Error(), password) {
		t.Errorf("error %q contains the password", err)
	}
}

func TestRelayUnreachable(t *testing.T) {
	// A port that was just free: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	r, err := NewRelay(RelayConfig{Addr: dead, TLS: TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Notify(context.Background(), testReport())
	checkError(t, err, faxbridge.EUnavailable, "connect", "")
}

// silent accepts connections and never says a word, like a relay stuck
// behind a broken load balancer.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestRelayTimeout(t *testing.T) {
	addr := silent(t)
	t.Run("timeout", func(t *testing.T) {
		r, err := NewRelay(RelayConfig{Addr: addr, TLS: TLSNone, Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = r.Notify(context.Background(), testReport())
		checkError(t, err, faxbridge.EUnavailable, "", "")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Notify took %v with a 200ms timeout", d)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		r, err := NewRelay(RelayConfig{Addr: addr, TLS: TLSNone, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = r.Notify(ctx, testReport())
		checkError(t, err, faxbridge.EUnavailable, "", "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v does not wrap context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Notify took %v with a 200ms context", d)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		r, err := NewRelay(RelayConfig{Addr: addr, TLS: TLSNone, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err = r.Notify(ctx, testReport())
		checkError(t, err, faxbridge.EUnavailable, "", "")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%v does not wrap context.Canceled", err)
		}
	})
}

func TestNewRelayConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  RelayConfig
		ok   bool
	}{
		{"defaults", RelayConfig{Addr: "mail.example:587"}, true},
		{"implicit", RelayConfig{Addr: "mail.example:465", TLS: TLSImplicit, Username: "u", Password: "pw-secret-1"}, true},
		{"no port", RelayConfig{Addr: "mail.example"}, false},
		{"no host", RelayConfig{Addr: ":25"}, false},
		{"unknown tls", RelayConfig{Addr: "mail.example:25", TLS: "ssl"}, false},
		{"negative timeout", RelayConfig{Addr: "mail.example:25", Timeout: -time.Second}, false},
		{"bad envelope sender", RelayConfig{Addr: "mail.example:25", EnvelopeFrom: "nobody"}, false},
		{"password in clear to another host", RelayConfig{Addr: "mail.example:25", TLS: TLSNone, Username: "u", Password: "pw-secret-1"}, false},
		{"password in clear on loopback", RelayConfig{Addr: "127.0.0.1:25", TLS: TLSNone, Username: "u", Password: "pw-secret-1"}, true},
		{"password in clear on localhost", RelayConfig{Addr: "localhost:25", TLS: TLSNone, Username: "u", Password: "pw-secret-1"}, true},
	}
	for _, tt := range tests {
		r, err := NewRelay(tt.cfg)
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !tt.ok && faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("%s: err = %v, want code invalid", tt.name, err)
		}
		if err != nil && tt.cfg.Password != "" && strings.Contains(err.Error(), tt.cfg.Password) {
			t.Errorf("%s: error shows the password", tt.name)
		}
		if err == nil && r.tls.ServerName == "" {
			t.Errorf("%s: no TLS server name", tt.name)
		}
	}
}

func TestRelayInvalidReport(t *testing.T) {
	r, err := NewRelay(RelayConfig{Addr: silent(t), TLS: TLSNone, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rep := testReport()
	rep.Job.ReportTo = ""
	// Fails before connecting: the silent relay would make it time out.
	if err := r.Notify(context.Background(), rep); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
		t.Errorf("err = %v, want code invalid", err)
	}
}

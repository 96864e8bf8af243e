package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/faxbridge/faxbridge/config"
)

func writeCert(t *testing.T, dir, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The daemon as `faxbridge serve` wires it, with port 25 open to nobody and
// two submission ports that require a login: a fax goes through only with
// AUTH, and never to another domain.
func TestSubmissionListeners(t *testing.T) {
	// Held for the whole test, so a SIGHUP sent before the daemon listens
	// for it cannot kill the test process.
	guard := make(chan os.Signal, 8)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)

	tlsDir := t.TempDir()
	writeCert(t, tlsDir, "first")
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *config.Config) {
		c.SMTP.TrustedNetworks = []string{}
		c.SMTP.CertFile, c.SMTP.KeyFile = filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem")
		c.SMTP.Listeners = []config.Listener{
			{Name: "submissions", Listen: "127.0.0.1:0", TLS: "implicit", Auth: "required"},
			{Name: "submission", Listen: "127.0.0.1:0", TLS: "starttls", Auth: "required"},
		}
		c.Users = []config.User{{Name: "alice", PasswordHash: string(hash), ReportTo: "alice@example.com"}}
	})
	clientTLS := &tls.Config{InsecureSkipVerify: true}
	msg := message("scanner@example.com", "auth", attachment{name: "a.pdf", ctype: "application/pdf", data: pdf(t, "sample.pdf")})

	// Port 25 trusts nobody here.
	var se *smtp.SMTPError
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, msg); !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("port 25 without trust: %v", err)
	}

	// Implicit TLS and AUTH PLAIN: the fax goes out and is reported.
	c, err := smtp.DialTLS(h.m.SMTPAddrOf("submissions"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice", "alice-secret")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("scanner@example.com", []string{"15551234567@fax.example.com"}, strings.NewReader(string(msg))); err != nil {
		t.Fatalf("send after AUTH: %v", err)
	}
	if r := h.waitReport(); r.Job.Outcome != "delivered" || r.Job.ReportTo != "alice@example.com" || r.Job.Sender != "user:alice" {
		t.Errorf("outcome %q, report to %q, sender %q; want delivered, the user's report_to, user:alice", r.Job.Outcome, r.Job.ReportTo, r.Job.Sender)
	}

	// STARTTLS: no AUTH before it; after it, AUTH LOGIN works and still
	// no relaying.
	plain, err := smtp.Dial(h.m.SMTPAddrOf("submission"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := plain.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	sc, err := smtp.DialStartTLS(h.m.SMTPAddrOf("submission"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Auth(sasl.NewLoginClient("alice", "alice-secret")); err != nil {
		t.Fatal(err)
	}
	if err := sc.Mail("scanner@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := sc.Rcpt("someone@example.org", nil); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Errorf("relay after AUTH: %v", err)
	}

	// SIGHUP reloads the certificate for new handshakes.
	writeCert(t, tlsDir, "second")
	var cn string
	for i := 0; i < 100 && cn != "second"; i++ {
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		time.Sleep(20 * time.Millisecond) // the reload runs in the daemon's own goroutine
		conn, err := tls.Dial("tcp", h.m.SMTPAddrOf("submissions"), clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		cn = conn.ConnectionState().PeerCertificates[0].Subject.CommonName
		conn.Close()
	}
	if cn != "second" {
		t.Errorf("certificate after SIGHUP: %q", cn)
	}
}

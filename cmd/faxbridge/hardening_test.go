package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/daemon"
	"github.com/faxbridge/faxbridge/senderauth"
	"github.com/faxbridge/faxbridge/storage"
	"github.com/faxbridge/faxbridge/store"
)

// Two sessions of one sender under faxes_per_hour = 1 both pass the check
// at RCPT (nothing is used yet) and then send DATA at the same time: the
// quota is taken in the transaction that commits the jobs, so exactly one
// gets 250 and the other 452.
func TestParallelSessionsCannotPassOneQuota(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.SMTP.Networks = []config.Network{{Name: "scanners", CIDRs: []string{"127.0.0.0/8"}, SenderPolicy: config.SenderPolicy{FaxesPerHour: 1}}}
	})
	msg := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	var clients []*smtp.Client
	for range 2 {
		c, err := smtp.Dial(h.smtp)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("a@example.com", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("15551234567@fax.example.com", nil); err != nil {
			t.Fatalf("RCPT before any commit: %v", err)
		}
		clients = append(clients, c)
	}
	results := make(chan error, 2)
	for _, c := range clients {
		go func() {
			w, err := c.Data()
			if err != nil {
				results <- err
				return
			}
			w.Write(msg)
			results <- w.Close()
		}()
	}
	var accepted, limited int
	for range 2 {
		err := <-results
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &se) && se.Code == 452 && strings.Contains(se.Message, "quota of 1 faxes per hour"):
			limited++
			if strings.Contains(se.Message, "network:") {
				t.Errorf("reply names an internal key: %q", se.Message)
			}
		default:
			t.Errorf("unexpected answer: %v", err)
		}
	}
	if accepted != 1 || limited != 1 {
		t.Errorf("%d accepted and %d refused for quota; want 1 and 1", accepted, limited)
	}
	h.waitReport()
	h.noMoreReports()
}

// rotate-media-key replaces the key and keeps the old one for the URLs it
// signed; a daemon started afterwards loads both.
func TestRotateMediaKeyCommand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	s := strings.Replace(string(b), `api_token = ""`, `api_token = "t"`, 1)
	s = strings.Replace(s, `signing_key = ""`, `signing_key = "k"`, 1)
	s = strings.Replace(s, `state_dir = "/var/lib/faxbridge"`, `state_dir = "`+state+`"`, 1)
	path := filepath.Join(t.TempDir(), "f.toml")
	os.WriteFile(path, []byte(s), 0o600)
	first, err := storage.LoadOrCreateSecret(filepath.Join(state, "media.key"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"rotate-media-key", "-config", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	second, _ := storage.LoadOrCreateSecret(filepath.Join(state, "media.key"))
	retired, err := storage.LoadRetiredSecret(filepath.Join(state, "media.key"))
	if bytes.Equal(first, second) || err != nil || len(retired) != 1 || !bytes.Equal(retired[0].Key, first) {
		t.Errorf("after rotation: new key equal to old %v, retired %d keys, %v", bytes.Equal(first, second), len(retired), err)
	}
}

// A DKIM signature proves a message, not where it goes: on an MX listener a
// proven message is faxed only to numbers its signed To/Cc names, only once
// within the replay window, and within the [mx] quotas of its sender.
func TestMXReplayAndQuota(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dns := &senderauth.StaticResolver{}
	if err := dns.AddDKIMKey("sel", "example.com", &key.PublicKey); err != nil {
		t.Fatal(err)
	}
	dns.AddTXT("_dmarc.example.com", "v=DMARC1; p=reject")
	h := newHarnessWith(t, nil, func(c *config.Config) {
		c.SMTP.Listeners = append(c.SMTP.Listeners, config.Listener{Name: "mx", Listen: "127.0.0.1:0", MX: true})
		c.MX.AllowSenders = []string{"example.com"}
		c.MX.FaxesPerHour = 2
	}, func(m *daemon.Main) { m.Resolver = dns })
	mx := h.m.SMTPAddrOf("mx")
	doc := attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")}
	signed := func(to, subject string) []byte {
		msg := message("Alice <alice@example.com>", subject, doc)
		msg = bytes.Replace(msg, []byte("To: fax@fax.example.com"), []byte("To: "+to), 1)
		var b bytes.Buffer
		if err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{Domain: "example.com", Selector: "sel", Signer: key}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	refused := func(err error, code int, phrase string) {
		t.Helper()
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != code || !strings.Contains(se.Message, phrase) {
			t.Errorf("got %v, want %d containing %q", err, code, phrase)
		}
	}
	first := signed("15551234567@fax.example.com", "one")
	if err := h.sendAt(mx, "alice@example.com", []string{"15551234567@fax.example.com"}, first); err != nil {
		t.Fatalf("proven message to the number it names: %v", err)
	}
	// The same signed message again: a replay.
	refused(h.sendAt(mx, "alice@example.com", []string{"15551234567@fax.example.com"}, first), 550, "already faxed")
	// ... or to a number it never named, with or without an added To on top.
	refused(h.sendAt(mx, "alice@example.com", []string{"15559999999@fax.example.com"}, first), 550, "does not name")
	spliced := append([]byte("To: 15559999999@fax.example.com\r\n"), signed("15551234567@fax.example.com", "spliced")...)
	refused(h.sendAt(mx, "alice@example.com", []string{"15559999999@fax.example.com"}, spliced), 550, "does not name")
	// The sender's quota: two faxes per hour.
	if err := h.sendAt(mx, "alice@example.com", []string{"15551234568@fax.example.com"}, signed("15551234568@fax.example.com", "two")); err != nil {
		t.Fatalf("second message: %v", err)
	}
	refused(h.sendAt(mx, "alice@example.com", []string{"15551234569@fax.example.com"}, signed("15551234569@fax.example.com", "three")), 452, "quota of 2 faxes per hour")
	for range 2 {
		if j := h.waitReport().Job; j.Sender != "mx:alice@example.com" {
			t.Errorf("job sender %q", j.Sender)
		}
	}
	h.noMoreReports()
	if n := len(h.sim.Creates()); n != 2 {
		t.Errorf("%d faxes, want 2", n)
	}
}

// The "done when", on the whole daemon with the default limits: 120
// idle connections from one address on the internet, and a scanner on the
// office network still gets its fax accepted and sent.
func TestIdleFloodDaemonScannerStillFaxes(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.SMTP.TrustedNetworks = []string{"127.0.0.1/32"} })
	admitted := 0
	for i := range 120 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", h.smtp)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if strings.HasPrefix(line, "220") {
			admitted++
		} else if !strings.HasPrefix(line, "421 4.3.2") {
			t.Fatalf("connection %d: %q", i, line)
		}
	}
	if want := h.cfg.SMTP.MaxSessionsPerClient; admitted != want {
		t.Errorf("%d idle connections admitted from one address, want %d", admitted, want)
	}
	msg := message("scanner@example.com", "scan", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	if err := h.sendAt(h.smtp, "scanner@example.com", []string{"15551234567@fax.example.com"}, msg); err != nil {
		t.Fatalf("scanner during the flood: %v", err)
	}
	if j := h.waitReport().Job; j.Outcome != "delivered" {
		t.Errorf("outcome %q", j.Outcome)
	}
}

// A SIP contact's password is stored with its job (each attempt needs it)
// but never shown by `faxbridge jobs`.
func TestJobsOutputHidesSIPPassword(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	s := strings.Replace(string(b), `api_token = ""`, `api_token = "t"`, 1)
	s = strings.Replace(s, `signing_key = ""`, `signing_key = "k"`, 1)
	s = strings.Replace(s, `state_dir = "/var/lib/faxbridge"`, `state_dir = "`+state+`"`, 1)
	path := filepath.Join(t.TempDir(), "f.toml")
	os.WriteFile(path, []byte(s), 0o600)
	db, err := store.OpenSQLite(t.Context(), filepath.Join(state, "faxbridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	j := &faxbridge.Job{ID: "sipjob", Version: 1, State: faxbridge.StateQueued, CreatedAt: now, UpdatedAt: now, NextAt: now.Add(time.Hour),
		Destination: faxbridge.Destination{To: "sip:fax@pbx.example.com", Contact: "pbx", SipAuthUsername: "faxuser", SipAuthPassword: "hunter2-sip"}}
	if err := db.Create(t.Context(), []*faxbridge.Job{j}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, args := range [][]string{{"show", "sipjob"}, {"list"}} {
		var out, errOut bytes.Buffer
		if code := run(append([]string{"jobs", "-config", path}, args...), &out, &errOut); code != 0 {
			t.Fatalf("jobs %v: exit %d: %s", args, code, errOut.String())
		}
		if strings.Contains(out.String()+errOut.String(), "hunter2") {
			t.Errorf("jobs %v shows the SIP password:\n%s", args, out.String())
		}
		if !strings.Contains(out.String(), "sipjob") {
			t.Errorf("jobs %v does not show the job:\n%s", args, out.String())
		}
	}
}

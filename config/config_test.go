package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example documents every key; it must load, and only the secrets a
// reader has to fill in may be missing.
func TestExampleLoads(t *testing.T) {
	_, err := Load(filepath.Join("..", "config.example.toml"))
	probs, ok := err.(Problems)
	if !ok {
		t.Fatalf("Load: %v", err)
	}
	for _, p := range probs {
		if !strings.Contains(p, "api_token") && !strings.Contains(p, "signing_key") {
			t.Errorf("unexpected problem in the example: %s", p)
		}
	}
	if len(probs) != 2 {
		t.Errorf("got %d problems, want the 2 missing secrets: %v", len(probs), probs)
	}
}

func TestExampleWithSecretsFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `api_token = ""`, `api_token_file = "token"`, 1)
	s = strings.Replace(s, `signing_key = ""`, `signing_key_file = "key"`, 1)
	write(t, dir, "token", "tok\n")
	write(t, dir, "key", "PSK_x\n")
	path := write(t, dir, "f.toml", s)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SignalWire.APIToken != "tok" || cfg.SignalWire.SigningKey != "PSK_x" {
		t.Errorf("secrets = %q %q", cfg.SignalWire.APIToken, cfg.SignalWire.SigningKey)
	}
	if len(cfg.Contacts) != 2 || cfg.Contacts[1].SipAuthUsername != "faxuser" {
		t.Errorf("contacts = %+v", cfg.Contacts)
	}
}

func TestEveryProblemReported(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "bad.toml", `
state_dir = "/x"
[smtp]
listen_adr = "0.0.0.0:25"
domains = ["not a domain"]
trusted_networks = ["10.0.0.0/33"]
[http]
public_url = "ftp://x"
[signalwire]
project_id = "p"
api_token = "t"
api_token_file = "t"
from = "5551234"
quality = "ultra"
ttl = 301
status_callback_events = ["done"]
[storage]
backend = "floppy"
[mail]
relay = "nohostport"
from = "f@x"
`)
	_, err := Load(path)
	probs, ok := err.(Problems)
	if !ok {
		t.Fatalf("Load: %v", err)
	}
	want := []string{"listen_adr", "not a domain", "10.0.0.0/33", "public_url", "both set", "signing_key",
		"signalwire.from", "quality", "ttl 301", "done", "floppy", "mail.relay", "space"}
	all := strings.Join(probs, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no problem mentions %q; got:\n%s", w, all)
		}
	}
}

func TestTTLRange(t *testing.T) {
	for _, ttl := range []int{4, 5, 300, 301} {
		c := valid()
		c.SignalWire.TTL = ttl
		probs := c.Check()
		if bad := ttl < 5 || ttl > 300; bad != (len(probs) > 0) {
			t.Errorf("ttl %d: problems %v", ttl, probs)
		}
	}
}

func TestTrusted(t *testing.T) {
	c := valid()
	c.SMTP.TrustedNetworks = []string{"192.168.1.0/24", "10.1.2.3"}
	if p := c.Check(); len(p) > 0 {
		t.Fatal(p)
	}
	for addr, want := range map[string]bool{"192.168.1.77": true, "192.168.2.1": false, "10.1.2.3": true, "::ffff:192.168.1.5": true, "127.0.0.1": false} {
		if got := c.SMTP.Trusted(mustAddr(t, addr)); got != want {
			t.Errorf("Trusted(%s) = %v", addr, got)
		}
	}
}

func valid() *Config {
	c := Defaults()
	c.SMTP.Domains = []string{"fax.example.com"}
	c.HTTP.PublicURL = "https://fax.example.com"
	c.SignalWire.Space = "example"
	c.SignalWire.ProjectID = "p"
	c.SignalWire.APIToken = "t"
	c.SignalWire.SigningKey = "k"
	c.SignalWire.From = "+15551230000"
	c.Mail.Relay = "smtp.example.com:587"
	c.Mail.From = "Fax <fax@example.com>"
	return &c
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

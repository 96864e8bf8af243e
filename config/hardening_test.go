package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleWith loads config.example.toml with its two missing secrets filled
// in by edit (inline or by file), written with mode into a fresh directory.
func exampleWith(t *testing.T, mode os.FileMode, edit func(dir, s string) string) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	path := write(t, dir, "f.toml", edit(dir, string(b)))
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

func inline(_ string, s string) string {
	s = strings.Replace(s, `api_token = ""`, `api_token = "tok"`, 1)
	return strings.Replace(s, `signing_key = ""`, `signing_key = "PSK_x"`, 1)
}

func TestWarnings(t *testing.T) {
	has := func(ws []string, sub string) bool {
		for _, w := range ws {
			if strings.Contains(w, sub) {
				return true
			}
		}
		return false
	}
	// Inline secrets in a world-readable file: warned, naming the keys.
	cfg, path := exampleWith(t, 0o644, inline)
	if ws := cfg.Warnings(path); !has(ws, "holds secrets") || !has(ws, "signalwire.api_token") {
		t.Errorf("readable config with secrets: %q", ws)
	}
	// The same file at 0600: no warning about it.
	cfg, path = exampleWith(t, 0o600, inline)
	if ws := cfg.Warnings(path); has(ws, "holds secrets") {
		t.Errorf("0600 config: %q", ws)
	}
	// Secrets only in files: a readable config is fine, a readable secret
	// file is not.
	cfg, path = exampleWith(t, 0o644, func(dir, s string) string {
		write(t, dir, "token", "tok\n")
		os.Chmod(write(t, dir, "key", "PSK_x\n"), 0o640)
		s = strings.Replace(s, `api_token = ""`, `api_token_file = "token"`, 1)
		return strings.Replace(s, `signing_key = ""`, `signing_key_file = "key"`, 1)
	})
	// A TLS private key readable by others is warned about too.
	keyPath := filepath.Join(filepath.Dir(path), "tls.key")
	os.WriteFile(keyPath, []byte("key"), 0o644)
	cfg.SMTP.KeyFile = keyPath
	ws := cfg.Warnings(path)
	if !has(ws, "secret file "+keyPath) {
		t.Errorf("readable TLS key: %q", ws)
	}
	if has(ws, "holds secrets") || !has(ws, "secret file "+filepath.Join(filepath.Dir(path), "key")) || has(ws, filepath.Join(filepath.Dir(path), "token")) {
		t.Errorf("secret files: %q", ws)
	}
	// Plain-http URLs facing the internet.
	cfg, path = exampleWith(t, 0o600, func(dir, s string) string {
		s = strings.Replace(inline(dir, s), `public_url = "https://faxbridge.example.com"`, `public_url = "http://faxbridge.example.com"`, 1)
		return strings.Replace(s, `space = "example.signalwire.com"`, `base_url = "http://api.example.net"`, 1)
	})
	ws = cfg.Warnings(path)
	if !has(ws, "http.public_url") || !has(ws, "signalwire.base_url") {
		t.Errorf("http URLs: %q", ws)
	}
	// ... but not for a simulator on this host.
	cfg.SignalWire.BaseURL = "http://127.0.0.1:8089"
	cfg.HTTP.PublicURL = "https://faxbridge.example.com"
	if ws := cfg.Warnings(path); has(ws, "base_url") || has(ws, "public_url") {
		t.Errorf("loopback base_url: %q", ws)
	}
}

func TestDSNFile(t *testing.T) {
	cfg, _ := exampleWith(t, 0o600, func(dir, s string) string {
		write(t, dir, "dsn", "postgres://fax:s3cret@db.example:5432/fax\n")
		s = inline(dir, s)
		s = strings.Replace(s, `driver = "sqlite"`, `driver = "postgres"`, 1)
		return strings.Replace(s, `dsn = ""`, `dsn_file = "dsn"`, 1)
	})
	if cfg.Database.DSN != "postgres://fax:s3cret@db.example:5432/fax" {
		t.Errorf("dsn = %q", cfg.Database.DSN)
	}
}

// The session shares follow max_sessions unless set, so a small
// max_sessions alone is a valid configuration.
func TestSessionSharesFollowMaxSessions(t *testing.T) {
	c := Defaults()
	c.SMTP.MaxSessions = 10
	c.checkHardening()
	if c.SMTP.MaxSessionsPerClient != 1 || c.SMTP.TrustedSessions != 2 {
		t.Errorf("shares of 10 sessions: %d per client, %d trusted; want 1 and 2", c.SMTP.MaxSessionsPerClient, c.SMTP.TrustedSessions)
	}
	c = Defaults()
	c.checkHardening()
	if c.SMTP.MaxSessionsPerClient != 10 || c.SMTP.TrustedSessions != 20 {
		t.Errorf("defaults: %d per client, %d trusted; want 10 and 20", c.SMTP.MaxSessionsPerClient, c.SMTP.TrustedSessions)
	}
	c.SMTP.TrustedSessions = 100
	if p := c.checkHardening(); len(p) == 0 {
		t.Error("trusted_sessions = max_sessions accepted")
	}
}

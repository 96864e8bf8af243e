package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's recommended setups are what newcomers copy: each must load,
// with only the parts every deployment has (HTTP, SignalWire, relay) added.
func TestReadmeSetupsLoad(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d toml blocks in the README, want the office and MX setups", len(blocks))
	}
	const common = `
[http]
public_url = "https://faxbridge.example.com"
[signalwire]
space = "example"
project_id = "p"
api_token = "t"
signing_key = "k"
from = "+15551230000"
[mail]
relay = "smtp.example.com:587"
from = "Fax <fax@example.com>"
`
	hash := "$2b$12$" + strings.Repeat("a", 53)
	for i, blk := range blocks {
		dir := t.TempDir()
		writeTestCert(t, dir)
		body := blk[1]
		body = strings.ReplaceAll(body, `"$2b$12$..."`, `"`+hash+`"`)
		body = strings.ReplaceAll(body, `"/etc/faxbridge/smtp.crt"`, `"`+filepath.Join(dir, "cert.pem")+`"`)
		body = strings.ReplaceAll(body, `"/run/credentials/faxbridge.service/tls_key"`, `"`+filepath.Join(dir, "key.pem")+`"`)
		body = strings.ReplaceAll(body, `state_dir = "/var/lib/faxbridge"`, `state_dir = "`+dir+`"`)
		// The common tables go first: a table header in the block would
		// otherwise swallow them.
		path := filepath.Join(dir, "faxbridge.toml")
		if err := os.WriteFile(path, []byte(hoistTopLevel(body)+common+tablesOf(body)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			t.Errorf("README setup %d does not load: %v\n%s", i+1, err, body)
		}
	}
}

// hoistTopLevel returns the key lines before the first table header.
func hoistTopLevel(s string) string {
	if i := strings.Index(s, "\n["); i >= 0 && !strings.HasPrefix(s, "[") {
		return s[:i+1]
	}
	if strings.HasPrefix(s, "[") {
		return ""
	}
	return s
}

// tablesOf returns everything from the first table header on.
func tablesOf(s string) string {
	if strings.HasPrefix(s, "[") {
		return s
	}
	if i := strings.Index(s, "\n["); i >= 0 {
		return s[i+1:]
	}
	return ""
}

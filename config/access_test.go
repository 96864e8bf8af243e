package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A hash of bcrypt's shape; config checks only the shape.
const testHash = "$2a$04$wXy4qGuTyyJRJaqmcNAlTe7pnlGe6SfTgF.r63k5nE5fNn0hhQOPm"

// uncommentBlocks turns the commented-out example tables of the example
// file ("# [[...]]" and the "# key = value" lines after it) into live TOML,
// so that the documentation is checked like the rest of the file.
func uncommentBlocks(s string) string {
	lines := strings.Split(s, "\n")
	in := false
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "# [["):
			in = true
		case !strings.HasPrefix(l, "#"):
			in = false
		}
		if in {
			if l == "#" {
				lines[i] = ""
			} else if strings.HasPrefix(l, "# ") && !strings.HasPrefix(l, "# # ") {
				lines[i] = strings.TrimPrefix(l, "# ")
			}
		}
	}
	return strings.Join(lines, "\n")
}

func writeTestCert(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fax.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	write(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
}

func TestExampleAccessBlocksLoad(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := uncommentBlocks(string(b))
	s = strings.Replace(s, `api_token = ""`, `api_token = "tok"`, 1)
	s = strings.Replace(s, `signing_key = ""`, `signing_key = "PSK_x"`, 1)
	s = strings.Replace(s, `cert_file = ""`, `cert_file = "cert.pem"`, 1)
	s = strings.Replace(s, `key_file = ""`, `key_file = "key.pem"`, 1)
	s = strings.Replace(s, `password_hash = "$2b$12$..."`, `password_hash = "`+testHash+`"`, 1)
	writeTestCert(t, dir)
	cfg, err := Load(write(t, dir, "f.toml", s))
	if err != nil {
		t.Fatal(err)
	}
	ls := cfg.SMTP.AllListeners()
	var got []string
	for _, l := range ls {
		got = append(got, l.Name+" "+l.Listen+" "+l.TLS+" "+l.Auth)
	}
	want := []string{
		"smtp 0.0.0.0:25 none none",
		"submission 0.0.0.0:587 starttls required",
		"submissions 0.0.0.0:465 implicit required",
		"lan 192.168.1.10:2525 none required",
		"mx 203.0.113.10:25 starttls none",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("listeners:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cfg.SMTP.CertFile != filepath.Join(dir, "cert.pem") {
		t.Errorf("cert_file not made relative to the config file: %q", cfg.SMTP.CertFile)
	}
	if len(cfg.Users) != 1 || cfg.Users[0].Name != "scanner-2nd-floor" || cfg.Users[0].ReportTo != "second-floor@example.com" {
		t.Errorf("users = %+v", cfg.Users)
	}
	n, ok := cfg.SMTP.Network(mustAddr(t, "192.168.1.50"))
	if !ok || n.Name != "office-scanners" || n.ReportTo != "frontdesk@example.com" {
		t.Errorf("network = %+v %v", n, ok)
	}
	// The bound network is trusted on listeners that use the default list,
	// not on the one whose trusted_networks = [].
	addr := mustAddr(t, "192.168.1.50")
	if !cfg.SMTP.TrustedOn(&ls[0], addr) || cfg.SMTP.TrustedOn(&ls[3], addr) {
		t.Errorf("TrustedOn: default %v, lan %v", cfg.SMTP.TrustedOn(&ls[0], addr), cfg.SMTP.TrustedOn(&ls[3], addr))
	}
	if cfg.SMTP.AuthMaxFailures != 5 || cfg.SMTP.AuthLockout.Duration != 15*time.Minute || cfg.SMTP.TLSVersion() == 0 {
		t.Errorf("throttle = %d %v, tls %q", cfg.SMTP.AuthMaxFailures, cfg.SMTP.AuthLockout, cfg.SMTP.TLSMinVersion)
	}
}

func TestAccessProblems(t *testing.T) {
	dir := t.TempDir()
	writeTestCert(t, dir)
	user := User{Name: "scanner", PasswordHash: testHash}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"auth without users", func(c *Config) { c.SMTP.Auth = "optional"; c.SMTP.InsecureAuth = true }, "no [[users]]"},
		{"auth in the clear", func(c *Config) { c.Users = []User{user}; c.SMTP.Auth = "required" }, "in the clear"},
		{"tls without cert", func(c *Config) {
			c.SMTP.Listeners = []Listener{{Name: "s", Listen: ":465", TLS: "implicit"}}
		}, "cert_file and smtp.key_file are required"},
		{"broken cert", func(c *Config) {
			c.SMTP.TLS = "starttls"
			c.SMTP.CertFile, c.SMTP.KeyFile = filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pem")
		}, "smtp.cert_file/key_file"},
		{"unknown tls", func(c *Config) { c.SMTP.TLS = "ssl" }, `smtp.tls "ssl"`},
		{"unknown auth", func(c *Config) { c.SMTP.Listeners = []Listener{{Name: "x", Listen: ":587", Auth: "maybe"}} }, `auth "maybe"`},
		{"insecure_auth alone", func(c *Config) { c.SMTP.InsecureAuth = true }, "no effect"},
		{"duplicate listener name", func(c *Config) { c.SMTP.Listeners = []Listener{{Name: "smtp", Listen: ":587"}} }, "used twice"},
		{"duplicate listen", func(c *Config) { c.SMTP.Listeners = []Listener{{Name: "x", Listen: c.SMTP.Listen}} }, "listens on"},
		{"bad listener listen", func(c *Config) { c.SMTP.Listeners = []Listener{{Name: "x", Listen: "587"}} }, "not host:port"},
		{"bad listener network", func(c *Config) {
			c.SMTP.Listeners = []Listener{{Name: "x", Listen: ":587", TrustedNetworks: &[]string{"10.0.0.0/40"}}}
		}, "10.0.0.0/40"},
		{"no port 25 and nothing else", func(c *Config) { c.SMTP.Listen = "" }, "smtp.listen"},
		{"bad user name", func(c *Config) { c.Users = []User{{Name: "two words", PasswordHash: testHash}} }, "users[0].name"},
		{"duplicate user", func(c *Config) { c.Users = []User{user, user} }, "defined twice"},
		{"missing hash", func(c *Config) { c.Users = []User{{Name: "u"}} }, "faxbridge passwd"},
		{"plain password as hash", func(c *Config) { c.Users = []User{{Name: "u", PasswordHash: "hunter2-plain"}} }, "not a bcrypt"},
		{"bad report_to", func(c *Config) { c.Users = []User{{Name: "u", PasswordHash: testHash, ReportTo: "not an address"}} }, "report_to"},
		{"network without cidrs", func(c *Config) { c.SMTP.Networks = []Network{{Name: "n"}} }, "cidrs is empty"},
		{"bad network cidr", func(c *Config) { c.SMTP.Networks = []Network{{Name: "n", CIDRs: []string{"lan"}}} }, `"lan"`},
		{"tls version", func(c *Config) { c.SMTP.TLSMinVersion = "3" }, "tls_min_version"},
		{"max failures", func(c *Config) { c.SMTP.AuthMaxFailures = 0 }, "auth_max_failures"},
		{"lockout", func(c *Config) { c.SMTP.AuthLockout = Duration{} }, "auth_lockout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(c)
			all := strings.Join(c.Check(), "\n")
			if !strings.Contains(all, tt.want) {
				t.Errorf("want a problem mentioning %q, got:\n%s", tt.want, all)
			}
			if strings.Contains(all, "hunter2") || strings.Contains(all, testHash) {
				t.Errorf("a problem repeats a secret:\n%s", all)
			}
		})
	}
}

func TestAccessValid(t *testing.T) {
	dir := t.TempDir()
	writeTestCert(t, dir)
	c := valid()
	c.Users = []User{{Name: "scanner@example.com", PasswordHash: testHash}}
	c.SMTP.Listen = "" // port 25 off
	c.SMTP.CertFile, c.SMTP.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c.SMTP.Listeners = []Listener{
		{Name: "submission", Listen: ":587", TLS: "starttls", Auth: "required"},
		{Name: "lan", Listen: ":2525", Auth: "optional", InsecureAuth: true, TrustedNetworks: &[]string{"10.0.0.0/8"}},
	}
	c.SMTP.Networks = []Network{
		{Name: "office", CIDRs: []string{"10.0.0.0/8"}, ReportTo: "office@example.com"},
		{Name: "scanners", CIDRs: []string{"10.1.0.0/16", "10.2.3.4"}},
	}
	if p := c.Check(); len(p) > 0 {
		t.Fatal(p)
	}
	ls := c.SMTP.AllListeners()
	if len(ls) != 2 || ls[1].TLS != "none" {
		t.Fatalf("listeners = %+v", ls)
	}
	for addr, want := range map[string]string{"10.1.2.3": "scanners", "10.2.3.4": "scanners", "10.9.9.9": "office", "192.168.0.1": ""} {
		n, _ := c.SMTP.Network(mustAddr(t, addr))
		if n.Name != want {
			t.Errorf("Network(%s) = %q, want %q", addr, n.Name, want)
		}
	}
	// Bound networks are trusted; the default trusted_networks still are.
	for addr, want := range map[string]bool{"10.1.2.3": true, "127.0.0.1": true, "192.168.0.1": false} {
		if got := c.SMTP.Trusted(mustAddr(t, addr)); got != want {
			t.Errorf("Trusted(%s) = %v", addr, got)
		}
	}
	if !c.SMTP.TrustedOn(&ls[1], mustAddr(t, "10.200.0.1")) || c.SMTP.TrustedOn(&ls[1], mustAddr(t, "127.0.0.1")) {
		t.Error("the lan listener's own trusted_networks are not used")
	}
}

func TestPasswordHashFile(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `api_token = ""`, `api_token = "tok"`, 1)
	s = strings.Replace(s, `signing_key = ""`, `signing_key = "PSK_x"`, 1)
	write(t, dir, "hash", testHash+"\n")
	path := write(t, dir, "f.toml", s+"\n[[users]]\nname = \"u\"\npassword_hash_file = \"hash\"\n")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Users[0].PasswordHash != testHash {
		t.Errorf("hash from file = %q", cfg.Users[0].PasswordHash)
	}
	path = write(t, dir, "g.toml", s+"\n[[users]]\nname = \"u\"\npassword_hash = \"x\"\npassword_hash_file = \"hash\"\n")
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), "both set") {
		t.Errorf("hash inline and from file: %v", err)
	}
}

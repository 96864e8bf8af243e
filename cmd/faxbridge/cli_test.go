package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfigListsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(path, []byte("state_dir = \"/x\"\n[smtp]\nlisten_adr = \"x\"\n[signalwire]\nttl = 400\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", path}, &out, &errOut); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"listen_adr", "ttl 400", "signalwire.project_id", "mail.from"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestCheckConfigOK(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `api_token = ""`, `api_token = "t"`, 1)
	s = strings.Replace(s, `signing_key = ""`, `signing_key = "k"`, 1)
	path := filepath.Join(t.TempDir(), "ok.toml")
	os.WriteFile(path, []byte(s), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", path}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "ok") {
		t.Errorf("exit %d, out %q, err %q", code, out.String(), errOut.String())
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "faxbridge ") {
		t.Errorf("version: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut.String())
	}
}

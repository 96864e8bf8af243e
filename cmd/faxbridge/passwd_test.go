package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/faxbridge/faxbridge/smtpd"
)

func TestPasswd(t *testing.T) {
	var out, errb bytes.Buffer
	if code := cmdPasswd(nil, strings.NewReader("s3cret pass\r\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	hash := strings.TrimSpace(out.String())
	if strings.Count(out.String(), "\n") != 1 || strings.Contains(out.String(), "s3cret") {
		t.Fatalf("output = %q", out.String())
	}
	// Checked with the library itself, not with faxbridge's own verifier.
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret pass")); err != nil {
		t.Errorf("hash does not verify: %v", err)
	}
	if cost, _ := bcrypt.Cost([]byte(hash)); cost != 12 {
		t.Errorf("cost %d", cost)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr = %q (no prompt when stdin is not a terminal)", errb.String())
	}

	out.Reset()
	if code := cmdPasswd([]string{"-argon2id"}, strings.NewReader("pw"), &out, &errb); code != 0 {
		t.Fatalf("argon2id: exit %d: %s", code, errb.String())
	}
	if h := strings.TrimSpace(out.String()); !strings.HasPrefix(h, "$argon2id$") || smtpd.CheckPasswordHash(h) != nil {
		t.Errorf("argon2id hash = %q", h)
	}

	for _, tt := range []struct {
		args  []string
		input string
		code  int
		want  string
	}{
		{nil, "", 1, "no password"},
		{nil, "\n", 1, "no password"},
		{nil, strings.Repeat("x", 5000), 1, "one line"},
		{nil, strings.Repeat("x", 100), 1, "72 bytes"},
		{[]string{"hunter2"}, "", 2, "standard input"},
	} {
		out.Reset()
		errb.Reset()
		code := cmdPasswd(tt.args, strings.NewReader(tt.input), &out, &errb)
		if code != tt.code || !strings.Contains(errb.String(), tt.want) || out.Len() != 0 {
			t.Errorf("passwd %v <%.10q: exit %d, stdout %q, stderr %q", tt.args, tt.input, code, out.String(), errb.String())
		}
	}
	// The command is dispatched (this form fails before reading stdin).
	errb.Reset()
	if code := run([]string{"passwd", "x"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "standard input") {
		t.Errorf("run passwd: exit %d, %q", code, errb.String())
	}
}

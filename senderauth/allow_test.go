package senderauth

import (
	"strings"
	"testing"

	"github.com/faxbridge/faxbridge"
)

func TestAllowlist(t *testing.T) {
	a, err := ParseAllowlist([]string{
		"alice@example.com",
		"Partner.example.",
		"@supplier.example",
		"*@vendor.example",
		"*.branch.example",
		"*@*.corp.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"alice@example.com", true},
		{"ALICE@Example.COM", true},
		{"alice@example.com.", true},
		{"bob@example.com", false},
		{"alice@sub.example.com", false},
		{"anyone@partner.example", true},
		{"anyone@PARTNER.EXAMPLE", true},
		{"anyone@sub.partner.example", false},
		{"x@supplier.example", true},
		{"x@vendor.example", true},
		{"x@paris.branch.example", true},
		{"x@a.b.branch.example", true},
		{"x@branch.example", false}, // the wildcard means subdomains only
		{"x@evilbranch.example", false},
		{"x@branch.example.attacker.example", false},
		{"x@hq.corp.example", true},
		{"x@corp.example", false},
		{"alice@example.com@attacker.example", false},
		{"", false},
		{"example.com", false},
		{"@example.com", false},
		{"alice@", false},
	}
	for _, tt := range tests {
		if got := a.Allows(tt.addr); got != tt.want {
			t.Errorf("Allows(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	var none *Allowlist
	if none.Allows("alice@example.com") {
		t.Error("a nil allowlist allowed someone")
	}
}

func TestParseAllowlistRefuses(t *testing.T) {
	for _, e := range []string{
		"", "*", "@", "*@*", "com", "*.com", "alice@*.example.com", "a*@example.com",
		"alice@ex*ample.com", "alice bob@example.com", "a@b@", "example..com", "alice@[192.0.2.1]",
		"alice@example.com, bob@example.com",
	} {
		if _, err := ParseAllowlist([]string{"ok@example.com", e}); err == nil {
			t.Errorf("ParseAllowlist accepted %q", e)
		}
	}
	_, err := ParseAllowlist([]string{"*", "com"})
	if err == nil || !strings.Contains(err.Error(), `"*"`) || !strings.Contains(err.Error(), `"com"`) {
		t.Errorf("want both bad entries named, got %v", err)
	}
}

func TestDecideWithoutAllowlistOrResult(t *testing.T) {
	res := &Result{From: "alice@example.com", FromDomain: "example.com", DMARC: DMARCPass, Aligned: true, DKIMAligned: true}
	if _, err := Decide(res, nil); faxbridge.ErrorCode(err) != faxbridge.EDenied {
		t.Errorf("nil allowlist: %v", err)
	}
	if _, err := Decide(nil, nil); err == nil {
		t.Error("nil result accepted")
	}
}

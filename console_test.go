package faxbridge

import (
	"strings"
	"testing"
)

// A long subject is cut, never the numbers and SIDs before it; the text
// stays valid UTF-8 without NUL (PostgreSQL refuses both in TEXT).
func TestSearchText(t *testing.T) {
	j := &Job{Destination: Destination{To: "+15551234567"}, FaxSID: "SID-1", Attempts: []Attempt{{FaxSID: "SID-0"}, {FaxSID: "SID-1"}},
		ExtraFaxes: []ExtraFax{{SID: "SID-X"}}, Subject: strings.Repeat("é", 2000) + "\x00", Sender: "user:Bob"}
	s := SearchText(j)
	if len(s) > maxSearchText || !strings.Contains(s, "5551234567") || !strings.Contains(s, "sid-0") || !strings.Contains(s, "sid-x") || !strings.Contains(s, "user:bob") {
		t.Errorf("search text (%d bytes) = %.80q", len(s), s)
	}
	if !strings.HasPrefix(s, "+15551234567\n15551234567\n") || strings.ContainsRune(s, 0) || strings.ToValidUTF8(s, "") != s {
		t.Errorf("search text = %.80q", s)
	}
}

func TestSearchTerm(t *testing.T) {
	for in, want := range map[string]string{
		"(555) 123-4567": "5551234567",
		"+49 30 1234":    "49301234",
		" Invoice ":      "invoice",
		"12":             "12",
		"sid-ABC":        "sid-abc",
		"":               "",
	} {
		if got := SearchTerm(in); got != want {
			t.Errorf("SearchTerm(%q) = %q, want %q", in, got, want)
		}
	}
}

package faxsend

import (
	"strings"
	"testing"
)

func TestReason(t *testing.T) {
	tests := []struct {
		status, code, msg, want string
	}{
		{"delivered", "", "", ""},
		{"queued", "", "", ""},
		{"sending", "", "", ""},
		{"busy", "", "", "The line was busy."},
		{"no-answer", "", "", "The fax machine at the number did not answer."},
		{"canceled", "", "", "The fax was canceled."},
		{"failed", "34004", "The call dropped prematurely", "The call dropped before the fax was complete."},
		{"failed", "", "the call dropped prematurely.", "The call dropped before the fax was complete."},
		{"failed", "", "Far end cannot receive at the resolution of the image", "The receiving machine could not accept the image resolution."},
		{"failed", "", "Fax transmission not established", "A call was made, but no fax connection could be set up with the receiving machine."},
		{"failed", "", "Timed out waiting for initial communication", "The receiving fax machine did not respond."},
		{"failed", "", "The fax expired: it could not be sent within its Ttl of 60 minutes", "The fax service gave up because the fax could not be sent in the time allowed."},
		{"failed", "", "Something new happened.", `The fax could not be sent. The fax service said: "Something new happened"`},
		{"failed", "", "line one\r\nline two\x00", `The fax could not be sent. The fax service said: "line one line two"`},
		{"failed", "99", "", "The fax could not be sent (fax service error 99)."},
		{"failed", "", "", "The fax could not be sent."},
	}
	for _, tt := range tests {
		if got := Reason(tt.status, tt.code, tt.msg); got != tt.want {
			t.Errorf("Reason(%q, %q, %q) = %q, want %q", tt.status, tt.code, tt.msg, got, tt.want)
		}
	}
}

func TestReasonQuotesBriefly(t *testing.T) {
	got := Reason("failed", "", strings.Repeat("é", 500))
	if n := len([]rune(got)); n > 260 {
		t.Errorf("reason is %d characters long", n)
	}
}

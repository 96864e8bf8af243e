package address

import "testing"

func TestFormat(t *testing.T) {
	for in, want := range map[string]string{
		"+15551234567":        "+1 555-123-4567",
		"+493012345678":       "+49 30 12345678",
		"sip:fax@pbx.example": "sip:fax@pbx.example",
		"":                    "",
	} {
		if got := Format(in); got != want {
			t.Errorf("Format(%q) = %q, want %q", in, got, want)
		}
	}
}

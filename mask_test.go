package faxbridge

import "testing"

func TestMaskNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"+15551234567":                    "+155******67",
		"to +4930123456 failed":           "to +493*****56 failed",
		`"1-555-123-4567" is not allowed`: `"1-55*-***-**67" is not allowed`,
		"job abc123 took 12 s":            "job abc123 took 12 s",
		"no numbers here":                 "no numbers here",
	} {
		if got := MaskNumbers(in); got != want {
			t.Errorf("MaskNumbers(%q) = %q, want %q", in, got, want)
		}
	}
}

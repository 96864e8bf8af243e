package address

import (
	"testing"

	"github.com/faxbridge/faxbridge"
)

func TestResolve(t *testing.T) {
	b := NewBook([]string{"fax.example.com"}, []Contact{
		{Name: "reception", To: "+15557654321"},
		{Name: "pbx", To: "sip:fax@pbx.example.com", SipAuthUsername: "u", SipAuthPassword: "p"},
	}, "US", Policy{AllowCountries: []string{"*"}})
	tests := []struct {
		rcpt    string
		to      string
		quality string
		code    faxbridge.Code
	}{
		{rcpt: "+15551234567@fax.example.com", to: "+15551234567"},
		{rcpt: "15551234567@fax.example.com", to: "+15551234567"},
		{rcpt: "15551234567@FAX.Example.COM", to: "+15551234567"},
		{rcpt: "5551234567@fax.example.com", to: "+15551234567"},
		{rcpt: "1-555-123-4567@fax.example.com", to: "+15551234567"},
		{rcpt: "004930123456@fax.example.com", to: "+4930123456"},
		{rcpt: "+4930123456@fax.example.com", to: "+4930123456"},
		{rcpt: "15551234567+superfine@fax.example.com", to: "+15551234567", quality: "superfine"},
		{rcpt: "+15551234567+Standard@fax.example.com", to: "+15551234567", quality: "standard"},
		{rcpt: "Reception@fax.example.com", to: "+15557654321"},
		{rcpt: "pbx@fax.example.com", to: "sip:fax@pbx.example.com"},
		{rcpt: "15551234567@example.org", code: faxbridge.EDenied},
		{rcpt: "15551234567@fax.example.com.evil.org", code: faxbridge.EDenied},
		{rcpt: "bob@fax.example.com", code: faxbridge.EBadAddress},
		{rcpt: "123@fax.example.com", code: faxbridge.EBadAddress},
		{rcpt: "+1555123456789012345@fax.example.com", code: faxbridge.EBadAddress},
		{rcpt: "+999123456789@fax.example.com", code: faxbridge.EBadAddress},
		{rcpt: "15551234567+ultra@fax.example.com", code: faxbridge.EBadAddress},
		{rcpt: "@fax.example.com", code: faxbridge.EBadAddress},
		{rcpt: "nodomain", code: faxbridge.EBadAddress},
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			r, err := b.Resolve(tt.rcpt)
			if got := faxbridge.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			}
			if err != nil {
				if faxbridge.ErrorMessage(err) == "internal error" {
					t.Errorf("error has no sender-facing message: %v", err)
				}
				return
			}
			if r.Destination.To != tt.to || r.Quality != tt.quality {
				t.Errorf("got %q quality %q, want %q quality %q", r.Destination.To, r.Quality, tt.to, tt.quality)
			}
		})
	}
}

func TestContactCarriesSIPAuth(t *testing.T) {
	b := NewBook([]string{"fax.example.com"}, []Contact{{Name: "pbx", To: "sip:fax@pbx.example.com", SipAuthUsername: "u", SipAuthPassword: "p"}}, "US", Policy{})
	r, err := b.Resolve("PBX@fax.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if r.Destination.SipAuthUsername != "u" || r.Destination.SipAuthPassword != "p" || r.Destination.Contact != "pbx" {
		t.Errorf("destination = %+v", r.Destination)
	}
	if got := String(r.Destination); got != "pbx (sip:fax@pbx.example.com)" {
		t.Errorf("String = %q", got)
	}
}

func TestClipStripsControlAndLimitsLength(t *testing.T) {
	long := ""
	for i := 0; i < 100; i++ {
		long += "a"
	}
	if got := clip("a\r\nb"); got != "ab" {
		t.Errorf("clip = %q", got)
	}
	if got := clip(long); len(got) > 70 {
		t.Errorf("clip kept %d bytes", len(got))
	}
}

func TestPolicy(t *testing.T) {
	b := NewBook([]string{"fax.example.com"}, []Contact{{Name: "berlin", To: "+4930123456"}}, "US", Policy{
		AllowCountries: []string{"US"},
		AllowPrefixes:  []string{"+4930"},
		DenyPrefixes:   []string{"+1555000", "+49"},
	})
	tests := []struct {
		rcpt string
		code faxbridge.Code
	}{
		{"15551234567@fax.example.com", ""},                // fictional US number: allowed
		{"14165551234@fax.example.com", faxbridge.EDenied}, // Canada is not the US
		{"19005551234@fax.example.com", faxbridge.EDenied}, // premium rate
		{"15550001234@fax.example.com", faxbridge.EDenied}, // denied prefix
		{"004930123456@fax.example.com", ""},               // allowed prefix beats the shorter deny
		{"00498912345678@fax.example.com", faxbridge.EDenied},
		{"berlin@fax.example.com", ""}, // contacts are the administrator's choice
	}
	for _, tt := range tests {
		_, err := b.Resolve(tt.rcpt)
		if got := faxbridge.ErrorCode(err); got != tt.code {
			t.Errorf("%s: code %q (%v), want %q", tt.rcpt, got, err, tt.code)
		}
	}
}

func TestRegion(t *testing.T) {
	for n, want := range map[string]string{"+15551234567": "US", "+4930123456": "DE", "+14165551234": "CA", "garbage": ""} {
		if got := Region(n); got != want {
			t.Errorf("Region(%s) = %q, want %q", n, got, want)
		}
	}
}

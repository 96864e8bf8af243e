package jobs

import (
	"strings"
	"testing"

	"github.com/faxbridge/faxbridge"
)

func TestProveSigned(t *testing.T) {
	// resolve knows the number form of fax addresses and one contact.
	resolve := func(a string) (faxbridge.Recipient, error) {
		local, _, _ := strings.Cut(strings.ToLower(a), "@")
		switch {
		case local == "office":
			return faxbridge.Recipient{Destination: faxbridge.Destination{To: "+15551234567"}}, nil
		case strings.HasPrefix(local, "1555"):
			return faxbridge.Recipient{Destination: faxbridge.Destination{To: "+" + local}}, nil
		}
		return faxbridge.Recipient{}, faxbridge.Errorf(faxbridge.EDenied, "not a fax address")
	}
	env := func(numbers ...string) faxbridge.Envelope {
		var e faxbridge.Envelope
		for _, n := range numbers {
			e.Recipients = append(e.Recipients, faxbridge.Recipient{Destination: faxbridge.Destination{To: n}})
		}
		return e
	}
	signed := Signed{From: "Alice@Example.COM", Recipients: []string{"bob@example.com", "15551234567@fax.example.com"}, MessageID: "<m1@example.com>"}
	for _, c := range []struct {
		name string
		sig  Signed
		env  faxbridge.Envelope
		want string // part of the refusal; "" for a proof
	}{
		{"named", signed, env("+15551234567"), ""},
		{"named as a contact", Signed{From: "a@example.com", Recipients: []string{"office@fax.example.com"}, MessageID: "<m>"}, env("+15551234567"), ""},
		{"one of two not named", signed, env("+15551234567", "+15559999999"), "does not name +15559999999"},
		{"replayed to another number", signed, env("+15559999999"), "does not name +15559999999"},
		{"no signed recipient", Signed{From: "a@example.com", MessageID: "<m>"}, env("+15551234567"), "does not name"},
		{"no signed Message-ID", Signed{From: "a@example.com", Recipients: signed.Recipients}, env("+15551234567"), "DKIM-signed Message-ID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := ProveSigned(c.sig, c.env, resolve)
			if c.want == "" {
				if err != nil || p.MessageKey != c.sig.MessageID || p.Sender != "mx:"+strings.ToLower(c.sig.From) {
					t.Errorf("got %+v, %v; want the proof of %s", p, err, c.sig.From)
				}
				return
			}
			if faxbridge.ErrorCode(err) != faxbridge.EDenied || !strings.Contains(faxbridge.ErrorMessage(err), c.want) || p != (Proof{}) {
				t.Errorf("got %+v, %v; want EDenied saying %q", p, err, c.want)
			}
		})
	}
}

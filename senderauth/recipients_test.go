package senderauth

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
)

// Only the To/Cc fields and Message-ID that an aligned, passing signature
// covers count: a field added on top of a signed message, or a signature by
// another domain, names nobody.
func TestSignedRecipientsAndMessageID(t *testing.T) {
	f := newFixture(t)
	in := Input{RemoteIP: net.ParseIP("192.0.2.10"), Helo: "mx.example.com", MailFrom: "alice@example.com"}
	verify := func(msg string) *Result {
		t.Helper()
		res, err := Verify(context.Background(), in, strings.NewReader(msg), f.dns)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	msg := "From: Alice <alice@example.com>\r\nTo: 15551234567@fax.example.com, Bob <bob@example.com>\r\nCc: 15557654321@fax.example.com\r\n" +
		"Subject: s\r\nMessage-ID: <m1@example.com>\r\n\r\nbody\r\n"
	signed := sign(t, f.edKey, "ed", "example.com", msg) // h= From To Subject Date Message-ID: no Cc
	res := verify(signed)
	if got := res.SignedRecipients(); !slices.Equal(got, []string{"15551234567@fax.example.com", "bob@example.com"}) {
		t.Errorf("signed recipients %q", got)
	}
	if id := res.SignedMessageID(); id != "<m1@example.com>" {
		t.Errorf("signed Message-ID %q", id)
	}

	// A replay with another To (and Message-ID) put on top: the signature
	// still verifies, but the added fields are not the signed ones.
	replay := "To: 15550000000@fax.example.com\r\nMessage-ID: <new@x>\r\n" + signed
	res = verify(replay)
	if got := res.SignedRecipients(); slices.Contains(got, "15550000000@fax.example.com") || !slices.Contains(got, "15551234567@fax.example.com") {
		t.Errorf("replay with an added To: signed recipients %q", got)
	}
	if id := res.SignedMessageID(); id != "<m1@example.com>" {
		t.Errorf("replay with an added Message-ID: %q", id)
	}

	// Signed by a domain that is not the From's: proves nothing.
	other := sign(t, f.attacker, "evil", "attacker.example", msg)
	res = verify(other)
	if got := res.SignedRecipients(); len(got) != 0 || res.SignedMessageID() != "" {
		t.Errorf("unaligned signature: %q %q", got, res.SignedMessageID())
	}
}

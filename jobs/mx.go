package jobs

import (
	"strings"

	"github.com/faxbridge/faxbridge"
)

// Signed is what the DKIM signatures of a message from the internet cover,
// of those that passed and align with its From domain: what the proven
// sender wrote, as opposed to what a relay or a replay could change.
type Signed struct {
	From       string   // the proven From address
	Recipients []string // the addresses of the signed To and Cc fields
	MessageID  string   // the signed Message-ID; "" when none is signed
}

// ProveSigned applies the rules a proven internet sender's message must
// still meet, and says who sent it. A DKIM signature proves the message,
// not where it is delivered, so a signed message replayed to a fax address
// it never named, or replayed at all, must not be faxed: every recipient of
// env must be a number that a signed To or Cc address resolves to (resolve
// maps an address to its destination, as RCPT TO does), and the message
// must carry a signed Message-ID, the key of the replay check (see
// Proof.MessageKey).
func ProveSigned(sig Signed, env faxbridge.Envelope, resolve func(string) (faxbridge.Recipient, error)) (Proof, error) {
	named := map[string]bool{}
	for _, a := range sig.Recipients {
		if r, err := resolve(a); err == nil {
			named[r.Destination.To] = true
		}
	}
	for _, r := range env.Recipients {
		if !named[r.Destination.To] {
			return Proof{}, faxbridge.Errorf(faxbridge.EDenied,
				"fax mail from the internet is faxed only to numbers its DKIM-signed To or Cc header names, and this message does not name %s", r.Destination.To)
		}
	}
	if sig.MessageID == "" {
		return Proof{}, faxbridge.Errorf(faxbridge.EDenied, "fax mail from the internet must carry a DKIM-signed Message-ID header")
	}
	return Proof{Sender: "mx:" + strings.ToLower(sig.From), MessageKey: sig.MessageID}, nil
}

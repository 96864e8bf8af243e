package senderauth

import (
	"errors"

	"github.com/faxbridge/faxbridge"
)

// Sentences the sender (in practice: the sending server's bounce) sees.
// They say what to fix and nothing about our DNS or configuration.
const (
	msgUnverified = "the sender of this message could not be verified (DMARC): fax mail from the internet must be DKIM-signed by the sender's domain"
	msgFrom       = "the sender of this message could not be verified: fax mail from the internet must name exactly one sender address in its From header"
	msgTemporary  = "the sender of this message could not be verified right now"
	msgNotAllowed = "this sender is not allowed to send faxes through this gateway"
)

// Decide turns a Result into a verdict. reason is a one-line account for the
// log whatever the verdict; err is nil when the message may be faxed, and
// otherwise a *faxbridge.Error whose Message is the sentence for the sender:
// EDenied (refuse for good: 550) or EUnavailable (DNS could not answer:
// 451, the sending server will retry).
//
// A message is accepted only when DMARC passes for its From domain and the
// From address is on allow. When the From domain publishes no DMARC record,
// an aligned DKIM pass is still required: an SPF pass proves only that the
// connecting host may send for the envelope domain, and a domain without
// DMARC has not said that such a pass speaks for its From addresses either,
// whereas a DKIM signature by the From domain covers the From field itself.
//
// The allowlist is consulted only once the sender is proven, so a forger
// learns nothing about who is on it.
func Decide(res *Result, allow *Allowlist) (reason string, err error) {
	if res == nil {
		return "no verification result", faxbridge.WrapError(faxbridge.EInternal,
			errors.New("senderauth: Decide called without a result"), "internal error")
	}
	sum := res.String()
	deny := func(why, msg string) (string, error) {
		return "refused: " + why + ": " + sum, faxbridge.WrapError(faxbridge.EDenied, errors.New(why), "%s", msg)
	}
	switch {
	case res.FromProblem != "":
		return deny(res.FromProblem, msgFrom)
	case res.DMARC == DMARCTempError:
		return "deferred: DNS could not answer: " + sum,
			faxbridge.WrapError(faxbridge.EUnavailable, errors.New("DMARC temperror"), "%s", msgTemporary)
	case res.DMARC == DMARCNone && !res.DKIMAligned:
		return deny("no DMARC record and no aligned DKIM signature", msgUnverified)
	case res.DMARC != DMARCPass && res.DMARC != DMARCNone:
		return deny("DMARC "+res.DMARC, msgUnverified)
	case !allow.Allows(res.From):
		return deny("sender not on the allowlist", msgNotAllowed)
	}
	return "accepted: " + sum, nil
}

package senderauth

import (
	"net/mail"
	"strings"
)

// signedRecipients returns the addresses in the To and Cc fields that a DKIM
// signature with the h= list keys covers. DKIM signs, for each time a name
// appears in h=, the next instance of that field counted from the bottom of
// the header; instances above them are not signed, so a To field added on
// top of a signed message names nobody here.
func signedRecipients(hdr []byte, keys []string) []string {
	fields := headerFields(hdr)
	var out []string
	for _, name := range []string{"to", "cc"} {
		n := 0
		for _, k := range keys {
			if strings.EqualFold(strings.TrimSpace(k), name) {
				n++
			}
		}
		for i := len(fields) - 1; i >= 0 && n > 0; i-- {
			fname, value, ok := strings.Cut(fields[i], ":")
			if !ok || !strings.EqualFold(strings.TrimSpace(fname), name) {
				continue
			}
			n--
			list, err := mail.ParseAddressList(value)
			if err != nil {
				continue
			}
			for _, a := range list {
				out = append(out, a.Address)
			}
		}
	}
	return out
}

// SignedRecipients returns the recipient addresses (To and Cc) covered by a
// DKIM signature that passed and aligns with the From domain: the ones the
// proven sender named. A replay of the message to another address cannot
// add to them.
func (res *Result) SignedRecipients() []string {
	var out []string
	for _, d := range res.DKIM {
		if d.Result == "pass" && d.Aligned {
			out = append(out, d.Recipients...)
		}
	}
	return out
}

// SignedMessageID returns the Message-ID that a DKIM signature which passed
// and aligns with the From domain covers, "" when none does. It identifies
// the message for replay checks: an unsigned Message-ID could be changed
// on every replay.
func (res *Result) SignedMessageID() string {
	return res.signedMessageID
}

// signedField returns the value of the bottom-most instance of the field
// name in hdr if keys (a signature's h=) covers it, else "".
func signedField(hdr []byte, keys []string, name string) string {
	covered := false
	for _, k := range keys {
		covered = covered || strings.EqualFold(strings.TrimSpace(k), name)
	}
	if !covered {
		return ""
	}
	fields := headerFields(hdr)
	for i := len(fields) - 1; i >= 0; i-- {
		fname, value, ok := strings.Cut(fields[i], ":")
		if ok && strings.EqualFold(strings.TrimSpace(fname), name) {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

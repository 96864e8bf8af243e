// Package address turns an SMTP recipient such as 15551234567@fax.example.com
// into a fax destination. It owns the rules for which recipients faxbridge
// accepts at RCPT time, so that every refusal happens while the client is
// still there to be told why.
package address

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/faxbridge/faxbridge"
)

// Book resolves recipients. Its zero value accepts nothing.
type Book struct {
	domains       map[string]bool
	contacts      map[string]faxbridge.Destination
	defaultRegion string
	policy        Policy
}

// Policy says which numbers may be faxed. A gateway that faxes anywhere is a
// toll-fraud target, so the configuration's default allows only the home
// country and never premium-rate numbers. Contacts, set up by the
// administrator, are not subject to it.
type Policy struct {
	// AllowCountries lists ISO country codes ("US", "DE"); "*" allows all.
	// Empty allows none but AllowPrefixes.
	AllowCountries []string
	// AllowPrefixes and DenyPrefixes are E.164 prefixes ("+1900"); the
	// longest matching prefix decides, before the country rule.
	AllowPrefixes []string
	DenyPrefixes  []string
	// AllowPremium permits premium-rate and shared-cost numbers.
	AllowPremium bool
}

// Contact is a named destination: reception@fax.example.com.
type Contact struct {
	Name            string
	To              string
	SipAuthUsername string
	SipAuthPassword string
}

// NewBook returns a Book for the given fax domains and contacts. Numbers
// written without a country code are read as numbers of defaultRegion (a
// two-letter country code such as "US").
func NewBook(domains []string, contacts []Contact, defaultRegion string, policy Policy) *Book {
	b := &Book{
		domains:       map[string]bool{},
		contacts:      map[string]faxbridge.Destination{},
		defaultRegion: strings.ToUpper(defaultRegion),
		policy:        policy,
	}
	for _, d := range domains {
		b.domains[strings.ToLower(strings.TrimSuffix(d, "."))] = true
	}
	for _, c := range contacts {
		b.contacts[strings.ToLower(c.Name)] = faxbridge.Destination{
			To:              c.To,
			Contact:         c.Name,
			SipAuthUsername: c.SipAuthUsername,
			SipAuthPassword: c.SipAuthPassword,
		}
	}
	return b
}

var qualities = map[string]bool{"standard": true, "fine": true, "superfine": true}

// Resolve maps an RCPT TO address to a destination. Errors carry EDenied for
// a domain that is not a fax domain (faxbridge is never a relay) and
// EBadAddress for a local part that is not a usable number or contact.
func (b *Book) Resolve(rcpt string) (faxbridge.Recipient, error) {
	at := strings.LastIndexByte(rcpt, '@')
	if at <= 0 || at == len(rcpt)-1 {
		return faxbridge.Recipient{}, faxbridge.Errorf(faxbridge.EBadAddress, "<%s> is not an address; send to <fax number>@<fax domain>", clip(rcpt))
	}
	local, domain := rcpt[:at], strings.ToLower(strings.TrimSuffix(rcpt[at+1:], "."))
	if !b.domains[domain] {
		return faxbridge.Recipient{}, faxbridge.Errorf(faxbridge.EDenied, "relaying to %s is not permitted; this server only sends faxes", clip(domain))
	}
	local = strings.Trim(local, `"`)

	var r faxbridge.Recipient
	// An extension (15551234567+superfine) selects the quality: 15551234567+superfine. A leading "+"
	// is the E.164 prefix, not an extension separator.
	if i := strings.LastIndexByte(local, '+'); i > 0 {
		ext := strings.ToLower(local[i+1:])
		if !qualities[ext] {
			return faxbridge.Recipient{}, faxbridge.Errorf(faxbridge.EBadAddress, "unknown option %q in <%s>; use +standard, +fine or +superfine", clip(local[i+1:]), clip(rcpt))
		}
		r.Quality = ext
		local = local[:i]
	}

	if d, ok := b.contacts[strings.ToLower(local)]; ok {
		r.Destination = d
		return r, nil
	}
	num, err := b.Number(local)
	if err != nil {
		return faxbridge.Recipient{}, err
	}
	if err := Allowed(b.policy, num); err != nil {
		return faxbridge.Recipient{}, err
	}
	r.Destination = faxbridge.Destination{To: num}
	return r, nil
}

// Allowed applies a destination policy to an E.164 number. The book applies
// the gateway's policy; a sender's own, narrower policy is applied with it.
func Allowed(policy Policy, e164 string) error {
	allowLen, denyLen := longestPrefix(e164, policy.AllowPrefixes), longestPrefix(e164, policy.DenyPrefixes)
	if denyLen > allowLen {
		return faxbridge.Errorf(faxbridge.EDenied, "faxes to %s are not allowed by this gateway's policy", e164)
	}
	if allowLen > 0 {
		return nil
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return faxbridge.Errorf(faxbridge.EBadAddress, "%q is not a fax number", e164)
	}
	if !policy.AllowPremium {
		switch phonenumbers.GetNumberType(num) {
		case phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST:
			return faxbridge.Errorf(faxbridge.EDenied, "%s is a premium-rate number; this gateway does not fax to premium-rate numbers", e164)
		}
	}
	region := phonenumbers.GetRegionCodeForNumber(num)
	if region == "" {
		// Unassigned (e.g. fictional 555) numbers have no region of their
		// own: take the main country of their calling code.
		region = phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
	}
	for _, c := range policy.AllowCountries {
		if c == "*" || strings.EqualFold(c, region) {
			return nil
		}
	}
	return faxbridge.Errorf(faxbridge.EDenied, "faxes to %s (country %s) are not allowed by this gateway's policy; ask the administrator", e164, region)
}

func longestPrefix(s string, prefixes []string) int {
	best := 0
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) && len(p) > best {
			best = len(p)
		}
	}
	return best
}

// Number normalises a fax number as people type it into E.164. It refuses
// numbers that cannot exist (wrong length, unknown country code) but accepts
// unassigned ones such as the fictional +1 555 123 4567.
func (b *Book) Number(s string) (string, error) {
	raw := s
	s = strings.TrimSpace(s)
	var digits strings.Builder
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits.WriteRune(c)
		case c == '+' && i == 0:
			digits.WriteRune(c)
		case c == '-' || c == '.' || c == ' ' || c == '(' || c == ')' || c == '/':
			// Separators people type; dropped.
		default:
			return "", faxbridge.Errorf(faxbridge.EBadAddress, "%q is not a fax number or a known contact; use the number with its country code, e.g. 15551234567", clip(raw))
		}
	}
	d := digits.String()
	if strings.Trim(d, "+") == "" {
		return "", faxbridge.Errorf(faxbridge.EBadAddress, "%q is not a fax number or a known contact; use the number with its country code, e.g. 15551234567", clip(raw))
	}
	// "+" and "00" mark international numbers.
	//
	// Without a "+", digits that start with the default region's country code
	// (15551234567 in the US) are read as international first, anything else
	// (5551234567) as a national number first; whichever reading is possible
	// wins.
	candidates := []string{d}
	switch {
	case strings.HasPrefix(d, "+"):
	case strings.HasPrefix(d, "00"):
		candidates = []string{"+" + d[2:]}
	case strings.HasPrefix(d, fmt.Sprint(phonenumbers.GetCountryCodeForRegion(b.defaultRegion))):
		candidates = []string{"+" + d, d}
	default:
		candidates = []string{d, "+" + d}
	}
	var firstErr error
	for _, c := range candidates {
		region := b.defaultRegion
		num, err := phonenumbers.Parse(c, region)
		if err != nil {
			if firstErr == nil {
				firstErr = faxbridge.Errorf(faxbridge.EBadAddress, "%q is not a fax number; use the number with its country code, e.g. 15551234567", clip(raw))
			}
			continue
		}
		switch phonenumbers.IsPossibleNumberWithReason(num) {
		case phonenumbers.IS_POSSIBLE:
			return phonenumbers.Format(num, phonenumbers.E164), nil
		case phonenumbers.INVALID_COUNTRY_CODE:
			err = faxbridge.Errorf(faxbridge.EBadAddress, "%q has an unknown country code", clip(raw))
		case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
			err = faxbridge.Errorf(faxbridge.EBadAddress, "%q is too short for a fax number; include the country and area code", clip(raw))
		case phonenumbers.TOO_LONG:
			err = faxbridge.Errorf(faxbridge.EBadAddress, "%q is too long for a fax number", clip(raw))
		default:
			err = faxbridge.Errorf(faxbridge.EBadAddress, "%q has the wrong number of digits for its country", clip(raw))
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}

// clip keeps hostile input from filling an SMTP reply.
func clip(s string) string {
	const max = 64
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// String describes a destination for people: the contact name with its
// number, or the number.
func String(d faxbridge.Destination) string {
	if d.Contact != "" {
		return fmt.Sprintf("%s (%s)", d.Contact, d.To)
	}
	return d.To
}

// Region returns the ISO country code of an E.164 number ("US", "DE"), or
// the main country of its calling code for unassigned numbers, or "".
func Region(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	if r := phonenumbers.GetRegionCodeForNumber(num); r != "" {
		return r
	}
	return phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
}

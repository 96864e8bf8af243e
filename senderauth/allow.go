package senderauth

import (
	"fmt"
	"strings"
)

// Allowlist says which proven senders may send faxes. Entries:
//
//	alice@example.com    that address
//	example.com          any address at example.com (not its subdomains)
//	@example.com         the same
//	*@example.com        the same
//	*.example.com        any address at a subdomain of example.com (not
//	                     example.com itself: list both for both)
//	*@*.example.com      the same
//
// Matching ignores ASCII case (local parts included: no mail system worth
// faxing from hands out Alice@ and alice@ to different people) and a
// trailing dot. There is no catch-all entry: a gateway that faxes for
// anyone on the internet is a toll-fraud target.
type Allowlist struct {
	addrs map[string]bool // "local@domain"
	doms  map[string]bool // exact domains
	subs  []string        // ".example.com" suffixes
}

// ParseAllowlist checks every entry and reports all the bad ones at once.
func ParseAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{addrs: map[string]bool{}, doms: map[string]bool{}}
	var bad []string
	for _, e := range entries {
		if err := a.add(e); err != nil {
			bad = append(bad, fmt.Sprintf("%q: %v", e, err))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("allowlist: %s", strings.Join(bad, "; "))
	}
	return a, nil
}

func (a *Allowlist) add(entry string) error {
	e := strings.ToLower(strings.TrimSpace(entry))
	if e == "" {
		return fmt.Errorf("empty entry")
	}
	if strings.ContainsAny(e, " \t\r\n,;<>") {
		return fmt.Errorf("not an address or domain")
	}
	local, domain := "*", e
	if at := strings.LastIndexByte(e, '@'); at >= 0 {
		local, domain = e[:at], e[at+1:]
		if local == "" {
			local = "*"
		}
	}
	domain = strings.TrimSuffix(domain, ".")
	sub := false
	if rest, ok := strings.CutPrefix(domain, "*."); ok {
		sub, domain = true, rest
	}
	if err := checkDomain(domain); err != nil {
		return err
	}
	switch {
	case strings.Contains(local, "*") && local != "*":
		return fmt.Errorf("a wildcard local part must be \"*\" alone")
	case local != "*" && sub:
		return fmt.Errorf("an address cannot have a wildcard domain")
	case local != "*":
		a.addrs[local+"@"+domain] = true
	case sub:
		a.subs = append(a.subs, "."+domain)
	default:
		a.doms[domain] = true
	}
	return nil
}

func checkDomain(d string) error {
	if d == "" {
		return fmt.Errorf("no domain")
	}
	if strings.ContainsAny(d, "*@[]") {
		return fmt.Errorf("a wildcard may only be the first label (*.example.com)")
	}
	if !strings.Contains(d, ".") {
		// "com" or "*" would allow a whole top-level domain or everyone.
		return fmt.Errorf("%q is not a full domain name", d)
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" {
			return fmt.Errorf("empty label in %q", d)
		}
	}
	return nil
}

// Allows reports whether addr, a bare address such as Result.From, is on the
// list. A nil Allowlist allows nobody.
func (a *Allowlist) Allows(addr string) bool {
	if a == nil {
		return false
	}
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return false
	}
	local, domain := addr[:at], strings.TrimSuffix(addr[at+1:], ".")
	if domain == "" {
		return false
	}
	if a.addrs[local+"@"+domain] || a.doms[domain] {
		return true
	}
	for _, s := range a.subs {
		if strings.HasSuffix(domain, s) {
			return true
		}
	}
	return false
}

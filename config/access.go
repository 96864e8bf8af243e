package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// DefaultListener is the name of the listener on smtp.listen in logs.
const DefaultListener = "smtp"

// Listener is one [[smtp.listeners]] entry: a port with its own TLS and
// AUTH policy.
type Listener struct {
	Name         string `toml:"name"`
	Listen       string `toml:"listen"`
	TLS          string `toml:"tls"`  // none, starttls, implicit
	Auth         string `toml:"auth"` // none, optional, required
	InsecureAuth bool   `toml:"insecure_auth"`
	// TrustedNetworks, when present, replaces smtp.trusted_networks (and
	// the [[smtp.networks]]) on this listener; an empty list trusts nobody.
	TrustedNetworks *[]string `toml:"trusted_networks"`
	// MX makes this an inbound listener for mail from the internet: no
	// AUTH, and only mail whose From is proven by DMARC (aligned DKIM or
	// SPF) and on mx.allow_senders is accepted.
	MX bool `toml:"mx"`

	trusted []netip.Prefix
}

// Network is one [[smtp.networks]] entry: trusted networks bound to a name
// and, optionally, to the address that gets the reports of what is sent
// from them without AUTH.
type Network struct {
	Name     string   `toml:"name"`
	CIDRs    []string `toml:"cidrs"`
	ReportTo string   `toml:"report_to"`
	SenderPolicy

	prefixes []netip.Prefix
}

// User is one [[users]] entry: an account that may log in with AUTH.
type User struct {
	Name             string `toml:"name"`
	PasswordHash     string `toml:"password_hash"` // bcrypt or argon2id; `faxbridge passwd` makes one
	PasswordHashFile string `toml:"password_hash_file"`
	ReportTo         string `toml:"report_to"`
	// Console lets the user sign in to the web console: "admin" or "user"
	// (see console.go); left out, the user cannot.
	Console string `toml:"console"`
	SenderPolicy
}

// SenderPolicy is what one user or network may do, on top of the global
// rules: zero values mean no further limit.
type SenderPolicy struct {
	FaxFrom        string   `toml:"fax_from"`        // caller ID for this sender's faxes
	AllowCountries []string `toml:"allow_countries"` // narrower than fax.allow_countries
	AllowPrefixes  []string `toml:"allow_prefixes"`  // E.164 prefixes this sender may fax
	MaxPages       int      `toml:"max_pages"`       // pages per fax
	FaxesPerHour   int      `toml:"faxes_per_hour"`
	FaxesPerDay    int      `toml:"faxes_per_day"`
	PagesPerHour   int      `toml:"pages_per_hour"`
	PagesPerDay    int      `toml:"pages_per_day"`
}

// Empty reports whether the policy adds no rule.
func (p SenderPolicy) Empty() bool {
	return p.FaxFrom == "" && p.AllowCountries == nil && p.AllowPrefixes == nil && p.MaxPages == 0 &&
		p.FaxesPerHour == 0 && p.FaxesPerDay == 0 && p.PagesPerHour == 0 && p.PagesPerDay == 0
}

func checkSenderPolicy(add func(string, ...any), who string, p SenderPolicy) {
	if p.FaxFrom != "" && !e164.MatchString(p.FaxFrom) {
		add("%s: fax_from %q must be an E.164 number", who, p.FaxFrom)
	}
	for _, pre := range p.AllowPrefixes {
		if !e164Prefix.MatchString(pre) {
			add("%s: allow_prefixes: %q must be an E.164 prefix like \"+1212\"", who, pre)
		}
	}
	for _, cc := range p.AllowCountries {
		if len(cc) != 2 {
			add("%s: allow_countries: %q is not a two-letter country code", who, cc)
		}
	}
	for _, n := range []int{p.MaxPages, p.FaxesPerHour, p.FaxesPerDay, p.PagesPerHour, p.PagesPerDay} {
		if n < 0 {
			add("%s: limits must not be negative", who)
			break
		}
	}
}

var (
	listenerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)
	// User names are what scanners let people type: often an email
	// address. No spaces or control characters, which logs and SASL
	// cannot carry unambiguously.
	userName = regexp.MustCompile(`^[A-Za-z0-9._@+=-]{1,64}$`)
)

var tlsVersions = map[string]uint16{
	"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13,
}

// AllListeners returns every SMTP listener: the one on smtp.listen (named
// DefaultListener, absent when smtp.listen is empty) first, then the
// [[smtp.listeners]].
func (s *SMTP) AllListeners() []Listener {
	var ls []Listener
	if s.Listen != "" {
		ls = append(ls, Listener{Name: DefaultListener, Listen: s.Listen, TLS: s.TLS, Auth: s.Auth, InsecureAuth: s.InsecureAuth})
	}
	return append(ls, s.Listeners...)
}

// TrustedOn reports whether addr may send without AUTH on listener l (one
// returned by AllListeners). Check must have run first.
func (s *SMTP) TrustedOn(l *Listener, addr netip.Addr) bool {
	if l.TrustedNetworks == nil {
		return s.Trusted(addr)
	}
	addr = addr.Unmap()
	for _, p := range l.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Network returns the [[smtp.networks]] entry addr is in, the most specific
// one when several contain it.
func (s *SMTP) Network(addr netip.Addr) (Network, bool) {
	addr = addr.Unmap()
	best, bits := -1, -1
	for i, n := range s.Networks {
		for _, p := range n.prefixes {
			if p.Contains(addr) && p.Bits() > bits {
				best, bits = i, p.Bits()
			}
		}
	}
	if best < 0 {
		return Network{}, false
	}
	return s.Networks[best], true
}

// TLSVersion is tls_min_version as a crypto/tls constant.
func (s *SMTP) TLSVersion() uint16 { return tlsVersions[s.TLSMinVersion] }

// checkAccess checks the listeners, certificate, networks and users.
func (c *Config) checkAccess() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	s := &c.SMTP

	parseNets := func(key string, list []string) []netip.Prefix {
		var out []netip.Prefix
		for _, n := range list {
			pfx, err := parseNet(n)
			if err != nil {
				add("%s: %q is not a CIDR network like 192.168.1.0/24", key, n)
				continue
			}
			out = append(out, pfx)
		}
		return out
	}

	names := map[string]bool{}
	for i, n := range s.Networks {
		key := fmt.Sprintf("smtp.networks[%d]", i)
		switch {
		case !contactRe.MatchString(n.Name):
			add("%s.name %q: use letters, digits, dots, dashes and underscores", key, n.Name)
		case names[n.Name]:
			add("%s.name %q is defined twice", key, n.Name)
		}
		names[n.Name] = true
		if len(n.CIDRs) == 0 {
			add("%s.cidrs is empty: list the networks, e.g. [\"192.168.1.0/24\"]", key)
		}
		s.Networks[i].prefixes = parseNets(key+".cidrs", n.CIDRs)
		checkReportTo(add, key, n.ReportTo)
		checkSenderPolicy(add, key, n.SenderPolicy)
	}

	seenUser := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		switch {
		case !userName.MatchString(u.Name):
			add("%s.name %q: use up to 64 letters, digits and . _ @ + = -", key, u.Name)
		case seenUser[u.Name]:
			add("%s.name %q is defined twice", key, u.Name)
		}
		seenUser[u.Name] = true
		switch {
		case u.PasswordHash == "":
			add("%s.password_hash (or password_hash_file) is required; make one with `faxbridge passwd`", key)
		case !looksLikeHash(u.PasswordHash):
			// Never repeat the value: it may be a password pasted
			// where its hash belongs.
			add("%s.password_hash is not a bcrypt ($2b$...) or argon2id ($argon2id$...) hash; make one with `faxbridge passwd`", key)
		}
		checkReportTo(add, key, u.ReportTo)
		checkSenderPolicy(add, key, u.SenderPolicy)
	}

	if s.TLSVersion() == 0 {
		add("smtp.tls_min_version %q: use 1.0, 1.1, 1.2 or 1.3", s.TLSMinVersion)
	}
	if s.AuthMaxFailures < 1 {
		add("smtp.auth_max_failures must be at least 1")
	}
	if s.AuthLockout.Duration < time.Second {
		add("smtp.auth_lockout must be at least 1s")
	}

	listens := map[string]string{}
	lnames := map[string]bool{DefaultListener: s.Listen != ""}
	needCert := false
	for i := range s.Listeners {
		l := &s.Listeners[i]
		key := fmt.Sprintf("smtp.listeners[%d]", i)
		switch {
		case !listenerName.MatchString(l.Name):
			add("%s.name %q: use up to 32 letters, digits, dots, dashes and underscores", key, l.Name)
		case lnames[l.Name]:
			add("%s.name %q is used twice (%q is the listener on smtp.listen)", key, l.Name, DefaultListener)
		}
		lnames[l.Name] = true
		if l.TLS == "" {
			l.TLS = "none"
		}
		if l.Auth == "" {
			l.Auth = "none"
		}
		if _, _, err := net.SplitHostPort(l.Listen); err != nil {
			add("%s.listen %q is not host:port", key, l.Listen)
		}
		l.trusted = nil
		if l.TrustedNetworks != nil {
			l.trusted = parseNets(key+".trusted_networks", *l.TrustedNetworks)
		}
		if l.MX {
			if l.Auth != "none" {
				add("%s: an mx listener takes mail from the internet without AUTH; remove auth", key)
			}
			if len(c.MX.AllowSenders) == 0 {
				add("%s is an mx listener but mx.allow_senders is empty: nobody could fax through it", key)
			}
		}
	}
	for _, l := range s.AllListeners() {
		key := "smtp"
		if l.Name != DefaultListener {
			key = fmt.Sprintf("smtp.listeners (%s)", l.Name)
		}
		// Port 0 (any free port) cannot clash; tests use it.
		if other, dup := listens[l.Listen]; dup && l.Listen != "" && !strings.HasSuffix(l.Listen, ":0") {
			add("%s listens on %s, like %s", key, l.Listen, other)
		}
		listens[l.Listen] = key
		switch l.TLS {
		case "none":
		case "starttls", "implicit":
			needCert = true
		default:
			add("%s.tls %q: use none, starttls or implicit", key, l.TLS)
		}
		switch l.Auth {
		case "none":
			if l.InsecureAuth {
				add("%s.insecure_auth has no effect with auth = \"none\"; remove it", key)
			}
		case "optional", "required":
			if len(c.Users) == 0 {
				add("%s.auth = %q, but no [[users]] are defined", key, l.Auth)
			}
			if l.TLS == "none" && !l.InsecureAuth {
				add("%s.auth = %q without TLS would send passwords in the clear: use tls = \"starttls\", or set insecure_auth = true for a trusted LAN only", key, l.Auth)
			}
		default:
			add("%s.auth %q: use none, optional or required", key, l.Auth)
		}
	}

	switch {
	case needCert && (s.CertFile == "" || s.KeyFile == ""):
		add("smtp.cert_file and smtp.key_file are required for TLS listeners")
	case s.CertFile != "" || s.KeyFile != "":
		if s.CertFile == "" || s.KeyFile == "" {
			add("smtp.cert_file and smtp.key_file go together")
		} else if _, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile); err != nil {
			// The error names the problem (no PEM data, key
			// mismatch), never the key's contents.
			add("smtp.cert_file/key_file: %v", unwrapPathError(err))
		}
	}
	return p
}

func parseNet(n string) (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(n)
	if err != nil {
		a, err2 := netip.ParseAddr(n)
		if err2 != nil {
			return netip.Prefix{}, err
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	return pfx.Masked(), nil
}

func checkReportTo(add func(string, ...any), key, addr string) {
	if addr == "" {
		return
	}
	if _, err := mail.ParseAddress(addr); err != nil {
		add("%s.report_to %q is not an email address", key, addr)
	}
}

// looksLikeHash is a check of the shape only; the SMTP server parses the
// hash fully when it starts.
func looksLikeHash(h string) bool {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		return len(h) == 60
	case strings.HasPrefix(h, "$argon2id$v="):
		return strings.Count(h, "$") == 5
	}
	return false
}

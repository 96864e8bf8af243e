package senderauth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Resolver answers the DNS questions that SPF, DKIM and DMARC ask. Its method
// set is the one blitiri.com.ar/go/spf needs, so *net.Resolver satisfies it
// as is.
//
// A name that does not exist, or has no record of the asked type, should be
// reported as a *net.DNSError with IsNotFound set; a failure that may go away
// (SERVFAIL, timeout) as a *net.DNSError that is Temporary. Any other error
// is treated as temporary, so that a broken resolver delays mail rather than
// refusing it for good.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// NetResolver is the production Resolver: the system's DNS through
// net.Resolver, with a bound on each lookup so that one slow name server
// cannot use up the whole SMTP transaction's deadline.
type NetResolver struct {
	Resolver *net.Resolver // nil means net.DefaultResolver
	Timeout  time.Duration // per lookup; zero means 10 seconds
}

func (n NetResolver) net() *net.Resolver {
	if n.Resolver != nil {
		return n.Resolver
	}
	return net.DefaultResolver
}

func (n NetResolver) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	d := n.Timeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

func (n NetResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	ctx, cancel := n.bound(ctx)
	defer cancel()
	return n.net().LookupTXT(ctx, name)
}

func (n NetResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ctx, cancel := n.bound(ctx)
	defer cancel()
	return n.net().LookupIPAddr(ctx, host)
}

func (n NetResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	ctx, cancel := n.bound(ctx)
	defer cancel()
	return n.net().LookupMX(ctx, name)
}

func (n NetResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ctx, cancel := n.bound(ctx)
	defer cancel()
	return n.net().LookupAddr(ctx, addr)
}

// StaticResolver is a Resolver over fixed maps, for tests: they publish DKIM
// keys, SPF and DMARC records without a network. Names are matched without
// regard to case or a trailing dot. A name in TempFail fails every lookup
// with a temporary error (as a SERVFAIL would); any other name missing from
// the map asked is "not found". The maps are only read, so one
// StaticResolver may serve concurrent lookups.
type StaticResolver struct {
	TXT      map[string][]string
	IP       map[string][]net.IP // A and AAAA records
	MX       map[string][]*net.MX
	PTR      map[string][]string // keyed by the IP address in text form
	TempFail map[string]bool
}

func lookup[V any](s *StaticResolver, m map[string]V, name string) (V, error) {
	var zero V
	key := canonicalName(name)
	for k := range s.TempFail {
		if s.TempFail[k] && canonicalName(k) == key {
			return zero, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
		}
	}
	if v, ok := m[key]; ok {
		return v, nil
	}
	for k, v := range m {
		if canonicalName(k) == key {
			return v, nil
		}
	}
	return zero, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (s *StaticResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return lookup(s, s.TXT, name)
}

func (s *StaticResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, err := lookup(s, s.IP, host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip}
	}
	return out, nil
}

func (s *StaticResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return lookup(s, s.MX, name)
}

func (s *StaticResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return lookup(s, s.PTR, addr)
}

// AddTXT appends a TXT record, creating the map when needed.
func (s *StaticResolver) AddTXT(name, txt string) {
	if s.TXT == nil {
		s.TXT = map[string][]string{}
	}
	key := canonicalName(name)
	s.TXT[key] = append(s.TXT[key], txt)
}

// AddDKIMKey publishes pub as the DKIM key of selector at domain, the way a
// domain owner would in selector._domainkey.domain.
func (s *StaticResolver) AddDKIMKey(selector, domain string, pub crypto.PublicKey) error {
	rec, err := DKIMRecord(pub)
	if err != nil {
		return err
	}
	s.AddTXT(selector+"._domainkey."+domain, rec)
	return nil
}

// DKIMRecord formats the TXT record that publishes a DKIM public key (RFC
// 6376 section 3.6.1; RFC 8463 for Ed25519).
func DKIMRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("encode RSA key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("unsupported DKIM key type %T", pub)
}

func canonicalName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// dnsErrors sits between the libraries and a Resolver. blitiri's spf and
// go-msgauth tell "not found" from "try later" by asserting the error's type
// to *net.DNSError directly (not errors.As), so a wrapped error would make a
// DNS outage look like a missing record: a permanent verdict from a
// temporary fault. It unwraps the DNSError, and classes anything else as
// temporary.
type dnsErrors struct{ r Resolver }

func dnsError(name string, err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if !errors.As(err, &de) {
		return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true,
			IsTimeout: errors.Is(err, context.DeadlineExceeded)}
	}
	if de.IsNotFound || de.Temporary() {
		return de
	}
	// Neither flag: a malformed answer or a refused query. The libraries
	// would call it permanent; a name server's bad moment is not the
	// sender's fault, so ask them to come back.
	c := *de
	c.IsTemporary = true
	return &c
}

func (d dnsErrors) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := d.r.LookupTXT(ctx, name)
	return v, dnsError(name, err)
}

func (d dnsErrors) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := d.r.LookupIPAddr(ctx, host)
	return v, dnsError(host, err)
}

func (d dnsErrors) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := d.r.LookupMX(ctx, name)
	return v, dnsError(name, err)
}

func (d dnsErrors) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := d.r.LookupAddr(ctx, addr)
	return v, dnsError(addr, err)
}

// isTemporary reports whether a (normalised) lookup error may go away.
func isTemporary(err error) bool {
	var de *net.DNSError
	return err != nil && !(errors.As(err, &de) && de.IsNotFound)
}

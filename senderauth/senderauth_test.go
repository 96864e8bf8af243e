package senderauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/faxbridge/faxbridge"
)

// fixture is a small internet: example.com signs with RSA and Ed25519 keys
// and publishes SPF and a reject policy; attacker.example has its own key
// and SPF but no say over example.com.
type fixture struct {
	dns      *StaticResolver
	rsaKey   *rsa.PrivateKey
	edKey    ed25519.PrivateKey
	attacker ed25519.PrivateKey
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, attacker, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dns: &StaticResolver{}, rsaKey: rsaKey, edKey: edKey, attacker: attacker}
	d := f.dns
	for _, k := range []struct {
		sel, dom string
		pub      crypto.PublicKey
	}{
		{"sel1", "example.com", rsaKey.Public()},
		{"ed", "example.com", edKey.Public()},
		{"ed", "strict.example", edKey.Public()},
		{"ed", "nodmarc.example", edKey.Public()},
		{"evil", "attacker.example", attacker.Public()},
	} {
		if err := d.AddDKIMKey(k.sel, k.dom, k.pub); err != nil {
			t.Fatal(err)
		}
	}
	d.AddTXT("example.com", "v=spf1 ip4:192.0.2.10 -all")
	d.AddTXT("example.com", "google-site-verification=unrelated")
	d.AddTXT("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.com")
	d.AddTXT("mx.example.com", "v=spf1 ip4:192.0.2.10 -all")
	d.AddTXT("attacker.example", "v=spf1 ip4:198.51.100.66 -all")
	d.AddTXT("mailer.example.net", "v=spf1 ip4:192.0.2.10 ip4:203.0.113.5 -all")
	d.AddTXT("spfonly.example", "v=spf1 ip4:192.0.2.20 -all")
	d.AddTXT("bounces.spfonly.example", "v=spf1 ip4:192.0.2.20 -all")
	d.AddTXT("_dmarc.spfonly.example", "v=DMARC1; p=reject; aspf=r")
	d.AddTXT("bounces.strict.example", "v=spf1 ip4:192.0.2.30 -all")
	d.AddTXT("_dmarc.strict.example", "v=DMARC1; p=reject; adkim=s; aspf=s")
	d.AddTXT("nodmarc.example", "v=spf1 ip4:192.0.2.40 -all")
	return f
}

func message(from, body string) string {
	h := "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n" +
		"To: 15551234567@fax.example.com\r\n" +
		"Subject: invoice\r\n" +
		"Message-ID: <1@test>\r\n"
	if from != "" {
		h = "From: " + from + "\r\n" + h
	}
	return h + "\r\n" + body
}

func sign(t testing.TB, key crypto.Signer, selector, domain, msg string) string {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

var testAllow = []string{
	"alice@example.com",
	"@sub.example.com",
	"spfonly.example",
	"*.strict.example",
	"nodmarc.example",
}

func TestVerifyAndDecide(t *testing.T) {
	f := newFixture(t)
	allow, err := ParseAllowlist(testAllow)
	if err != nil {
		t.Fatal(err)
	}
	body := "Please fax the attached.\r\n"
	good := message("Alice <alice@example.com>", body)
	legit := Input{RemoteIP: net.ParseIP("192.0.2.10"), Helo: "mx.example.com", MailFrom: "alice@example.com"}
	// A forwarder or a host the domain never listed: only DKIM can vouch.
	elsewhere := Input{RemoteIP: net.ParseIP("203.0.113.5"), Helo: "relay.example.net", MailFrom: "bounce@mailer.example.net"}
	attackerIn := Input{RemoteIP: net.ParseIP("198.51.100.66"), Helo: "mx.attacker.example", MailFrom: "x@attacker.example"}

	tests := []struct {
		name     string
		msg      string
		in       Input
		from     string
		spf      string
		dmarc    string
		policy   string
		dkim     []string // "result:domain", aligned ones marked "+"
		aligned  bool
		code     faxbridge.Code // "" = accepted
		sentence string
	}{
		{
			name: "RSA signature and SPF, both aligned",
			msg:  sign(t, f.rsaKey, "sel1", "example.com", good), in: legit,
			from: "alice@example.com", spf: "pass", dmarc: "pass", policy: "reject",
			dkim: []string{"pass:example.com+"}, aligned: true,
		},
		{
			name: "Ed25519 signature from an unlisted host",
			msg:  sign(t, f.edKey, "ed", "example.com", good), in: elsewhere,
			from: "alice@example.com", spf: "pass", dmarc: "pass", policy: "reject",
			dkim: []string{"pass:example.com+"}, aligned: true,
		},
		{
			name: "body altered after signing",
			msg:  strings.Replace(sign(t, f.rsaKey, "sel1", "example.com", good), "attached", "attacked", 1),
			in:   elsewhere,
			from: "alice@example.com", spf: "pass", dmarc: "fail", policy: "reject",
			dkim: []string{"fail:example.com"}, code: faxbridge.EDenied, sentence: msgUnverified,
		},
		{
			name: "From changed after signing",
			msg: strings.Replace(sign(t, f.rsaKey, "sel1", "example.com", message("Bob <bob@example.com>", body)),
				"bob@example.com", "alice@example.com", 1),
			in:   elsewhere,
			from: "alice@example.com", spf: "pass", dmarc: "fail", policy: "reject",
			dkim: []string{"fail:example.com"}, code: faxbridge.EDenied, sentence: msgUnverified,
		},
		{
			name: "spoofed From signed by the attacker's own domain",
			msg:  sign(t, f.attacker, "evil", "attacker.example", good), in: attackerIn,
			from: "alice@example.com", spf: "pass", dmarc: "fail", policy: "reject",
			dkim: []string{"pass:attacker.example"}, code: faxbridge.EDenied, sentence: msgUnverified,
		},
		{
			name: "spoofed From, unsigned, from the domain's own SPF host but a foreign envelope",
			msg:  good, in: Input{RemoteIP: net.ParseIP("192.0.2.10"), Helo: "x", MailFrom: "bounce@mailer.example.net"},
			from: "alice@example.com", spf: "pass", dmarc: "fail", policy: "reject",
			code: faxbridge.EDenied, sentence: msgUnverified,
		},
		{
			name: "attacker's signature beside a valid one",
			msg:  sign(t, f.attacker, "evil", "attacker.example", sign(t, f.rsaKey, "sel1", "example.com", good)),
			in:   elsewhere,
			from: "alice@example.com", spf: "pass", dmarc: "pass", policy: "reject",
			dkim: []string{"pass:attacker.example", "pass:example.com+"}, aligned: true,
		},
		{
			name: "SPF-only aligned pass",
			msg:  message("bob@spfonly.example", body),
			in:   Input{RemoteIP: net.ParseIP("192.0.2.20"), Helo: "mx", MailFrom: "bob@spfonly.example"},
			from: "bob@spfonly.example", spf: "pass", dmarc: "pass", policy: "reject", aligned: true,
		},
		{
			name: "SPF pass for a subdomain envelope, relaxed alignment",
			msg:  message("bob@spfonly.example", body),
			in:   Input{RemoteIP: net.ParseIP("192.0.2.20"), Helo: "mx", MailFrom: "b-1@bounces.spfonly.example"},
			from: "bob@spfonly.example", spf: "pass", dmarc: "pass", policy: "reject", aligned: true,
		},
		{
			name: "SPF from the wrong host",
			msg:  message("bob@spfonly.example", body),
			in:   Input{RemoteIP: net.ParseIP("192.0.2.99"), Helo: "mx", MailFrom: "bob@spfonly.example"},
			from: "bob@spfonly.example", spf: "fail", dmarc: "fail", policy: "reject",
			code: faxbridge.EDenied, sentence: msgUnverified,
		},
		{
			name: "strict SPF alignment refuses a subdomain envelope",
			msg:  message("carol@strict.example", body),
			in:   Input{RemoteIP: net.ParseIP("192.0.2.30"), Helo: "mx", MailFrom: "b@bounces.strict.example"},
			from: "carol@strict.example", spf: "pass", dmarc: "fail", policy: "reject",
			code: faxbridge.EDenied, sentence: msgUnverified,
		},
		{
			name: "strict DKIM alignment refuses the parent domain's signature",
			msg:  sign(t, f.edKey, "ed", "strict.example", message("carol@news.strict.example", body)),
			in:   elsewhere,
			from: "carol@news.strict.example", spf: "pass", dmarc: "fail", policy: "reject",
			dkim: []string{"pass:strict.example"}, code: faxbridge.EDenied, sentence: msgUnverified,
		},
		{
			name: "subdomain From: organizational record, its sp=, relaxed DKIM",
			msg:  sign(t, f.rsaKey, "sel1", "example.com", message("dave@sub.example.com", body)),
			in:   elsewhere,
			from: "dave@sub.example.com", spf: "pass", dmarc: "pass", policy: "quarantine",
			dkim: []string{"pass:example.com+"}, aligned: true,
		},
		{
			name: "no DMARC record, aligned SPF only: refused",
			msg:  message("erin@nodmarc.example", body),
			in:   Input{RemoteIP: net.ParseIP("192.0.2.40"), Helo: "mx", MailFrom: "erin@nodmarc.example"},
			from: "erin@nodmarc.example", spf: "pass", dmarc: "none", aligned: true,
			code: faxbridge.EDenied, sentence: msgUnverified,
		},
		{
			name: "no DMARC record, aligned DKIM: accepted",
			msg:  sign(t, f.edKey, "ed", "nodmarc.example", message("erin@nodmarc.example", body)),
			in:   elsewhere,
			from: "erin@nodmarc.example", spf: "pass", dmarc: "none",
			dkim: []string{"pass:nodmarc.example+"}, aligned: true,
		},
		{
			name: "null sender: SPF of the HELO name",
			msg:  message("alice@example.com", body),
			in:   Input{RemoteIP: net.ParseIP("192.0.2.10"), Helo: "mx.example.com"},
			from: "alice@example.com", spf: "pass", dmarc: "pass", policy: "reject", aligned: true,
		},
		{
			name: "proven sender not on the allowlist",
			msg:  sign(t, f.rsaKey, "sel1", "example.com", message("mallory@example.com", body)), in: legit,
			from: "mallory@example.com", spf: "pass", dmarc: "pass", policy: "reject",
			dkim: []string{"pass:example.com+"}, aligned: true,
			code: faxbridge.EDenied, sentence: msgNotAllowed,
		},
		{
			name: "two mailboxes in From",
			msg:  sign(t, f.rsaKey, "sel1", "example.com", message("alice@example.com, mallory@attacker.example", body)),
			in:   legit, spf: "pass", dmarc: "fail",
			dkim: []string{"pass:example.com"}, code: faxbridge.EDenied, sentence: msgFrom,
		},
		{
			name: "two From fields",
			msg:  "From: mallory@attacker.example\r\n" + sign(t, f.rsaKey, "sel1", "example.com", good),
			in:   legit, spf: "pass", dmarc: "fail",
			// The signature covers the lower From and verifies; a mail
			// reader would show the upper one.
			dkim: []string{"pass:example.com"}, code: faxbridge.EDenied, sentence: msgFrom,
		},
		{
			name: "no From",
			msg:  message("", body), in: legit, spf: "pass", dmarc: "fail",
			code: faxbridge.EDenied, sentence: msgFrom,
		},
		{
			name: "header only, no final newline",
			msg:  "From: alice@example.com", in: elsewhere,
			from: "alice@example.com", spf: "pass", dmarc: "fail", policy: "reject",
			code: faxbridge.EDenied, sentence: msgUnverified,
		},
		{
			name: "header only, no empty line",
			msg:  "From: alice@example.com\r\nSubject: x\r\n", in: elsewhere,
			from: "alice@example.com", spf: "pass", dmarc: "fail", policy: "reject",
			code: faxbridge.EDenied, sentence: msgUnverified,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := Verify(context.Background(), tt.in, strings.NewReader(tt.msg), f.dns)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.From != tt.from || res.SPF != tt.spf || res.DMARC != tt.dmarc || res.Policy != tt.policy || res.Aligned != tt.aligned {
				t.Errorf("got from=%q spf=%q dmarc=%q policy=%q aligned=%v, want %q %q %q %q %v\n%s",
					res.From, res.SPF, res.DMARC, res.Policy, res.Aligned, tt.from, tt.spf, tt.dmarc, tt.policy, tt.aligned, res)
			}
			var dk []string
			for _, d := range res.DKIM {
				s := d.Result + ":" + d.Domain
				if d.Aligned {
					s += "+"
				}
				dk = append(dk, s)
			}
			if strings.Join(dk, " ") != strings.Join(tt.dkim, " ") {
				t.Errorf("DKIM = %v, want %v\n%s", dk, tt.dkim, res)
			}
			reason, err := Decide(res, allow)
			if got := faxbridge.ErrorCode(err); got != tt.code {
				t.Fatalf("Decide code = %q (%v), want %q; reason: %s", got, err, tt.code, reason)
			}
			if err != nil && faxbridge.ErrorMessage(err) != tt.sentence {
				t.Errorf("sentence = %q, want %q", faxbridge.ErrorMessage(err), tt.sentence)
			}
			wantPrefix := "accepted: "
			if tt.code != "" {
				wantPrefix = "refused: "
			}
			if !strings.HasPrefix(reason, wantPrefix) {
				t.Errorf("reason = %q, want prefix %q", reason, wantPrefix)
			}
		})
	}
}

func TestTemporaryDNSFailure(t *testing.T) {
	f := newFixture(t)
	allow, err := ParseAllowlist(testAllow)
	if err != nil {
		t.Fatal(err)
	}
	good := message("alice@example.com", "hello\r\n")
	elsewhere := Input{RemoteIP: net.ParseIP("203.0.113.5"), Helo: "x", MailFrom: "bounce@mailer.example.net"}
	tests := []struct {
		name   string
		broken string
		msg    string
		in     Input
		code   faxbridge.Code
	}{
		{"DMARC record", "_dmarc.example.com", sign(t, f.rsaKey, "sel1", "example.com", good), elsewhere, faxbridge.EUnavailable},
		{"aligned DKIM key", "sel1._domainkey.example.com", sign(t, f.rsaKey, "sel1", "example.com", good), elsewhere, faxbridge.EUnavailable},
		{"aligned SPF", "example.com", good, Input{RemoteIP: net.ParseIP("192.0.2.10"), MailFrom: "alice@example.com"}, faxbridge.EUnavailable},
		// The key could not be fetched, but SPF already proves the sender.
		{"DKIM key when SPF aligns", "sel1._domainkey.example.com", sign(t, f.rsaKey, "sel1", "example.com", good),
			Input{RemoteIP: net.ParseIP("192.0.2.10"), MailFrom: "alice@example.com"}, ""},
		// A broken record of an unrelated domain decides nothing.
		{"unaligned SPF", "mailer.example.net", sign(t, f.rsaKey, "sel1", "example.com", good), elsewhere, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns := *f.dns
			dns.TempFail = map[string]bool{tt.broken: true}
			res, err := Verify(context.Background(), tt.in, strings.NewReader(tt.msg), &dns)
			if err != nil {
				t.Fatal(err)
			}
			reason, err := Decide(res, allow)
			if faxbridge.ErrorCode(err) != tt.code {
				t.Fatalf("code = %q (%v), want %q; %s", faxbridge.ErrorCode(err), err, tt.code, reason)
			}
			if tt.code == faxbridge.EUnavailable && (res.DMARC != DMARCTempError || !faxbridge.Temporary(err)) {
				t.Errorf("DMARC = %q, temporary = %v", res.DMARC, faxbridge.Temporary(err))
			}
		})
	}
}

// oddResolver answers every question with the same error, as a resolver
// that wraps or invents its errors would.
type oddResolver struct{ err error }

func (o oddResolver) LookupTXT(context.Context, string) ([]string, error)        { return nil, o.err }
func (o oddResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) { return nil, o.err }
func (o oddResolver) LookupMX(context.Context, string) ([]*net.MX, error)        { return nil, o.err }
func (o oddResolver) LookupAddr(context.Context, string) ([]string, error)       { return nil, o.err }

func TestResolverErrorsAreClassified(t *testing.T) {
	msg := message("alice@example.com", "x\r\n")
	in := Input{RemoteIP: net.ParseIP("192.0.2.10"), MailFrom: "alice@example.com"}
	tests := []struct {
		name       string
		err        error
		spf, dmarc string
	}{
		// A wrapped "not found" must still read as "no record", not as
		// an outage...
		{"wrapped not found", fmt.Errorf("lookup: %w", &net.DNSError{Err: "nxdomain", IsNotFound: true}), "none", DMARCNone},
		// ...and an error the libraries do not know must read as "later".
		{"plain error", errors.New("resolver exploded"), "temperror", DMARCTempError},
		{"DNS error without flags", &net.DNSError{Err: "refused"}, "temperror", DMARCTempError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(context.Background(), in, strings.NewReader(msg), oddResolver{tt.err})
			if err != nil {
				t.Fatal(err)
			}
			if res.SPF != tt.spf || res.DMARC != tt.dmarc {
				t.Errorf("spf=%q dmarc=%q, want %q %q", res.SPF, res.DMARC, tt.spf, tt.dmarc)
			}
		})
	}
}

func TestNetResolverUnreachable(t *testing.T) {
	nr := NetResolver{Resolver: &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no network in tests")
		},
	}}
	_, err := nr.LookupTXT(context.Background(), "example.com")
	if err == nil || !isTemporary(dnsError("example.com", err)) {
		t.Fatalf("unreachable DNS gave %v, want a temporary error", err)
	}
}

func TestStaticResolverNames(t *testing.T) {
	s := &StaticResolver{TXT: map[string][]string{"Example.COM.": {"a"}}, TempFail: map[string]bool{"down.example": true}}
	if v, err := s.LookupTXT(context.Background(), "example.com"); err != nil || len(v) != 1 {
		t.Errorf("case/dot-insensitive lookup: %v %v", v, err)
	}
	var de *net.DNSError
	if _, err := s.LookupTXT(context.Background(), "missing.example"); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("missing name: %v", err)
	}
	if _, err := s.LookupTXT(context.Background(), "DOWN.example."); !errors.As(err, &de) || !de.Temporary() {
		t.Errorf("broken name: %v", err)
	}
}

func TestAuthenticationResults(t *testing.T) {
	res := &Result{From: "alice@example.com", FromDomain: "example.com", SPF: "pass", SPFDomain: "example.com",
		DMARC: DMARCPass, DKIM: []DKIMResult{{Domain: "example.com", Result: "pass"}}}
	got := res.AuthenticationResults("fax.example.com")
	for _, want := range []string{"fax.example.com;", "dkim=pass", "header.d=example.com", "spf=pass", "dmarc=pass", "header.from=example.com"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReadErrorsPassThrough(t *testing.T) {
	f := newFixture(t)
	boom := errors.New("connection reset")
	signed := sign(t, f.edKey, "ed", "example.com", message("alice@example.com", strings.Repeat("line\r\n", 20000)))
	for _, cut := range []int{10, len(signed) / 2} {
		_, err := Verify(context.Background(), Input{RemoteIP: net.ParseIP("192.0.2.10")},
			&failingReader{strings.NewReader(signed[:cut]), boom}, f.dns)
		if !errors.Is(err, boom) {
			t.Errorf("cut at %d: err = %v, want the reader's error", cut, err)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadsToTheEnd(t *testing.T) {
	f := newFixture(t)
	body := strings.Repeat("some text\r\n", 50000)
	for name, msg := range map[string]string{
		"unsigned":         message("alice@example.com", body),
		"unknown key":      sign(t, f.edKey, "nokey", "example.com", message("alice@example.com", body)),
		"too large header": "From: alice@example.com\r\nX-Pad: " + strings.Repeat("a", maxHeaderBytes) + "\r\n\r\n" + body,
	} {
		t.Run(name, func(t *testing.T) {
			c := &countingReader{r: strings.NewReader(msg)}
			_, err := Verify(context.Background(), Input{RemoteIP: net.ParseIP("192.0.2.1")}, c, f.dns)
			if name == "too large header" {
				if faxbridge.ErrorCode(err) != faxbridge.EInvalid {
					t.Errorf("err = %v, want EInvalid", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if c.n != int64(len(msg)) {
				t.Errorf("read %d of %d bytes", c.n, len(msg))
			}
		})
	}
}

// Package senderauth proves who sent a message that arrives from the internet
// without a login (inbound MX mode): it verifies the DKIM signatures and the
// SPF record, evaluates DMARC alignment with the From domain, and matches the
// proven From address against an allowlist.
//
// It holds no SMTP code. Everything it needs is the message itself, so the
// earliest point a forged sender can be refused is the end of DATA: the
// caller streams the message through Verify while it is being received
// (beside the MIME walk) and answers the final dot with Decide's verdict,
// 550 5.7.1 for EDenied and 451 for EUnavailable. The refusal goes to the
// connecting server, never to the (possibly forged) From or envelope
// sender, and nothing is ever accepted first and then dropped, so faxbridge
// sends no backscatter at all.
package senderauth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/faxbridge/faxbridge"
)

const (
	// maxHeaderBytes bounds the header kept in memory (DKIM needs it raw,
	// DMARC needs its From). Real headers are a few kilobytes; long
	// Received chains reach tens.
	maxHeaderBytes = 1 << 20
	// maxSignatures bounds the DKIM signatures checked: each costs a DNS
	// lookup and a hash of the whole body, and a sender needs only one.
	maxSignatures = 5
)

// DMARC outcomes (Result.DMARC).
const (
	DMARCPass      = "pass"
	DMARCFail      = "fail"
	DMARCNone      = "none" // the From domain publishes no (usable) DMARC record
	DMARCTempError = "temperror"
)

// Input is what the SMTP transaction says about a message.
type Input struct {
	RemoteIP net.IP
	Helo     string
	MailFrom string // envelope sender; "" for the null sender
}

// DKIMResult is the check of one DKIM-Signature field.
type DKIMResult struct {
	Domain  string // the signing domain, d=
	Result  string // pass, fail, permerror, temperror
	Err     string // why it did not pass (for logs)
	Aligned bool   // passed and d= aligns with the From domain
	// Recipients are the addresses in the To and Cc fields this
	// signature covers (see signedRecipients).
	Recipients []string
	messageID  string // the Message-ID this signature covers, if any
}

// Result is what Verify found. Decide turns it into a verdict.
type Result struct {
	From       string // the RFC 5322 From address; "" when FromProblem is set
	FromDomain string // lower case
	// FromProblem says why the message has no single From address (none,
	// several fields, several mailboxes, unparsable). DMARC is then "fail":
	// there is no domain to prove.
	FromProblem string

	DKIM      []DKIMResult
	SPF       string // pass, fail, softfail, neutral, none, temperror, permerror
	SPFDomain string // the domain SPF checked: MAIL FROM's, or HELO's for the null sender

	DMARC string // DMARCPass, DMARCFail, DMARCNone, DMARCTempError
	// Aligned is true when an SPF or DKIM pass aligns with the From domain
	// under the record's aspf/adkim (relaxed when there is no record).
	Aligned     bool
	DKIMAligned bool
	SPFAligned  bool
	Policy      string // the applicable p= (sp= for a subdomain): none, quarantine, reject; "" without a record

	signedMessageID string // see SignedMessageID
}

// Verify checks msg, a whole RFC 5322 message as received, against the
// sender's DNS. It reads msg once and to the end (so it can sit on one side
// of a tee or pipe), holding only the header in memory: the body streams
// through the DKIM hashes. SPF is checked while the body streams.
//
// ctx bounds the DNS lookups (SPF alone may make ten, each with its own
// lookups of MX hosts): give it the SMTP transaction's deadline.
//
// A DNS failure is not an error here but a "temperror" in the Result; the
// error return is for the message stream itself (a read error, kept in the
// chain so that callers can recognise, say, a size limit) and for a header
// too large to be real mail (EInvalid).
func Verify(ctx context.Context, in Input, msg io.Reader, r Resolver) (*Result, error) {
	r = dnsErrors{r}
	spfc := make(chan spfOutcome, 1)
	go func() { spfc <- checkSPF(ctx, in, r) }()
	// Whatever happens to the message, wait for SPF: the goroutine must not
	// outlive the call.
	res, err := verifyMessage(ctx, msg, r)
	so := <-spfc
	if err != nil {
		return nil, err
	}
	res.SPF, res.SPFDomain = so.result, so.domain
	evaluate(ctx, res, r)
	return res, nil
}

// readErr remembers the first error of the message stream, so that it can
// be told apart from whatever the DKIM library makes of it.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func verifyMessage(ctx context.Context, msg io.Reader, r Resolver) (*Result, error) {
	src := &readErr{r: msg}
	br := bufio.NewReaderSize(src, 32<<10)
	hdr, err := readHeader(br, maxHeaderBytes)
	if err != nil {
		if src.err != nil {
			return nil, fmt.Errorf("read message header: %w", src.err)
		}
		_, _ = io.Copy(io.Discard, br)
		return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "the message header is too large")
	}
	res := &Result{}
	res.From, res.FromDomain, res.FromProblem = parseFrom(hdr)

	// The library needs the header terminated by an empty line even when
	// the message has no body.
	full := hdr
	switch {
	case bytes.HasSuffix(hdr, []byte("\n\n")), bytes.HasSuffix(hdr, []byte("\n\r\n")):
	case bytes.HasSuffix(hdr, []byte("\n")):
		full = append(bytes.Clone(hdr), "\r\n"...)
	default:
		full = append(bytes.Clone(hdr), "\r\n\r\n"...)
	}
	opts := &dkim.VerifyOptions{
		MaxVerifications: maxSignatures,
		LookupTXT: func(name string) ([]string, error) {
			return r.LookupTXT(ctx, name)
		},
	}
	verifs, err := dkim.VerifyWithOptions(io.MultiReader(bytes.NewReader(full), br), opts)
	if src.err != nil {
		return nil, fmt.Errorf("read message: %w", src.err)
	}
	// The library stops early when there is nothing to verify; the rest of
	// the message must still be consumed.
	if _, cerr := io.Copy(io.Discard, br); cerr != nil {
		return nil, fmt.Errorf("read message: %w", cerr)
	}
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		// Not a read error (handled above), so the library choked on the
		// message: count it as an unverifiable signature, not a fault of ours.
		res.DKIM = append(res.DKIM, DKIMResult{Result: "permerror", Err: err.Error()})
	}
	for _, v := range verifs {
		d := DKIMResult{Domain: strings.ToLower(v.Domain), Result: "pass"}
		switch {
		case v.Err == nil:
			d.Recipients = signedRecipients(hdr, v.HeaderKeys)
			d.messageID = signedField(hdr, v.HeaderKeys, "Message-ID")
		case dkim.IsTempFail(v.Err):
			d.Result, d.Err = "temperror", v.Err.Error()
		case dkim.IsPermFail(v.Err):
			d.Result, d.Err = "permerror", v.Err.Error()
		default:
			d.Result, d.Err = "fail", v.Err.Error()
		}
		res.DKIM = append(res.DKIM, d)
	}
	return res, nil
}

var errHeaderTooLarge = errors.New("message header too large")

// readHeader returns the raw header up to and including the empty line that
// ends it (or all of a message that is only header), byte for byte as DKIM
// needs it.
func readHeader(br *bufio.Reader, limit int) ([]byte, error) {
	var buf []byte
	lineStart := true
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > limit {
			return nil, errHeaderTooLarge
		}
		buf = append(buf, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			lineStart = false
			continue
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return nil, err
		}
		if lineStart && (string(chunk) == "\n" || string(chunk) == "\r\n") {
			return buf, nil
		}
		lineStart = true
	}
}

// parseFrom finds the single From mailbox. RFC 7489 section 6.6.1 lets a
// receiver reject mail whose From does not name exactly one domain; with
// several, it could not say whose policy applies, and a forger would add
// the allowed address beside his own.
func parseFrom(hdr []byte) (addr, domain, problem string) {
	var values []string
	for _, f := range headerFields(hdr) {
		name, value, ok := strings.Cut(f, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "From") {
			values = append(values, value)
		}
	}
	switch len(values) {
	case 0:
		return "", "", "no From header field"
	case 1:
	default:
		return "", "", fmt.Sprintf("%d From header fields", len(values))
	}
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{
		// Only the address matters; a display name in an unknown charset
		// must not make it unreadable.
		CharsetReader: func(_ string, in io.Reader) (io.Reader, error) { return in, nil },
	}}
	list, err := p.ParseList(values[0])
	if err != nil {
		return "", "", "unparsable From: " + err.Error()
	}
	if len(list) != 1 {
		return "", "", fmt.Sprintf("From names %d mailboxes", len(list))
	}
	addr = list[0].Address
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", "From address has no domain"
	}
	domain = canonicalName(addr[at+1:])
	if domain == "" || strings.HasPrefix(domain, "[") || !strings.Contains(domain, ".") {
		return "", "", "From address has no domain name"
	}
	return addr, domain, ""
}

// headerFields unfolds a raw header into one string per field.
func headerFields(hdr []byte) []string {
	var fields []string
	for _, line := range strings.Split(string(hdr), "\n") {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case line == "":
		case (line[0] == ' ' || line[0] == '\t') && len(fields) > 0:
			fields[len(fields)-1] += " " + line
		default:
			fields = append(fields, line)
		}
	}
	return fields
}

type spfOutcome struct{ result, domain string }

func checkSPF(ctx context.Context, in Input, r Resolver) spfOutcome {
	sender := in.MailFrom
	if sender == "" {
		// RFC 7208 section 2.4: for the null sender, check the HELO name
		// as postmaster@helo.
		sender = "postmaster@" + in.Helo
	}
	domain := ""
	if at := strings.LastIndexByte(sender, '@'); at >= 0 {
		domain = canonicalName(sender[at+1:])
	}
	if domain == "" {
		return spfOutcome{result: string(spf.None)}
	}
	res, _ := spf.CheckHostWithSender(in.RemoteIP, in.Helo, sender,
		spf.WithResolver(r), spf.WithContext(ctx))
	return spfOutcome{result: string(res), domain: domain}
}

// evaluate applies DMARC (RFC 7489) to the DKIM and SPF results.
func evaluate(ctx context.Context, res *Result, r Resolver) {
	if res.FromProblem != "" {
		res.DMARC = DMARCFail
		return
	}
	rec, policy, err := lookupDMARC(ctx, res.FromDomain, r)
	var dkimMode, spfMode dmarc.AlignmentMode = dmarc.AlignmentRelaxed, dmarc.AlignmentRelaxed
	if rec != nil {
		dkimMode, spfMode = rec.DKIMAlignment, rec.SPFAlignment
	}
	dkimTemp := false
	for i := range res.DKIM {
		d := &res.DKIM[i]
		if !aligned(d.Domain, res.FromDomain, dkimMode) {
			continue
		}
		switch d.Result {
		case "pass":
			d.Aligned, res.DKIMAligned = true, true
			if res.signedMessageID == "" {
				res.signedMessageID = d.messageID
			}
		case "temperror":
			dkimTemp = true
		}
	}
	spfRel := aligned(res.SPFDomain, res.FromDomain, spfMode)
	res.SPFAligned = spfRel && res.SPF == string(spf.Pass)
	res.Aligned = res.DKIMAligned || res.SPFAligned
	res.Policy = policy

	switch {
	case err != nil:
		res.DMARC = DMARCTempError
	case res.Aligned && rec != nil:
		res.DMARC = DMARCPass
	case dkimTemp || (spfRel && res.SPF == string(spf.TempError)):
		// What would have proved the sender could not be checked: the
		// answer is "later", not "no".
		res.DMARC = DMARCTempError
	case rec == nil:
		res.DMARC = DMARCNone
	default:
		res.DMARC = DMARCFail
	}
}

// lookupDMARC finds the record for the From domain, falling back to its
// organizational domain (RFC 7489 section 6.6.3). A missing, invalid or
// ambiguous record is "no record" (rec nil, err nil); err is set only when
// DNS could not answer.
func lookupDMARC(ctx context.Context, domain string, r Resolver) (rec *dmarc.Record, policy string, err error) {
	rec, err = dmarcRecord(ctx, domain, r)
	if err != nil {
		return nil, "", err
	}
	if rec != nil {
		return rec, string(rec.Policy), nil
	}
	org := orgDomain(domain)
	if org == domain {
		return nil, "", nil
	}
	rec, err = dmarcRecord(ctx, org, r)
	if err != nil || rec == nil {
		return nil, "", err
	}
	if rec.SubdomainPolicy != "" {
		return rec, string(rec.SubdomainPolicy), nil
	}
	return rec, string(rec.Policy), nil
}

func dmarcRecord(ctx context.Context, domain string, r Resolver) (*dmarc.Record, error) {
	txts, err := r.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		if isTemporary(err) {
			return nil, fmt.Errorf("look up DMARC record of %s: %w", domain, err)
		}
		return nil, nil
	}
	var found []*dmarc.Record
	for _, t := range txts {
		// Only records that begin with the version tag count (RFC 7489
		// section 6.6.3); other TXT records at the name are ignored.
		if !strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			continue
		}
		rec, err := dmarc.Parse(t)
		if err != nil {
			continue
		}
		found = append(found, rec)
	}
	if len(found) != 1 {
		// Several records: the domain's intent is unknown, which the RFC
		// treats as no policy.
		return nil, nil
	}
	return found[0], nil
}

func orgDomain(domain string) string {
	if od, err := publicsuffix.EffectiveTLDPlusOne(domain); err == nil {
		return od
	}
	return domain
}

func aligned(a, b string, mode dmarc.AlignmentMode) bool {
	a, b = canonicalName(a), canonicalName(b)
	if a == "" || b == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return a == b
	}
	return orgDomain(a) == orgDomain(b)
}

// String summarises the result on one line, for logs.
func (res *Result) String() string {
	var b strings.Builder
	if res.FromProblem != "" {
		fmt.Fprintf(&b, "from=? (%s)", res.FromProblem)
	} else {
		fmt.Fprintf(&b, "from=%s", res.From)
	}
	fmt.Fprintf(&b, " dmarc=%s", res.DMARC)
	if res.Policy != "" {
		fmt.Fprintf(&b, " p=%s", res.Policy)
	}
	fmt.Fprintf(&b, " spf=%s", res.SPF)
	if res.SPFDomain != "" {
		fmt.Fprintf(&b, "(%s", res.SPFDomain)
		if res.SPFAligned {
			b.WriteString(",aligned")
		}
		b.WriteString(")")
	}
	if len(res.DKIM) == 0 {
		b.WriteString(" dkim=none")
	}
	for _, d := range res.DKIM {
		fmt.Fprintf(&b, " dkim=%s(%s", d.Result, d.Domain)
		if d.Aligned {
			b.WriteString(",aligned")
		}
		if d.Err != "" {
			fmt.Fprintf(&b, ": %s", d.Err)
		}
		b.WriteString(")")
	}
	return b.String()
}

// AuthenticationResults formats the value of an Authentication-Results
// header field (RFC 8601) for the results, authserv being this host's name,
// so that a stored or forwarded message says how it was checked.
func (res *Result) AuthenticationResults(authserv string) string {
	var rs []authres.Result
	for _, d := range res.DKIM {
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultValue(d.Result), Domain: d.Domain})
	}
	if len(res.DKIM) == 0 {
		rs = append(rs, &authres.DKIMResult{Value: authres.ResultNone})
	}
	rs = append(rs, &authres.SPFResult{Value: authres.ResultValue(res.SPF), From: res.SPFDomain})
	rs = append(rs, &authres.DMARCResult{Value: authres.ResultValue(res.DMARC), From: res.FromDomain})
	return authres.Format(authserv, rs)
}

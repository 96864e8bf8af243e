package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge"
)

// TLS modes of a relay connection.
const (
	TLSStartTLS = "starttls" // plain connect, then STARTTLS (required)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no encryption
)

// RelayConfig says how to reach the mail relay that delivers reports.
type RelayConfig struct {
	Addr string // host:port
	// TLS is TLSStartTLS (the default when empty), TLSImplicit or TLSNone.
	TLS string
	// Username and Password, when Username is set, log in with AUTH PLAIN, or
	// with LOGIN when the relay offers only that.
	Username, Password string
	// HeloName is the name given in EHLO; empty means the report's Hostname.
	HeloName string
	// EnvelopeFrom is the MAIL FROM address; empty means the address of
	// Report.From, and "<>" the null sender.
	EnvelopeFrom string
	// TLSConfig verifies the relay; nil means the system roots with the
	// ServerName taken from Addr.
	TLSConfig *tls.Config
	// Timeout bounds one whole connection, from dial to QUIT; default 30s.
	Timeout time.Duration
}

// Relay delivers reports through an SMTP relay, one connection per report.
// It is safe for concurrent use.
type Relay struct {
	cfg RelayConfig
	tls *tls.Config
}

// NewRelay checks cfg and returns a Relay. It does not connect.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "mail relay address %q must be host:port", cfg.Addr)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		// A password in clear text is only acceptable when it never leaves
		// the machine.
		if cfg.Username != "" && !loopback(host) {
			return nil, faxbridge.Errorf(faxbridge.EInvalid,
				"mail relay %s: a login needs tls or starttls unless the relay is on this machine", cfg.Addr)
		}
	default:
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "mail relay tls must be starttls, tls or none, not %q", cfg.TLS)
	}
	if cfg.Timeout < 0 {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "mail relay timeout must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.EnvelopeFrom != "" && cfg.EnvelopeFrom != "<>" {
		if _, err := netmail.ParseAddress(cfg.EnvelopeFrom); err != nil {
			return nil, faxbridge.Errorf(faxbridge.EInvalid, "mail relay envelope sender %q is not an address", cfg.EnvelopeFrom)
		}
	}
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	cfg.TLSConfig = nil // r.tls is the one in use; keep no second copy around
	return &Relay{cfg: cfg, tls: tc}, nil
}

// Notify composes the report and hands it to the relay. Errors have code
// EUnavailable when trying again later may work (network, timeout, TLS, 4xx
// replies), EInvalid when the relay refused the report for good (5xx), and
// EUnauthorized when it refused the login.
//
// A timeout after the message was sent may hide an acceptance, so a retry can
// deliver the report twice; its fixed Message-ID lets mail clients tell.
func (r *Relay) Notify(ctx context.Context, rep faxbridge.Report) error {
	msg, err := Compose(rep)
	if err != nil {
		return err
	}
	from, rcpt, err := r.envelope(rep)
	if err != nil {
		return err
	}
	return r.send(ctx, rep.Hostname, from, []string{rcpt}, msg)
}

// send delivers msg to every address of rcpts in one transaction. helo is
// the name for EHLO when none is configured.
func (r *Relay) send(ctx context.Context, helo, from string, rcpts []string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return unavailable(r.cfg.Addr, "connect", err)
	}

	deadline := time.Now().Add(r.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var d net.Dialer
	raw, err := d.DialContext(dctx, "tcp", r.cfg.Addr)
	if err != nil {
		return r.fail(ctx, "connect", err)
	}
	// go-smtp sets and clears deadlines around every command; boundedConn
	// keeps them within ours, and cancelling ctx closes the connection so
	// no step outlives the caller.
	conn := &boundedConn{Conn: raw, limit: deadline}
	if err := raw.SetDeadline(deadline); err != nil {
		raw.Close()
		return r.fail(ctx, "connect", err)
	}
	stop := context.AfterFunc(dctx, func() { raw.Close() })
	defer stop()

	c, step, err := r.open(dctx, conn, helo)
	if err != nil {
		conn.Close()
		return r.fail(ctx, step, err)
	}
	defer c.Close()
	c.CommandTimeout = r.cfg.Timeout
	c.SubmissionTimeout = r.cfg.Timeout

	if r.cfg.Username != "" {
		if err := r.auth(c); err != nil {
			return r.fail(ctx, "auth", err)
		}
	}

	opts := &smtp.MailOptions{Size: int64(len(msg))}
	utf8 := !ascii(from)
	for _, rcpt := range rcpts {
		utf8 = utf8 || !ascii(rcpt)
	}
	if utf8 {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return &faxbridge.Error{Code: faxbridge.EInvalid,
				Message: "the mail relay cannot deliver to an address with non-ASCII characters",
				Err:     fmt.Errorf("smtp %s: no SMTPUTF8 for %q", r.cfg.Addr, rcpts)}
		}
		opts.UTF8 = true
	}
	if err := c.Mail(from, opts); err != nil {
		return r.fail(ctx, "mail from", err)
	}
	// Every recipient must be accepted: a mail that reaches only some of
	// them would be retried whole, and the others would get it twice.
	for _, rcpt := range rcpts {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return r.fail(ctx, "rcpt to", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return r.fail(ctx, "data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return r.fail(ctx, "data", err)
	}
	if err := w.Close(); err != nil {
		return r.fail(ctx, "data", err)
	}
	// The relay has the report now; a failing QUIT must not make the caller
	// send it again.
	_ = c.Quit()
	return nil
}

// open greets the relay and sets up TLS as configured. step names what
// failed, for the error.
func (r *Relay) open(ctx context.Context, conn net.Conn, hostname string) (c *smtp.Client, step string, err error) {
	helo := r.cfg.HeloName
	if helo == "" {
		helo = hostname
	}
	switch r.cfg.TLS {
	case TLSImplicit:
		tc := tls.Client(conn, r.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, stepTLS, err
		}
		c = smtp.NewClient(tc)
	case TLSStartTLS:
		// go-smtp says EHLO localhost before STARTTLS and gives no way to
		// name ourselves there; the EHLO after it carries helo.
		if c, err = smtp.NewClientStartTLS(conn, r.tls); err != nil {
			return nil, stepTLS, err
		}
	default:
		c = smtp.NewClient(conn)
	}
	if helo != "" {
		if err := c.Hello(helo); err != nil {
			c.Close()
			// After STARTTLS the handshake happens on this first write.
			if r.cfg.TLS == TLSStartTLS && !isReply(err) {
				return nil, stepTLS, err
			}
			return nil, "ehlo", err
		}
	}
	return c, "", nil
}

// stepTLS marks failures to set up TLS: whatever the relay replied, they are
// worth retrying (a certificate being renewed, a TLS listener restarting).
const stepTLS = "tls"

func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

func (r *Relay) auth(c *smtp.Client) error {
	var a sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		a = sasl.NewPlainClient("", r.cfg.Username, r.cfg.Password)
	case c.SupportsAuth(sasl.Login):
		a = sasl.NewLoginClient(r.cfg.Username, r.cfg.Password)
	default:
		return errNoAuth
	}
	return c.Auth(a)
}

var errNoAuth = errors.New("the relay offers neither AUTH PLAIN nor AUTH LOGIN")

// envelope returns the MAIL FROM and RCPT TO addresses.
func (r *Relay) envelope(rep faxbridge.Report) (from, rcpt string, err error) {
	if from, err = r.envelopeFrom(rep.From); err != nil {
		return "", "", err
	}
	// Compose has already parsed ReportTo, so this cannot fail here.
	a, err := netmail.ParseAddress(rep.Job.ReportTo)
	if err != nil {
		return "", "", faxbridge.WrapError(faxbridge.EInvalid, err, "the job has no valid report address")
	}
	return from, a.Address, nil
}

// envelopeFrom is the MAIL FROM address for a message whose From header
// is headerFrom.
func (r *Relay) envelopeFrom(headerFrom string) (from string, err error) {
	switch r.cfg.EnvelopeFrom {
	case "":
		a, err := netmail.ParseAddress(headerFrom)
		if err != nil {
			return "", faxbridge.WrapError(faxbridge.EInvalid, err, "the report sender address is not valid")
		}
		from = a.Address
	case "<>":
		from = ""
	default:
		a, err := netmail.ParseAddress(r.cfg.EnvelopeFrom)
		if err != nil {
			return "", faxbridge.WrapError(faxbridge.EInvalid, err, "the report sender address is not valid")
		}
		from = a.Address
	}
	return from, nil
}

// fail translates a failed step into a domain error. The SMTP reply text goes
// to Err only: it may name addresses or internals of the relay.
func (r *Relay) fail(ctx context.Context, step string, err error) error {
	cerr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(d) {
		// The connection's deadline is ctx's, and it can fire a moment
		// before ctx itself reports being done.
		cerr = context.DeadlineExceeded
	}
	var se *smtp.SMTPError
	switch {
	case cerr != nil:
		// The caller gave up (shutdown or its deadline): keep ctx's error in
		// the chain so that errors.Is(err, context.Canceled) works.
		return unavailable(r.cfg.Addr, step, fmt.Errorf("%w: %w", cerr, err))
	case step == stepTLS:
		return unavailable(r.cfg.Addr, step, err)
	case errors.As(err, &se) && se.Code/100 == 5 && step == "auth":
		return &faxbridge.Error{Code: faxbridge.EUnauthorized, Message: "the mail relay refused the login",
			Err: fmt.Errorf("smtp %s %s: %w", r.cfg.Addr, step, err)}
	case errors.As(err, &se) && se.Code/100 == 5:
		return &faxbridge.Error{Code: faxbridge.EInvalid, Message: "the mail relay refused the report",
			Err: fmt.Errorf("smtp %s %s: %w", r.cfg.Addr, step, err)}
	case errors.Is(err, errNoAuth):
		return &faxbridge.Error{Code: faxbridge.EUnauthorized, Message: "the mail relay offers no supported login",
			Err: fmt.Errorf("smtp %s %s: %w", r.cfg.Addr, step, err)}
	}
	// 4xx replies, network errors, timeouts, TLS failures and anything else
	// the relay might get over.
	return unavailable(r.cfg.Addr, step, err)
}

func unavailable(addr, step string, err error) error {
	return &faxbridge.Error{Code: faxbridge.EUnavailable, Message: "the mail relay is unavailable",
		Err: fmt.Errorf("smtp %s %s: %w", addr, step, err)}
}

// boundedConn keeps every deadline its user sets at or before limit, so a
// library that resets deadlines per command cannot extend the connection's
// life.
type boundedConn struct {
	net.Conn
	limit time.Time
}

func (c *boundedConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *boundedConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *boundedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}
func (c *boundedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

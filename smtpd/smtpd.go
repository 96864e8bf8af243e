// Package smtpd is faxbridge's SMTP server: it checks who may send, resolves
// each recipient while the client is still there to be told why not, and
// hands the message stream to the backend. Every error becomes an SMTP reply
// in one place (Reply), so a sender always reads a precise, safe sentence.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge"
)

// Backend is what the SMTP server calls into. It is one interface, checked
// where it is implemented (var _ smtpd.Backend = ...), so that no check can
// be skipped because a method went missing: an optional interface found by
// type assertion would silently let mail past it.
type Backend interface {
	// Resolve maps one RCPT TO address to a fax recipient.
	Resolve(rcpt string) (faxbridge.Recipient, error)
	// CheckRecipient applies per-sender rules (destinations a user or
	// network may fax, quotas) to a recipient the address book accepted.
	// accepted is how many recipients this message already has.
	CheckRecipient(ctx context.Context, id Identity, r faxbridge.Recipient, accepted int) error
	// AcceptMessage reads a message from a logged-in user or a trusted
	// network and commits its jobs; nil means the message is durably
	// stored and the server may reply 250.
	AcceptMessage(ctx context.Context, m Message, r io.Reader) ([]string, error)
}

// MXBackend is what an MX listener needs on top of Backend: a way in for
// mail from the internet that proves the message's sender (DKIM, SPF,
// DMARC) before accepting it. A listener marked MX refuses to start unless
// the server's backend is one.
type MXBackend interface {
	Backend
	AcceptInternet(ctx context.Context, m Message, r io.Reader) ([]string, error)
}

// Config is the SMTP server's policy, shared by all its listeners.
type Config struct {
	Hostname string
	// MaskNumbers hides most digits of phone numbers in log lines.
	MaskNumbers bool
	// OnResult, when set, is told the reply code of every DATA (250 for
	// an accepted message) and how long it took: metrics.
	OnResult func(listener string, code int, took time.Duration)
	// Trusted says whether a client may send without AUTH; a Listener may
	// override it.
	Trusted func(netip.Addr) bool
	// Network names the trusted network a client address is in, with the
	// report address bound to it; nil, or a zero Identity, for none.
	Network func(netip.Addr) Identity
	// Users may log in on listeners that offer AUTH.
	Users []User
	// TLS serves STARTTLS and implicit-TLS listeners (see Certificate).
	TLS *tls.Config
	// AuthMaxFailures failed logins from one client address, or for one
	// user, lock that address or user out for AuthLockout. Failures older
	// than AuthLockout are forgotten.
	AuthMaxFailures int           // default 5
	AuthLockout     time.Duration // default 15 minutes
	// AuthUserMaxFailures failed logins for one user, from any number of
	// addresses, lock the user out for AuthLockout from addresses it has
	// not logged in from before (default 10 × AuthMaxFailures; see login).
	AuthUserMaxFailures int
	// Now is the clock of lockouts; nil means time.Now.
	Now func() time.Time

	MaxMessageBytes int64
	MaxRecipients   int
	MaxSessions     int
	MaxLineLength   int
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	DataTimeout     time.Duration // one DATA or BDAT transaction, end to end

	// Connections and time: what one client may hold. An untrusted client
	// address (one /64 for IPv6) may have at most MaxSessionsPerClient
	// sessions across all listeners (default MaxSessions/10); TrustedSessions of
	// MaxSessions are kept for clients a listener trusts, so untrusted
	// ones may fill only the rest; a client that has neither logged in
	// nor started a transaction (MAIL FROM) StartTimeout after connecting
	// is disconnected (default 30s).
	MaxSessionsPerClient int
	TrustedSessions      int
	StartTimeout         time.Duration
}

// Server is an SMTP server for fax mail. It serves any number of listeners,
// each with its own TLS and AUTH policy; sessions, logins and lockouts are
// shared among them.
type Server struct {
	cfg     Config
	backend Backend
	log     *slog.Logger

	users  map[string]*account
	dummy  *passwordHash // verified for unknown user names
	limits *limiter      // per address, and per user and address
	// userLimits counts a user's failures from every address (slower).
	userLimits *limiter
	verifying  chan struct{} // bounds password verifications running at once

	// mx is the backend's way in for internet mail; nil when the
	// backend cannot prove senders, and then no MX listener starts.
	mx MXBackend

	// Connection accounting shared by every listener (see admitConn).
	connMu    sync.Mutex
	conns     int
	perClient map[string]int

	mu        sync.Mutex
	sessions  map[*session]struct{}
	servers   []*smtp.Server
	listeners []net.Listener
	closing   bool
	stop      context.CancelFunc
	baseCtx   context.Context
}

// New returns a Server; Serve runs it.
func New(cfg Config, backend Backend, log *slog.Logger) *Server {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 100
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = 10 * time.Minute
	}
	if cfg.MaxSessionsPerClient <= 0 {
		cfg.MaxSessionsPerClient = max(1, cfg.MaxSessions/10)
	}
	if cfg.TrustedSessions < 0 || cfg.TrustedSessions >= cfg.MaxSessions {
		cfg.TrustedSessions = 0
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.AuthMaxFailures <= 0 {
		cfg.AuthMaxFailures = 5
	}
	if cfg.AuthLockout <= 0 {
		cfg.AuthLockout = 15 * time.Minute
	}
	if cfg.AuthUserMaxFailures <= 0 {
		cfg.AuthUserMaxFailures = 10 * cfg.AuthMaxFailures
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:        cfg,
		backend:    backend,
		log:        log,
		users:      map[string]*account{},
		limits:     newLimiter(cfg.AuthMaxFailures, cfg.AuthLockout, cfg.Now),
		userLimits: newLimiter(cfg.AuthUserMaxFailures, cfg.AuthLockout, cfg.Now),
		verifying:  make(chan struct{}, 4),
		perClient:  map[string]int{},
		sessions:   map[*session]struct{}{},
	}
	s.mx, _ = backend.(MXBackend)
	for _, u := range cfg.Users {
		h, err := parsePasswordHash(u.PasswordHash)
		if err != nil {
			// Callers check hashes first (CheckPasswordHash); a bad
			// one here only means this user cannot log in.
			log.Error("user cannot log in: unusable password hash", "user", u.Name, "err", err)
			continue
		}
		s.users[u.Name] = &account{name: u.Name, hash: h, reportTo: u.ReportTo}
		if s.dummy == nil {
			// A real user's hash has the cost of a real verification.
			s.dummy = &h
		}
	}
	s.baseCtx, s.stop = context.WithCancel(context.Background())
	return s
}

// newSMTP makes the go-smtp server of one listener.
func (s *Server) newSMTP(pol Listener) *smtp.Server {
	srv := smtp.NewServer(&listenerBackend{srv: s, pol: pol})
	srv.Domain = s.cfg.Hostname
	srv.MaxMessageBytes = s.cfg.MaxMessageBytes
	// MaxRecipients is enforced by the session, which counts distinct
	// faxes rather than RCPT commands.
	srv.MaxLineLength = s.cfg.MaxLineLength
	srv.ReadTimeout = s.cfg.ReadTimeout
	srv.WriteTimeout = s.cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogAdapter{s.log.With("listener", pol.Name)}
	if pol.TLS != TLSNone {
		srv.TLSConfig = s.cfg.TLS
	}
	srv.AllowInsecureAuth = pol.InsecureAuth
	return srv
}

// policy fills in a listener's defaults and refuses combinations that would
// leak passwords or lock everyone out.
func (s *Server) policy(p Listener) (Listener, error) {
	if p.Name == "" {
		p.Name = "smtp"
	}
	if p.TLS == "" {
		p.TLS = TLSNone
	}
	if p.Auth == "" {
		p.Auth = AuthNone
	}
	if p.Trusted == nil {
		p.Trusted = s.cfg.Trusted
	}
	switch p.TLS {
	case TLSNone:
	case STARTTLS, ImplicitTLS:
		if s.cfg.TLS == nil {
			return p, fmt.Errorf("listener %s: TLS %s needs a certificate", p.Name, p.TLS)
		}
	default:
		return p, fmt.Errorf("listener %s: unknown TLS mode %q", p.Name, p.TLS)
	}
	switch p.Auth {
	case AuthNone:
	case AuthOptional, AuthRequired:
		if len(s.users) == 0 {
			return p, fmt.Errorf("listener %s: auth %s, but no user can log in", p.Name, p.Auth)
		}
		if p.TLS == TLSNone && !p.InsecureAuth {
			return p, fmt.Errorf("listener %s: AUTH without TLS sends passwords in the clear; use TLS or mark the listener insecure_auth", p.Name)
		}
	default:
		return p, fmt.Errorf("listener %s: unknown auth mode %q", p.Name, p.Auth)
	}
	if p.MX {
		// Fail closed: internet mail is only ever taken by a backend
		// that proves its sender.
		if s.mx == nil {
			return p, fmt.Errorf("listener %s: mx listener, but sender verification (DKIM, SPF, DMARC) is not wired into the server", p.Name)
		}
		if p.Auth != AuthNone {
			return p, fmt.Errorf("listener %s: an mx listener takes mail without AUTH", p.Name)
		}
	}
	return p, nil
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.log.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Println(v ...any)               { a.log.Debug(fmt.Sprint(v...)) }

// Serve accepts connections on l until Shutdown, with the default policy:
// plain SMTP, no AUTH, Config.Trusted decides who may send.
func (s *Server) Serve(l net.Listener) error {
	return s.ServeListener(l, Listener{})
}

// CheckListener reports whether ServeListener would refuse policy p, so that
// a daemon can refuse to start instead of failing later.
func (s *Server) CheckListener(p Listener) error {
	_, err := s.policy(p)
	return err
}

// ServeListener accepts connections on l until Shutdown, with policy p.
func (s *Server) ServeListener(l net.Listener, p Listener) error {
	p, err := s.policy(p)
	if err != nil {
		return err
	}
	srv := s.newSMTP(p)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.servers = append(s.servers, srv)
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()

	ll := &limitListener{Listener: l, srv: s, pol: p}
	err = srv.Serve(ll)
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing || errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, closes idle sessions, lets sessions
// in DATA finish until ctx ends, and then closes whatever is left. A message
// cut off that way was never answered 250, so its sender will retry.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	var idle []net.Conn
	for sess := range s.sessions {
		if !sess.inData {
			idle = append(idle, sess.conn.Conn())
		}
	}
	servers, listeners := s.servers, s.listeners
	s.mu.Unlock()
	// A listener registered but not yet accepting is unknown to go-smtp's
	// Shutdown; closing it here ends its Serve too.
	for _, l := range listeners {
		l.Close()
	}
	// Closing the socket ends the session's read loop, which logs it out
	// (taking s.mu), so this happens outside the lock.
	for _, c := range idle {
		c.Close()
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.Shutdown(ctx) }()
	}
	var err error
	for range servers {
		if e := <-errc; e != nil && !errors.Is(e, smtp.ErrServerClosed) && !errors.Is(e, net.ErrClosed) && err == nil {
			err = e
		}
	}
	if err != nil {
		s.stop()
		for _, srv := range servers {
			srv.Close()
		}
	}
	s.stop()
	return err
}

func (s *Server) newSession(c *smtp.Conn, pol *Listener) (smtp.Session, error) {
	remote := ""
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
		ip = ap.Addr().Unmap()
		remote = ip.String()
	}
	sess := &session{srv: s, pol: pol, conn: c, remoteIP: ip, remote: remote}
	// go-smtp serves the connection on the goroutine that calls
	// NewSession: label it, so CPU profiles tell accepting mail apart
	// from the worker and the HTTP listeners.
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("work", "smtp")))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Server shutting down; try again later"}
	}
	s.sessions[sess] = struct{}{}
	return sess, nil
}

type session struct {
	srv      *Server
	pol      *Listener
	conn     *smtp.Conn
	remoteIP netip.Addr
	remote   string
	inData   bool // guarded by srv.mu

	// The login and identity outlive RSET and each transaction; STARTTLS
	// starts a new session, so they never carry over from plain text.
	user     *account
	identity Identity

	from    string
	hasFrom bool
	rcpts   []faxbridge.Recipient
	seen    map[string]bool

	// timedOut (guarded by srv.mu) is set when a transaction ran past
	// data_timeout; the session ends once its reply is written.
	timedOut bool
}

// Reset is called by go-smtp on RSET and after the reply to DATA has been
// written. That makes it the one safe moment to end a session during
// shutdown: the client has its answer, so nothing committed goes unanswered.
func (x *session) Reset() {
	x.clear()
	if sc := slotOf(x.conn); sc != nil {
		sc.endData()
	}
	x.srv.mu.Lock()
	x.inData = false
	closing := x.srv.closing || x.timedOut
	x.srv.mu.Unlock()
	if closing {
		// A message cut off by data_timeout leaves the rest of its
		// bytes unread: they must not be taken for commands.
		x.conn.Conn().Close()
	}
}

func (x *session) clear() {
	x.from, x.hasFrom, x.rcpts, x.seen = "", false, nil, nil
}

func (x *session) Logout() error {
	x.srv.mu.Lock()
	delete(x.srv.sessions, x)
	x.srv.mu.Unlock()
	return nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if err := x.admit(); err != nil {
		x.srv.log.Warn("refused client", "remote_addr", x.remote, "listener", x.pol.Name, "reason", faxbridge.ErrorMessage(err))
		return Reply(err)
	}
	x.clear()
	x.from, x.hasFrom = from, true
	if sc := slotOf(x.conn); sc != nil {
		sc.started()
	}
	return nil
}

// admit decides whether this client may send at all, and who it is. A
// logged-in user may send from anywhere; without AUTH, only from a trusted
// network, and not at all on a listener that requires AUTH.
func (x *session) admit() error {
	p := x.pol
	if x.user != nil {
		x.identity = Identity{User: x.user.name, ReportTo: x.user.reportTo}
		return nil
	}
	if p.MX {
		// Anyone may offer mail to an MX; the message itself must prove
		// its sender before it is accepted (see Identity.MX).
		x.identity = Identity{MX: true}
		return nil
	}
	trusted := p.Trusted != nil && x.remoteIP.IsValid() && p.Trusted(x.remoteIP)
	if trusted && p.Auth != AuthRequired {
		x.identity = Identity{}
		if x.srv.cfg.Network != nil {
			n := x.srv.cfg.Network(x.remoteIP)
			x.identity = Identity{Network: n.Network, ReportTo: n.ReportTo}
		}
		return nil
	}
	if p.Auth == AuthNone {
		return faxbridge.Errorf(faxbridge.EDenied, "this server only accepts fax mail from trusted networks, and %s is not one of them", x.remote)
	}
	if _, isTLS := x.conn.TLSConnectionState(); !isTLS && !p.InsecureAuth {
		return faxbridge.Errorf(faxbridge.EDenied, "authentication required: start TLS with STARTTLS, then log in with AUTH")
	}
	return faxbridge.Errorf(faxbridge.EDenied, "authentication required: log in with AUTH before sending")
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !x.hasFrom {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Send MAIL FROM first"}
	}
	r, err := x.srv.backend.Resolve(to)
	if err != nil {
		x.srv.log.Info("recipient refused", "remote_addr", x.remote, "code", faxbridge.ErrorCode(err), "reason", x.srv.logText(faxbridge.ErrorMessage(err)))
		return Reply(err)
	}
	key := r.Destination.To + "\x00" + r.Quality
	if x.seen[key] {
		// The same fax twice in one message is a mistake, not a wish to
		// pay twice: accept the address, send once.
		return nil
	}
	if x.srv.cfg.MaxRecipients > 0 && len(x.rcpts) >= x.srv.cfg.MaxRecipients {
		return Reply(faxbridge.Errorf(faxbridge.ELimit, "too many fax recipients in one message (limit %d); send the rest in another message", x.srv.cfg.MaxRecipients))
	}
	ctx, cancel := context.WithTimeout(x.srv.baseCtx, 30*time.Second)
	err = x.srv.backend.CheckRecipient(ctx, x.identity, r, len(x.rcpts))
	cancel()
	if err != nil {
		x.srv.log.Info("recipient refused by sender policy", "remote_addr", x.remote, "user", x.identity.User, "network", x.identity.Network,
			"code", faxbridge.ErrorCode(err), "reason", x.srv.logText(faxbridge.ErrorMessage(err)), "err", err)
		return Reply(err)
	}
	if x.seen == nil {
		x.seen = map[string]bool{}
	}
	x.seen[key] = true
	x.rcpts = append(x.rcpts, r)
	return nil
}

func (x *session) Data(r io.Reader) error {
	s := x.srv
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Server shutting down; send this message again later"}
	}
	x.inData = true // cleared by Reset, once the reply is written
	s.mu.Unlock()

	start := time.Now()
	ctx, cancel := context.WithDeadline(s.baseCtx, start.Add(s.cfg.DataTimeout))
	defer cancel()
	// data_timeout bounds receiving the message as well as handling it,
	// for DATA and BDAT alike: the connection's reads are capped by it
	// (a BDAT client idling between chunks is cut off), and the reader
	// the backend sees fails once it has passed.
	if sc := slotOf(x.conn); sc != nil {
		sc.capData(start.Add(s.cfg.DataTimeout))
	}
	r = &deadlineReader{r: r, ctx: ctx}
	env := faxbridge.Envelope{MailFrom: x.from, Recipients: x.rcpts, RemoteAddr: x.remote}
	var ids []string
	var err error
	msg := Message{Envelope: env, Identity: x.identity, Helo: x.conn.Hostname()}
	if x.pol.MX || x.identity.MX {
		// Internet mail takes the one path that proves its sender; a
		// server without one never got this far (see policy), and
		// refuses rather than fall back to the trusted path.
		if s.mx == nil {
			err = faxbridge.Errorf(faxbridge.EInternal, "MX listener without sender verification")
		} else {
			ids, err = s.mx.AcceptInternet(ctx, msg, r)
		}
	} else {
		ids, err = s.backend.AcceptMessage(ctx, msg, r)
	}
	if err != nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err)) {
		s.mu.Lock() // BDAT runs Data beside the connection's goroutine
		x.timedOut = true
		s.mu.Unlock()
		err = &dataTimeout{limit: s.cfg.DataTimeout, err: err}
	}
	reply := Reply(err)
	if s.cfg.OnResult != nil {
		code := 250
		if reply != nil {
			code = reply.Code
		}
		s.cfg.OnResult(x.pol.Name, code, time.Since(start))
	}
	attrs := []any{"remote_addr", x.remote, "listener", x.pol.Name, "recipients", len(x.rcpts), "duration_ms", time.Since(start).Milliseconds()}
	if x.identity.User != "" {
		attrs = append(attrs, "user", x.identity.User)
	}
	if x.identity.Network != "" {
		attrs = append(attrs, "network", x.identity.Network)
	}
	if err != nil {
		attrs = append(attrs, "reply", fmt.Sprintf("%d %d.%d.%d", reply.Code, reply.EnhancedCode[0], reply.EnhancedCode[1], reply.EnhancedCode[2]), "err", err)
		if reply.Code >= 500 {
			s.log.Info("message refused", attrs...)
		} else {
			s.log.Warn("message deferred", attrs...)
		}
		return reply
	}
	s.log.Info("message accepted", append(attrs, "job_ids", strings.Join(ids, ","))...)
	return nil
}

// Reply translates an error into the SMTP reply the client sees. It is the
// only place that does: go-smtp passes a bare *smtp.SMTPError through and
// turns anything else into a 554 carrying the raw error text, which would be
// both wrong (permanent) and a leak of internal detail.
//
// Two audiences, two texts. A refusal (5xx) and a limit (452) carry the
// error's Message, which the code that made it wrote for the sender ("no
// PDF attachment found", "the quota of 10 faxes per hour is used up"). A
// temporary failure (451) never does: its text is decided here, from the
// code alone, because a failure's message may name a bucket, a database
// condition or an internal key. Its cause goes to the log (see Data).
func Reply(err error) *smtp.SMTPError {
	if err == nil {
		return nil
	}
	if errors.Is(err, smtp.ErrDataTooLarge) {
		return smtp.ErrDataTooLarge
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	mk := func(code int, class, subject, detail int, text string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: oneLine(text)}
	}
	var lo *lockedOut
	if errors.As(err, &lo) {
		return mk(454, 4, 7, 0, "Too many failed login attempts; try again in "+waitText(lo.wait))
	}
	var dt *dataTimeout
	if errors.As(err, &dt) {
		return mk(451, 4, 4, 2, "The message took longer than "+dt.limit.String()+" to send and process; please try again later")
	}
	msg := faxbridge.ErrorMessage(err)
	switch faxbridge.ErrorCode(err) {
	case faxbridge.EDenied:
		return mk(550, 5, 7, 1, msg)
	case faxbridge.EBadAddress:
		return mk(553, 5, 1, 3, msg)
	case faxbridge.EBadContent:
		return mk(554, 5, 6, 0, msg)
	case faxbridge.ETooLarge:
		return mk(552, 5, 3, 4, msg)
	case faxbridge.EInvalid:
		return mk(554, 5, 6, 0, msg)
	case faxbridge.EUnauthorized:
		return mk(535, 5, 7, 8, msg)
	case faxbridge.ELimit:
		return mk(452, 4, 5, 3, msg)
	case faxbridge.EUnavailable, faxbridge.EConflict:
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		return mk(451, 4, 3, 0, "The fax service is temporarily unable to take this message; please try again later")
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return mk(451, 4, 4, 2, "Timed out while processing the message; please try again later")
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return mk(451, 4, 4, 2, "Connection problem while reading the message; please try again later")
	}
	return mk(451, 4, 3, 0, "Local error while processing the message; please try again later")
}

// oneLine keeps a reply on one line (a newline would start a multi-line
// reply with the wrong meaning) and within the SMTP line limit.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r < 0x20 {
			return ' '
		}
		return r
	}, s)
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// logText applies number masking to text bound for the log.
func (s *Server) logText(t string) string {
	if s.cfg.MaskNumbers {
		return faxbridge.MaskNumbers(t)
	}
	return t
}

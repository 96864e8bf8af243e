// Package smtpd is faxbridge's SMTP server: it checks who may send, resolves
// each recipient while the client is still there to be told why not, and
// hands the message stream to the backend. Every error becomes an SMTP reply
// in one place (Reply), so a sender always reads a precise, safe sentence.
package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge"
)

// Backend is what the SMTP server calls into.
type Backend interface {
	// Resolve maps one RCPT TO address to a fax recipient.
	Resolve(rcpt string) (faxbridge.Recipient, error)
	// Accept reads the message and commits its jobs; nil means the message
	// is durably stored and the server may reply 250.
	Accept(ctx context.Context, env faxbridge.Envelope, r io.Reader) ([]string, error)
}

// Config is the SMTP listener's policy.
type Config struct {
	Hostname        string
	Trusted         func(netip.Addr) bool // may this client send without AUTH?
	MaxMessageBytes int64
	MaxRecipients   int
	MaxSessions     int
	MaxLineLength   int
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	DataTimeout     time.Duration // one DATA transaction, end to end
}

// Server is an SMTP server for fax mail.
type Server struct {
	cfg     Config
	backend Backend
	log     *slog.Logger
	smtp    *smtp.Server

	slots chan struct{}

	mu       sync.Mutex
	sessions map[*session]struct{}
	closing  bool
	stop     context.CancelFunc
	baseCtx  context.Context
}

// New returns a Server; Serve runs it.
func New(cfg Config, backend Backend, log *slog.Logger) *Server {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 100
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = 10 * time.Minute
	}
	s := &Server{
		cfg:      cfg,
		backend:  backend,
		log:      log,
		slots:    make(chan struct{}, cfg.MaxSessions),
		sessions: map[*session]struct{}{},
	}
	s.baseCtx, s.stop = context.WithCancel(context.Background())
	srv := smtp.NewServer(s)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	// MaxRecipients is enforced by the session, which counts distinct
	// faxes rather than RCPT commands.
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogAdapter{log}
	s.smtp = srv
	return s
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.log.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Println(v ...any)               { a.log.Debug(fmt.Sprint(v...)) }

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.smtp.Serve(&limitListener{Listener: l, slots: s.slots, log: s.log})
	if errors.Is(err, smtp.ErrServerClosed) {
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
	s.mu.Unlock()
	// Closing the socket ends the session's read loop, which logs it out
	// (taking s.mu), so this happens outside the lock.
	for _, c := range idle {
		c.Close()
	}
	err := s.smtp.Shutdown(ctx)
	if err != nil {
		s.stop()
		s.smtp.Close()
	}
	s.stop()
	return err
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	remote := ""
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
		ip = ap.Addr().Unmap()
		remote = ip.String()
	}
	sess := &session{srv: s, conn: c, remoteIP: ip, remote: remote}
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
	conn     *smtp.Conn
	remoteIP netip.Addr
	remote   string
	inData   bool // guarded by srv.mu

	from    string
	hasFrom bool
	rcpts   []faxbridge.Recipient
	seen    map[string]bool
}

// Reset is called by go-smtp on RSET and after the reply to DATA has been
// written. That makes it the one safe moment to end a session during
// shutdown: the client has its answer, so nothing committed goes unanswered.
func (x *session) Reset() {
	x.clear()
	x.srv.mu.Lock()
	x.inData = false
	closing := x.srv.closing
	x.srv.mu.Unlock()
	if closing {
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
	if x.srv.cfg.Trusted == nil || !x.remoteIP.IsValid() || !x.srv.cfg.Trusted(x.remoteIP) {
		x.srv.log.Warn("refused untrusted client", "remote_addr", x.remote)
		return Reply(faxbridge.Errorf(faxbridge.EDenied, "this server only accepts fax mail from trusted networks, and %s is not one of them", x.remote))
	}
	x.clear()
	x.from, x.hasFrom = from, true
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !x.hasFrom {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Send MAIL FROM first"}
	}
	r, err := x.srv.backend.Resolve(to)
	if err != nil {
		x.srv.log.Info("recipient refused", "remote_addr", x.remote, "code", faxbridge.ErrorCode(err), "reason", faxbridge.ErrorMessage(err))
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

	ctx, cancel := context.WithTimeout(s.baseCtx, s.cfg.DataTimeout)
	defer cancel()
	start := time.Now()
	env := faxbridge.Envelope{MailFrom: x.from, Recipients: x.rcpts, RemoteAddr: x.remote}
	ids, err := s.backend.Accept(ctx, env, r)
	reply := Reply(err)
	attrs := []any{"remote_addr", x.remote, "recipients", len(x.rcpts), "duration_ms", time.Since(start).Milliseconds()}
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
	msg := faxbridge.ErrorMessage(err)
	mk := func(code int, class, subject, detail int, text string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: oneLine(text)}
	}
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
		return mk(451, 4, 3, 0, msg+"; please try again later")
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

// limitListener turns away connections beyond MaxSessions with a 421 instead
// of letting them queue up and use memory.
type limitListener struct {
	net.Listener
	slots chan struct{}
	log   *slog.Logger
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			l.log.Warn("too many SMTP sessions; refusing connection", "remote_addr", c.RemoteAddr().String())
			go func() {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "421 4.3.2 Too many connections; try again later\r\n")
				c.Close()
			}()
		}
	}
}

type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

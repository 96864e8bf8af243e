package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// limitListener admits each connection against the server's session limits
// (admitConn) and turns the others away with a 421 at once, instead of
// letting them queue up and use memory.
//
// On an implicit-TLS listener it also wraps each connection in TLS, inside
// the slot accounting: go-smtp recognises implicit TLS by finding a
// *tls.Conn, and closing that closes the slotConn beneath, freeing the slot.
type limitListener struct {
	net.Listener
	srv *Server
	pol Listener
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		trusted := l.pol.Trusted != nil && ip.IsValid() && l.pol.Trusted(ip)
		release, refusal := l.srv.admitConn(ip, trusted)
		if refusal == "" {
			sc := &slotConn{Conn: c, release: release}
			// The client must log in or start a transaction within
			// StartTimeout; every read deadline go-smtp sets is capped
			// by it until then (see slotConn.started).
			sc.capStart(time.Now().Add(l.srv.cfg.StartTimeout))
			var nc net.Conn = sc
			if l.pol.TLS == ImplicitTLS {
				nc = tls.Server(sc, l.srv.cfg.TLS)
			}
			return nc, nil
		}
		l.srv.log.Warn("refusing SMTP connection", "remote_addr", ip.String(), "listener", l.pol.Name, "reason", refusal)
		if l.pol.TLS == ImplicitTLS {
			// A client waiting for a TLS handshake cannot read a
			// plain-text 421.
			c.Close()
			continue
		}
		go func() {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "421 4.3.2 Too many connections "+refusal+"; try again later\r\n")
			c.Close()
		}()
	}
}

func remoteIP(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// admitConn takes a session slot for a client, or says why not ("from your
// address", "at the moment"). The limits are shared by every listener: a
// client that is not trusted may hold MaxSessionsPerClient sessions per
// address (one /64 for IPv6), and untrusted clients together all but
// TrustedSessions of MaxSessions, so a flood of idle connections from the
// internet cannot shut a trusted scanner out. Trusted networks are the
// operator's own devices, often many behind one address (a print server,
// a NAT): they are bounded by MaxSessions alone.
func (s *Server) admitConn(ip netip.Addr, trusted bool) (release func(), refusal string) {
	key := clientKey(ip)
	s.connMu.Lock()
	defer s.connMu.Unlock()
	limit := s.cfg.MaxSessions
	if !trusted {
		limit -= s.cfg.TrustedSessions
	}
	switch {
	case s.conns >= limit:
		return nil, "at the moment"
	case !trusted && s.perClient[key] >= s.cfg.MaxSessionsPerClient:
		return nil, "from your address"
	}
	s.conns++
	s.perClient[key]++
	return func() {
		s.connMu.Lock()
		defer s.connMu.Unlock()
		s.conns--
		if s.perClient[key]--; s.perClient[key] <= 0 {
			delete(s.perClient, key)
		}
	}, ""
}

// clientKey is the unit of per-client limits: an IPv4 address, or the /64
// of an IPv6 one, the smallest block one subscriber usually gets, so that a
// client cannot escape a limit by changing its host bits.
func clientKey(a netip.Addr) string {
	if !a.IsValid() {
		return "?"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// slotConn is an admitted connection: closing it frees its slot, and its
// read deadlines are capped while the session owes something by a fixed
// time (logging in or starting a transaction; finishing a message).
// go-smtp sets a read deadline before every command and the TLS handshake,
// so a cap here bounds every way a client can hold on.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()

	mu      sync.Mutex
	asked   time.Time // the read deadline go-smtp last asked for
	startBy time.Time // zero once the client logged in or sent MAIL
	dataBy  time.Time // zero outside a DATA or BDAT transaction
}

func (c *slotConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

func (c *slotConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = t
	return c.Conn.SetReadDeadline(c.capped())
}

func (c *slotConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// capped is the read deadline to apply: the one asked for, or an earlier
// cap. Called with c.mu held.
func (c *slotConn) capped() time.Time {
	t := c.asked
	for _, cap := range []time.Time{c.startBy, c.dataBy} {
		if !cap.IsZero() && (t.IsZero() || cap.Before(t)) {
			t = cap
		}
	}
	return t
}

func (c *slotConn) setCaps(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn()
	c.Conn.SetReadDeadline(c.capped())
}

func (c *slotConn) capStart(by time.Time) { c.setCaps(func() { c.startBy = by }) }
func (c *slotConn) started()              { c.setCaps(func() { c.startBy = time.Time{} }) }
func (c *slotConn) capData(by time.Time)  { c.setCaps(func() { c.dataBy = by }) }
func (c *slotConn) endData()              { c.setCaps(func() { c.dataBy = time.Time{} }) }

// slotOf finds the slotConn beneath a session's connection, through TLS
// (STARTTLS or implicit); nil if there is none.
func slotOf(c *smtp.Conn) *slotConn {
	nc := c.Conn()
	for {
		switch v := nc.(type) {
		case *slotConn:
			return v
		case *tls.Conn:
			nc = v.NetConn()
		default:
			return nil
		}
	}
}

// deadlineReader is the message stream a backend reads: it fails once the
// transaction's data_timeout has passed, whatever the client is doing.
type deadlineReader struct {
	r   io.Reader
	ctx context.Context
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	return d.r.Read(p)
}

// dataTimeout is a transaction cut off by data_timeout; Reply makes it a
// 451 4.4.2 that names the limit.
type dataTimeout struct {
	limit time.Duration
	err   error
}

func (e *dataTimeout) Error() string {
	return "data timeout after " + e.limit.String() + ": " + e.err.Error()
}
func (e *dataTimeout) Unwrap() error { return e.err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

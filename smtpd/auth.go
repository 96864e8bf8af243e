package smtpd

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/faxbridge/faxbridge"
)

// TLSMode is how a listener uses TLS.
type TLSMode string

const (
	TLSNone     TLSMode = "none"     // plain SMTP only
	STARTTLS    TLSMode = "starttls" // plain until the client says STARTTLS (port 587, or 25)
	ImplicitTLS TLSMode = "implicit" // TLS from the first byte (port 465)
)

// AuthMode is who must log in on a listener.
type AuthMode string

const (
	// AuthNone: AUTH is not offered; only trusted networks may send.
	AuthNone AuthMode = "none"
	// AuthOptional: trusted networks may send without AUTH, everyone else
	// must log in.
	AuthOptional AuthMode = "optional"
	// AuthRequired: every client must log in, trusted networks included.
	AuthRequired AuthMode = "required"
)

// Listener is the policy of one listening socket.
type Listener struct {
	Name string // for logs
	TLS  TLSMode
	Auth AuthMode
	// InsecureAuth offers AUTH before TLS: passwords cross the network in
	// the clear, so it is for a trusted LAN of scanners that cannot do TLS.
	InsecureAuth bool
	// Trusted overrides Config.Trusted on this listener when set.
	Trusted func(netip.Addr) bool
	// MX marks an inbound listener for mail from the internet: anyone may
	// connect without AUTH, and the backend must prove each message's
	// sender (DKIM, SPF, DMARC) before it accepts it.
	MX bool
}

// User is an account that may log in with AUTH PLAIN or AUTH LOGIN.
type User struct {
	Name         string
	PasswordHash string // bcrypt or argon2id (see HashPassword)
	ReportTo     string // where reports of this user's faxes go; "" for the message's From
}

// Identity says who sent a message, beyond the addresses in it.
type Identity struct {
	User    string // the authenticated user; "" without AUTH
	Network string // the named trusted network the client sent from without AUTH
	// ReportTo replaces the message's From as the report address when
	// set: the user's report_to, or the network's for mail sent without
	// AUTH (a scanner's From is often made up).
	ReportTo string
	// MX is set for a client of an MX listener: unproven until the
	// backend has verified the message.
	MX bool
}

// Message is what Data hands to the backend.
type Message struct {
	Envelope faxbridge.Envelope
	Identity Identity // zero for a client that is neither logged in nor in a named network
	Helo     string   // the client's EHLO/HELO name (for SPF)
}

// listenerBackend makes sessions for one listener, so each session knows
// its listener's policy.
type listenerBackend struct {
	srv *Server
	pol Listener
}

func (b *listenerBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return b.srv.newSession(c, &b.pol)
}

// account is a configured user with its parsed hash.
type account struct {
	name     string
	hash     passwordHash
	reportTo string
}

// AuthMechanisms implements smtp.AuthSession. go-smtp advertises them only
// when AUTH is allowed on the connection (after TLS, or InsecureAuth).
func (x *session) AuthMechanisms() []string {
	if x.pol.Auth == AuthNone || len(x.srv.users) == 0 {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements smtp.AuthSession.
func (x *session) Auth(mech string) (sasl.Server, error) {
	if x.AuthMechanisms() == nil {
		return nil, smtp.ErrAuthUnsupported
	}
	// A locked-out address is told so before it sends a password, which
	// then never reaches the (expensive) verification.
	if wait, locked := x.srv.limits.locked(addrKey(x.remoteIP)); locked {
		x.srv.log.Warn("authentication refused: client address locked out", "remote_addr", x.remote, "listener", x.pol.Name, "remaining", wait.Round(time.Second))
		return nil, Reply(&lockedOut{wait: wait})
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, password string) error {
			if identity != "" && identity != user {
				// Acting as another user is not something any
				// account here may do.
				return x.login(mech, user, "")
			}
			return x.login(mech, user, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: func(user, password string) error { return x.login(mech, user, password) }}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// login checks a user name and password. Failures are counted three ways,
// so that an attacker can neither guess freely nor lock a scanner out:
//   - per client address (any user name): AuthMaxFailures lock the address;
//   - per user and address: AuthMaxFailures lock that user from that
//     address only, never from the scanner's;
//   - per user, from everywhere: the slower AuthUserMaxFailures lock the
//     user, but only for addresses the user has not logged in from
//     before, so a distributed guesser still cannot keep a scanner out.
//
// It returns nil or an *smtp.SMTPError.
func (x *session) login(mech, name, password string) error {
	attrs := []any{"remote_addr", x.remote, "user", logName(name), "mechanism", mech, "listener", x.pol.Name}
	acct, err := x.srv.authenticate(x.remoteIP, name, password, attrs)
	if err != nil {
		return Reply(err)
	}
	x.user = acct
	if sc := slotOf(x.conn); sc != nil {
		sc.started()
	}
	return nil
}

// authenticate checks a user name and password from a client address
// against the lockouts above and counts the outcome: SMTP AUTH and the
// web console's sign-in share it, so guessing on one counts on the other.
// Its errors are a *lockedOut or EUnauthorized.
func (s *Server) authenticate(remoteIP netip.Addr, name, password string, attrs []any) (*account, error) {
	akey := addrKey(remoteIP)
	acct := s.users[name]
	ukey, pkey := "", ""
	if acct != nil {
		// Only configured users are tracked by name: counting every
		// name a guesser invents would grow the table without bound.
		ukey = "user:" + name
		pkey = ukey + "|" + akey
	}
	for _, k := range []string{akey, pkey} {
		if wait, locked := s.limits.locked(k); k != "" && locked {
			s.log.Warn("authentication refused: locked out", append(attrs, "remaining", wait.Round(time.Second))...)
			return nil, &lockedOut{wait: wait}
		}
	}
	if wait, locked := s.userLimits.locked(ukey); locked && !s.limits.knows(ukey, akey) {
		s.log.Warn("authentication refused: user locked out for new addresses", append(attrs, "remaining", wait.Round(time.Second))...)
		return nil, &lockedOut{wait: wait}
	}
	if !s.checkPassword(acct, password) {
		n, lockedAddr := s.limits.fail(akey)
		lockedPair, lockedUser := false, false
		if ukey != "" {
			_, lockedPair = s.limits.fail(pkey)
			_, lockedUser = s.userLimits.fail(ukey)
		}
		s.log.Warn("authentication failed", append(attrs, "address_failures", n)...)
		if lockedAddr || lockedPair || lockedUser {
			s.log.Warn("locking out after repeated authentication failures",
				append(attrs, "address_locked", lockedAddr, "user_locked_here", lockedPair, "user_locked_for_new_addresses", lockedUser, "for", s.limits.lockout)...)
		}
		return nil, faxbridge.Errorf(faxbridge.EUnauthorized, "Authentication failed: wrong user name or password")
	}
	s.limits.reset(akey)
	s.limits.reset(pkey)
	s.limits.remember(ukey, akey)
	s.log.Info("authenticated", attrs...)
	return acct, nil
}

// checkPassword verifies password for acct. An unknown user costs a
// verification too, so the reply's timing does not tell which names exist.
func (s *Server) checkPassword(acct *account, password string) bool {
	s.verifying <- struct{}{}
	defer func() { <-s.verifying }()
	if acct == nil {
		if s.dummy != nil {
			s.dummy.verify(password)
		}
		return false
	}
	// Verify even an empty password, so that its reply takes as long.
	ok := acct.hash.verify(password)
	return ok && password != ""
}

// lockedOut is the error of an attempt during a lockout; Reply makes it a
// 454 4.7.0 saying how long to wait.
type lockedOut struct{ wait time.Duration }

func (e *lockedOut) Error() string {
	return "locked out after repeated authentication failures"
}

// waitText says a wait in words, rounded up so that trying again at the
// time given works.
func waitText(d time.Duration) string {
	if d <= time.Minute {
		s := int((d + time.Second - 1) / time.Second)
		if s <= 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", s)
	}
	m := int((d + time.Minute - 1) / time.Minute)
	return fmt.Sprintf("%d minutes", m)
}

// loginServer is the server side of the LOGIN mechanism, which go-sasl only
// implements for clients. Many scanners speak nothing else.
type loginServer struct {
	step  int
	user  string
	check func(user, password string) error
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			return []byte("Username:"), false, nil
		}
		// "AUTH LOGIN <user>" carries the user name as initial response.
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		if err := l.check(l.user, string(response)); err != nil {
			return nil, true, err
		}
		return nil, true, nil
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

// addrKey is the lockout key of a client address. IPv6 clients are counted
// per /64, the smallest block one subscriber usually gets, so that one
// client cannot escape a lockout by changing its host bits.
func addrKey(a netip.Addr) string {
	if !a.IsValid() {
		return "addr:?"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// limiter counts authentication failures per key within a window and locks a
// key out once it reaches max.
type limiter struct {
	max     int
	lockout time.Duration
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]*strikes
	// known holds, per user key, the client addresses the user logged in
	// from (a few, most recent), which a per-user lock does not shut out.
	known map[string][]string
}

// maxKnownAddrs is how many addresses are remembered per user.
const maxKnownAddrs = 8

// remember records that user logged in from addr.
func (l *limiter) remember(user, addr string) {
	if user == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.known == nil {
		l.known = map[string][]string{}
	}
	as := l.known[user]
	for i, a := range as {
		if a == addr {
			as = append(as[:i], as[i+1:]...)
			break
		}
	}
	as = append(as, addr)
	if len(as) > maxKnownAddrs {
		as = as[len(as)-maxKnownAddrs:]
	}
	l.known[user] = as
}

// knows reports whether user logged in from addr before.
func (l *limiter) knows(user, addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.known[user] {
		if a == addr {
			return true
		}
	}
	return false
}

type strikes struct {
	n      int
	last   time.Time
	locked time.Time // zero when not locked; else the lock's end
}

// maxTracked bounds the table; beyond it, entries that are neither locked
// nor recent are dropped.
const maxTracked = 10000

func newLimiter(max int, lockout time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, lockout: lockout, now: now, keys: map[string]*strikes{}}
}

// locked reports whether key is locked out, and for how much longer.
func (l *limiter) locked(key string) (time.Duration, bool) {
	if key == "" {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[key]
	if st == nil {
		return 0, false
	}
	if left := st.locked.Sub(l.now()); left > 0 {
		return left, true
	}
	return 0, false
}

// fail counts one failure and reports the count within the window and
// whether this failure started a lockout.
func (l *limiter) fail(key string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	st := l.keys[key]
	if st == nil {
		if len(l.keys) >= maxTracked {
			l.prune(now)
		}
		st = &strikes{}
		l.keys[key] = st
	}
	// Failures older than the lockout no longer count: a user who
	// mistypes once a week is never locked out.
	if now.Sub(st.last) > l.lockout || (!st.locked.IsZero() && !now.Before(st.locked)) {
		st.n, st.locked = 0, time.Time{}
	}
	st.n++
	st.last = now
	if st.n >= l.max && st.locked.IsZero() {
		st.locked = now.Add(l.lockout)
		return st.n, true
	}
	return st.n, false
}

func (l *limiter) reset(key string) {
	if key == "" {
		return
	}
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
}

func (l *limiter) prune(now time.Time) {
	for k, st := range l.keys {
		if now.After(st.locked) && now.Sub(st.last) > l.lockout {
			delete(l.keys, k)
		}
	}
}

// logName keeps a client-chosen user name readable and short in logs.
func logName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
)

const (
	sessionCookie = "faxbridge_session"
	// signInCookie carries the sign-in form's CSRF token (double submit):
	// there is no session yet to keep it in.
	signInCookie = "faxbridge_signin"
	// touchEvery limits how often a session's last use is written.
	touchEvery = time.Minute
	// maxForm bounds a form without files.
	maxForm = 64 << 10
)

// user is who made a request, from a valid session.
type user struct {
	name    string
	role    string
	sender  string   // Job.Sender of the user's own faxes
	inbox   []string // the user's addresses (faxbridge.MailAddress form)
	session *faxbridge.Session
}

func (u *user) admin() bool { return u.role == RoleAdmin }

// maysee reports whether the user may see the job at all: an admin every
// job, a user the faxes they sent and the received faxes mailed to them.
// It is the rule restrict gives the store for lists.
func (u *user) maysee(j *faxbridge.Job) bool {
	return u.admin() || (u.sender != "" && j.Sender == u.sender) || faxbridge.MailedTo(j, u.inbox)
}

// restrict limits a list query to what the user may see. It reports
// false when a user may see nothing at all: an empty Sender and MailTo
// would mean every job.
func (u *user) restrict(q *faxbridge.JobQuery) bool {
	if u.admin() {
		return true
	}
	q.Sender, q.MailTo = u.sender, u.inbox
	return q.Sender != "" || len(q.MailTo) > 0
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sessionID is what the database keeps of a cookie's token.
func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// current returns the request's user, or nil without a valid session.
// An expired session is deleted on the way.
func (s *Server) current(r *http.Request) *user {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	ctx := r.Context()
	sess, err := s.app.Session(ctx, sessionID(c.Value))
	if err != nil {
		if faxbridge.ErrorCode(err) != faxbridge.ENotFound {
			s.log.Warn("console session lookup failed", "err", err)
		}
		return nil
	}
	now := s.now()
	if now.Sub(sess.SeenAt) > s.cfg.IdleTimeout || now.Sub(sess.CreatedAt) > s.cfg.MaxAge {
		s.app.DeleteSession(ctx, sess.ID)
		return nil
	}
	// A user removed from the configuration, or whose role was taken
	// away, is signed out at the next request.
	role := s.app.Role(sess.User)
	if role == "" {
		s.app.DeleteSession(ctx, sess.ID)
		return nil
	}
	if now.Sub(sess.SeenAt) > touchEvery {
		if err := s.app.TouchSession(ctx, sess.ID, now); err != nil {
			s.log.Warn("console session touch failed", "err", err)
		}
	}
	u := &user{name: sess.User, role: role, sender: s.app.SenderOf(sess.User), session: sess}
	if !u.admin() {
		for _, a := range s.app.InboxOf(sess.User) {
			if a = faxbridge.MailAddress(a); a != "" {
				u.inbox = append(u.inbox, a)
			}
		}
	}
	return u
}

// withSession runs h for a signed-in user. Without a session a GET goes to
// the sign-in page (and back afterwards); anything else is refused the
// same way, with nothing about the request's target. A POST must carry
// the session's CSRF token and, when the browser names one, our origin.
func (s *Server) withSession(h func(http.ResponseWriter, *http.Request, *user)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		u := s.current(r)
		if u == nil {
			next := ""
			if r.Method == http.MethodGet {
				next = "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, "/signin"+next, http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if err := s.parseForm(w, r); err != nil {
				s.errorPage(w, r, u, err)
				return
			}
			if !sameOrigin(r) || !sameToken(r.PostFormValue("csrf"), u.session.CSRF) {
				s.log.Warn("console form refused: CSRF check failed", "user", u.name, "path", r.URL.Path, "remote_addr", r.RemoteAddr)
				s.errorPage(w, r, u, errCSRF)
				return
			}
		}
		h(w, r, u)
	}
}

// errCSRF is the answer to a form that did not come from our own page.
var errCSRF = faxbridge.Errorf(faxbridge.EDenied, "this form did not come from the console page (or the page is too old); reload the page and try again")

// parseForm reads a POST body within its limit: uploads for /send, a small
// form for everything else.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) error {
	limit := int64(maxForm)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		limit = s.cfg.MaxUpload + 1<<20
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	var err error
	if limit > maxForm {
		err = r.ParseMultipartForm(8 << 20)
	} else {
		err = r.ParseForm()
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return faxbridge.Errorf(faxbridge.ETooLarge, "the upload is larger than the limit of %d MB", s.cfg.MaxUpload>>20)
	}
	if err != nil {
		return faxbridge.WrapError(faxbridge.EInvalid, err, "the form could not be read")
	}
	return nil
}

// sameOrigin rejects a POST whose browser says it came from another site.
// Browsers send Origin on every cross-site POST; its absence (an old
// client) leaves the decision to the CSRF token.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.current(r) != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderSignIn(w, r, http.StatusOK, "")
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, problem string) {
	// One token per browser, kept while it is fresh: a second sign-in
	// page (another tab, a stray request the browser makes on its own)
	// must not void the form already shown.
	token := ""
	if c, err := r.Cookie(signInCookie); err == nil && len(c.Value) == len(randomToken()) {
		token = c.Value
	} else {
		token = randomToken()
	}
	s.setCookie(w, signInCookie, token, 3600)
	s.render(w, r, status, "signin", nil, map[string]any{
		"Token": token, "Next": localPath(r.FormValue("next")), "Problem": problem, "Name": r.PostFormValue("name"),
	})
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.renderSignIn(w, r, http.StatusBadRequest, "The form could not be read; try again.")
		return
	}
	c, err := r.Cookie(signInCookie)
	if err != nil || !sameOrigin(r) || !sameToken(r.PostFormValue("csrf"), c.Value) {
		s.log.Warn("console sign-in refused: CSRF check failed", "remote_addr", r.RemoteAddr)
		s.renderSignIn(w, r, http.StatusForbidden, "This sign-in form is too old or did not come from this page; try again.")
		return
	}
	name, password := r.PostFormValue("name"), r.PostFormValue("password")
	remote := remoteAddr(r)
	ctx := r.Context()
	if err := s.app.SignIn(ctx, remote, name, password); err != nil {
		status := http.StatusUnauthorized
		if faxbridge.ErrorCode(err) == faxbridge.ELimit {
			status = http.StatusTooManyRequests
		}
		msg := "Wrong user name or password."
		if faxbridge.ErrorCode(err) == faxbridge.ELimit {
			msg = "Too many failed sign-ins: " + faxbridge.ErrorMessage(err) + "."
		}
		s.renderSignIn(w, r, status, msg)
		return
	}
	if s.app.Role(name) == "" {
		s.log.Warn("console sign-in refused: user has no console role", "user", name, "remote_addr", r.RemoteAddr)
		s.renderSignIn(w, r, http.StatusForbidden, "This user may not use the console; ask the administrator.")
		return
	}
	now := s.now()
	token := randomToken()
	sess := faxbridge.Session{ID: sessionID(token), User: name, CSRF: randomToken(), CreatedAt: now, SeenAt: now}
	if err := s.app.CreateSession(ctx, sess, now.Add(-s.cfg.IdleTimeout), now.Add(-s.cfg.MaxAge)); err != nil {
		s.errorPage(w, r, nil, err)
		return
	}
	s.audit(r, &user{name: name}, "", "sign-in", "from "+remote.String())
	s.setCookie(w, signInCookie, "", -1)
	s.setCookie(w, sessionCookie, token, int(s.cfg.MaxAge/time.Second))
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, u *user) {
	if err := s.app.DeleteSession(r.Context(), u.session.ID); err != nil {
		s.errorPage(w, r, u, err)
		return
	}
	s.audit(r, u, "", "sign-out", "")
	s.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// localPath keeps a post-sign-in redirect on this site.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	return p
}

// remoteAddr is the client's address. The console trusts no proxy header:
// it is meant to be reached directly on an office network.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

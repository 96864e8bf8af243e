// Package console is the office's web console: every fax in and out, what
// happened to it, and the actions an operator takes (retry, cancel, resend,
// download, send from the browser), plus the gateway's health.
//
// It is one more transport beside smtpd and httpd. It calls the application
// through App, the one interface it declares, and turns every error into a
// page in one place (errorPage). Pages are rendered on the server from
// embedded templates; the only browser feature it relies on beyond HTML
// forms is a meta refresh while faxes are still moving.
//
// Nothing about a fax is served before sign-in: every path but the sign-in
// page and the stylesheet needs a session. Sessions live in the job
// database (they survive restarts and work across instances); the cookie
// holds a random token, the database only its SHA-256. Every form carries
// the session's CSRF token, and sign-in failures count toward the SMTP AUTH
// lockout.
package console

import (
	"context"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Roles a user may have in the console.
const (
	RoleAdmin = "admin" // every fax, every action
	RoleUser  = "user"  // only the faxes the user sent, and those received for them
)

// File is one uploaded document.
type File struct {
	Name string
	Data []byte
}

// SendRequest is a fax sent from the browser.
type SendRequest struct {
	User    string // the console user sending it
	To      string // the number as typed
	Subject string
	Cover   string // cover page text; "" for none
	Files   []File
}

// Check is one line of the health page.
type Check struct {
	Name   string
	OK     bool
	Detail string // in words, for the operator
}

// Health is what the health page shows: the same facts as /readyz and the
// metrics.
type Health struct {
	Checks         []Check
	Queue          map[faxbridge.State]int
	ReportsPending int
	RecentErrors   []string
}

// App is everything the console asks of the gateway. The daemon implements
// it over the job service, the job database and the SMTP lockout.
type App interface {
	// SignIn checks a password under the SMTP AUTH lockout: EUnauthorized
	// for a wrong name or password, ELimit while locked out.
	SignIn(ctx context.Context, remote netip.Addr, name, password string) error
	// Role is the user's console role, "" for a user who may not sign in.
	Role(name string) string
	// SenderOf is the Job.Sender of a user's faxes, for what a RoleUser sees.
	SenderOf(name string) string
	// InboxOf is the user's own mail addresses: a RoleUser also sees the
	// received faxes mailed to one of them (by an inbound route).
	InboxOf(name string) []string
	// FormatNumber writes a fax number for people.
	FormatNumber(to string) string

	Search(ctx context.Context, q faxbridge.JobQuery) ([]*faxbridge.Job, error)
	Job(ctx context.Context, id string) (*faxbridge.Job, error)
	RetryNow(ctx context.Context, id string) (*faxbridge.Job, error)
	Cancel(ctx context.Context, id string) (*faxbridge.Job, error)
	// Resend faxes the job's document again as a new job, to the number
	// typed in to (checked as SMTP checks RCPT TO) or, when to is empty,
	// to the same destination.
	Resend(ctx context.Context, id, to, user string) (*faxbridge.Job, error)
	// Send faxes uploaded files the way a mail would be faxed.
	Send(ctx context.Context, req SendRequest) ([]*faxbridge.Job, error)
	// Document opens the job's faxed document while it is kept.
	Document(ctx context.Context, id string) (io.ReadCloser, error)
	// Report composes the job's report email (RFC 5322) for a final job.
	Report(ctx context.Context, id string) ([]byte, error)
	Health(ctx context.Context) Health

	CreateSession(ctx context.Context, s faxbridge.Session, idleSince, createdSince time.Time) error
	Session(ctx context.Context, id string) (*faxbridge.Session, error)
	TouchSession(ctx context.Context, id string, seen time.Time) error
	DeleteSession(ctx context.Context, id string) error
	Audit(ctx context.Context, e faxbridge.AuditEntry) error
	AuditLog(ctx context.Context, jobID string) ([]faxbridge.AuditEntry, error)
}

// Config configures the console.
type Config struct {
	App App
	// Secure marks cookies Secure: set when the console is served over TLS.
	Secure bool
	// IdleTimeout ends an unused session; MaxAge any session after sign-in.
	IdleTimeout time.Duration
	MaxAge      time.Duration
	// MaxUpload bounds a send-from-browser request (all files together).
	MaxUpload int64
	Log       *slog.Logger
	Now       func() time.Time // tests move time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server is the console's HTTP handler.
type Server struct {
	cfg   Config
	app   App
	log   *slog.Logger
	now   func() time.Time
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the console handler. It refuses to start without an App:
// a console without its checks must not listen.
func New(cfg Config) (*Server, error) {
	if cfg.App == nil {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "the console needs the application")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 50 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, app: cfg.App, log: cfg.Log, now: cfg.Now}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	// Browsers ask for /favicon.ico on their own; it says nothing about
	// a fax, and sending it to the sign-in page would only log noise.
	m.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /signin", s.signInPage)
	m.HandleFunc("POST /signin", s.signIn)
	m.HandleFunc("POST /signout", s.withSession(s.signOut))
	m.HandleFunc("GET /{$}", s.withSession(s.list))
	m.HandleFunc("GET /fax/{id}", s.withSession(s.fax))
	m.HandleFunc("POST /fax/{id}/{action}", s.withSession(s.act))
	m.HandleFunc("GET /fax/{id}/document.pdf", s.withSession(s.document))
	m.HandleFunc("GET /fax/{id}/report.eml", s.withSession(s.report))
	m.HandleFunc("GET /send", s.withSession(s.sendPage))
	m.HandleFunc("POST /send", s.withSession(s.send))
	m.HandleFunc("GET /health", s.withSession(s.health))
	// Anything else needs a session too, so an unknown path tells a
	// stranger nothing, not even that it is unknown.
	m.HandleFunc("/", s.withSession(func(w http.ResponseWriter, r *http.Request, _ *user) {
		s.errorPage(w, r, nil, faxbridge.Errorf(faxbridge.ENotFound, "there is no such page"))
	}))
	s.mux = m
}

// ServeHTTP sets the headers every answer carries and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if s.cfg.Secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	s.mux.ServeHTTP(w, r)
}

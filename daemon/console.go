package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	netmail "net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/address"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/console"
	"github.com/faxbridge/faxbridge/httpd"
	"github.com/faxbridge/faxbridge/jobs"
	"github.com/faxbridge/faxbridge/notify"
	"github.com/faxbridge/faxbridge/smtpd"
)

// The console's needs are checked at compile time, like the SMTP server's.
var _ console.App = (*consoleApp)(nil)

// consoleApp adapts the job service, the job database, the address book
// and the SMTP lockout to the console.
type consoleApp struct {
	m     *Main
	be    backend
	users map[string]config.User
}

func (a *consoleApp) SignIn(_ context.Context, remote netip.Addr, name, password string) error {
	return a.m.smtp.SignIn(remote, name, password, "console")
}

func (a *consoleApp) Role(name string) string { return a.users[name].Console }

func (a *consoleApp) SenderOf(name string) string { return senderOf(smtpd.Identity{User: name}) }

// InboxOf is where the user's own mail goes: their report_to address,
// and their name when it is an email address (as SMTP AUTH names often
// are). A console user sees the received faxes that an inbound route
// mails to one of these.
func (a *consoleApp) InboxOf(name string) []string {
	var out []string
	if u, ok := a.users[name]; ok && u.ReportTo != "" {
		out = append(out, u.ReportTo)
	}
	if addr, err := netmail.ParseAddress(name); err == nil && addr.Name == "" && addr.Address == name {
		out = append(out, name)
	}
	return out
}

func (a *consoleApp) FormatNumber(to string) string { return address.Format(to) }

func (a *consoleApp) Search(ctx context.Context, q faxbridge.JobQuery) ([]*faxbridge.Job, error) {
	return a.m.db.Search(ctx, q)
}

func (a *consoleApp) Job(ctx context.Context, id string) (*faxbridge.Job, error) {
	return a.m.db.Get(ctx, id)
}

func (a *consoleApp) RetryNow(ctx context.Context, id string) (*faxbridge.Job, error) {
	return a.m.svc.RetryNow(ctx, id)
}

func (a *consoleApp) Cancel(ctx context.Context, id string) (*faxbridge.Job, error) {
	return a.m.svc.Cancel(ctx, id)
}

// recipient checks a number typed in the console exactly as RCPT TO would
// be checked for the user: the gateway's destination rules, then the
// user's own rules and quotas.
func (a *consoleApp) recipient(ctx context.Context, user, typed string) (faxbridge.Recipient, error) {
	local := strings.TrimSpace(typed)
	if isPhoneLike(local) {
		local = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "", "/", "").Replace(local)
	}
	domains := a.m.Config.SMTP.Domains
	if local == "" || strings.ContainsAny(local, "@ ") || len(domains) == 0 {
		return faxbridge.Recipient{}, faxbridge.Errorf(faxbridge.EBadAddress, "%q is not a fax number or contact name", typed)
	}
	r, err := a.be.Resolve(local + "@" + domains[0])
	if err != nil {
		return r, err
	}
	return r, a.be.CheckRecipient(ctx, smtpd.Identity{User: user}, r, 0)
}

func isPhoneLike(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789 -.()+/", r) {
			return false
		}
	}
	return s != ""
}

func (a *consoleApp) Resend(ctx context.Context, id, to, user string) (*faxbridge.Job, error) {
	var rcpt *faxbridge.Recipient
	if to != "" {
		r, err := a.recipient(ctx, user, to)
		if err != nil {
			return nil, err
		}
		rcpt = &r
	}
	return a.m.svc.Resend(ctx, id, rcpt, a.SenderOf(user))
}

func (a *consoleApp) Send(ctx context.Context, req console.SendRequest) ([]*faxbridge.Job, error) {
	r, err := a.recipient(ctx, req.User, req.To)
	if err != nil {
		return nil, err
	}
	reportTo := a.users[req.User].ReportTo
	env := faxbridge.Envelope{
		MailFrom:   reportTo, // no address: no report, as for the null sender
		Recipients: []faxbridge.Recipient{r},
		RemoteAddr: "console",
		Sender:     a.SenderOf(req.User),
		ReportTo:   reportTo,
	}
	files := make([]jobs.Upload, len(req.Files))
	for i, f := range req.Files {
		files[i] = jobs.Upload{Name: f.Name, Data: f.Data}
	}
	return a.m.svc.SendFiles(ctx, env, req.Subject, req.Cover, files)
}

func (a *consoleApp) Document(ctx context.Context, id string) (io.ReadCloser, error) {
	_, rc, err := a.m.svc.OpenDocument(ctx, id)
	return rc, err
}

// Report composes the report email as notify sends it (or would have).
func (a *consoleApp) Report(ctx context.Context, id string) ([]byte, error) {
	j, err := a.m.db.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !j.Final() {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "this fax has no outcome yet, so it has no report")
	}
	if j.ReportTo == "" {
		return nil, faxbridge.Errorf(faxbridge.ENotFound, "this fax has no report: it had no address to send one to")
	}
	date := j.ReportSentAt
	if date.IsZero() {
		date = j.FinishedAt
	}
	return notify.Compose(faxbridge.Report{Job: j, From: a.m.Config.Mail.From, Hostname: a.m.reportHost, Date: date})
}

// Health says in words what /readyz and the metrics say in numbers.
func (a *consoleApp) Health(ctx context.Context) console.Health {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var h console.Health
	check := func(name string, err error, ok string) {
		c := console.Check{Name: name, OK: err == nil, Detail: ok}
		if err != nil {
			c.Detail = faxbridge.ErrorMessage(err)
		}
		h.Checks = append(h.Checks, c)
	}
	check("Job database", a.m.db.Ping(ctx), "answers")
	check("Document storage", a.m.ping(ctx), "answers and accepts writes")
	var provider error
	if a.m.health != nil && a.m.health.provider != nil {
		provider = a.m.health.provider()
	}
	check("Fax provider", provider, "no problem seen on recent calls")
	counts, err := a.m.db.CountActive(ctx)
	moving := 0
	for _, n := range counts.ByState {
		moving += n
	}
	check("Queue", err, fmt.Sprintf("%d fax(es) with work left", moving))
	h.Queue, h.ReportsPending = counts.ByState, counts.ReportsPending
	if h.ReportsPending > 0 {
		check("Mail relay", errors.New("reports waiting"), "")
		h.Checks[len(h.Checks)-1].Detail = fmt.Sprintf("%d report(s) waiting to be delivered", h.ReportsPending)
	} else {
		check("Mail relay", nil, "no report waiting")
	}
	active, err := a.m.db.List(ctx, faxbridge.JobFilter{Active: true, Limit: 200})
	if err == nil {
		for _, j := range active {
			if j.LastError != "" && len(h.RecentErrors) < 10 {
				h.RecentErrors = append(h.RecentErrors, fmt.Sprintf("fax %s to %s: %s", j.ID, address.Format(j.Destination.To), j.LastError))
			}
		}
	}
	return h
}

func (a *consoleApp) CreateSession(ctx context.Context, s faxbridge.Session, idleSince, createdSince time.Time) error {
	return a.m.db.CreateSession(ctx, s, idleSince, createdSince)
}

func (a *consoleApp) Session(ctx context.Context, id string) (*faxbridge.Session, error) {
	return a.m.db.Session(ctx, id)
}

func (a *consoleApp) TouchSession(ctx context.Context, id string, seen time.Time) error {
	return a.m.db.TouchSession(ctx, id, seen)
}

func (a *consoleApp) DeleteSession(ctx context.Context, id string) error {
	return a.m.db.DeleteSession(ctx, id)
}

func (a *consoleApp) Audit(ctx context.Context, e faxbridge.AuditEntry) error {
	return a.m.db.Audit(ctx, e)
}

func (a *consoleApp) AuditLog(ctx context.Context, jobID string) ([]faxbridge.AuditEntry, error) {
	return a.m.db.AuditLog(ctx, jobID)
}

// bindConsole makes the console and binds console.listen, or adopts
// ConsoleListener (tests). Without either the console is off.
func (m *Main) bindConsole(be backend) error {
	cc := m.Config.Console
	if m.ConsoleListener == nil && cc.Listen == "" {
		return nil
	}
	users := map[string]config.User{}
	for _, u := range m.Config.Users {
		users[u.Name] = u
	}
	h, err := console.New(console.Config{
		App:         &consoleApp{m: m, be: be, users: users},
		Secure:      cc.TLS,
		IdleTimeout: cc.IdleTimeout.Duration,
		MaxAge:      cc.MaxAge.Duration,
		MaxUpload:   m.Config.Fax.MaxDocBytes,
		Log:         m.Log.With("component", "console"),
	})
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if m.ConsoleListener == nil {
		ln, err := net.Listen("tcp", cc.Listen)
		if err != nil {
			return fmt.Errorf("console listener: %w", err)
		}
		m.ConsoleListener = ln
	}
	if !m.db.TextIndexed() {
		m.Log.Warn("console search is not indexed: the database user may not create the pg_trgm extension; " +
			"have an administrator run CREATE EXTENSION pg_trgm in the job database and restart (search works meanwhile, slowly with many jobs)")
	}
	ln := m.ConsoleListener
	m.closers = append(m.closers, func() { ln.Close() })
	m.consoleSrv = httpd.NewServer(h, httpd.Limits{ReadTimeout: 5 * time.Minute, WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxConnections: 64})
	return nil
}

// ConsoleAddr is the console listener's address ("" without one).
func (m *Main) ConsoleAddr() string { return addrString(m.ConsoleListener) }

// serveConsole serves the console, over TLS with the SMTP certificate when
// console.tls is set (reloaded with it on SIGHUP).
func (m *Main) serveConsole(errc chan<- error) {
	if m.consoleSrv == nil {
		return
	}
	ln := m.ConsoleListener
	if m.Config.Console.TLS && m.cert != nil {
		ln = tls.NewListener(ln, m.cert.TLSConfig(m.Config.SMTP.TLSVersion()))
	}
	m.Log.Info("console listener ready", "addr", addrString(m.ConsoleListener), "tls", m.Config.Console.TLS)
	go func() {
		if err := m.consoleSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case errc <- fmt.Errorf("console: %w", err):
			default:
			}
		}
	}()
}

// Send faxes files without email, with the checks and job path of a
// message from no particular user: `faxbridge send`. The daemon that
// shares the job database sends it.
func (m *Main) Send(ctx context.Context, to, subject, cover string, files []console.File) ([]*faxbridge.Job, error) {
	a := &consoleApp{m: m, be: m.be}
	return a.Send(ctx, console.SendRequest{To: to, Subject: subject, Cover: cover, Files: files})
}

// Package daemon wires every faxbridge package into the running gateway.
// The faxbridge command, the in-process tests and the benchmarks all start
// it the same way: NewMain, Open, Run.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/address"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/document"
	"github.com/faxbridge/faxbridge/faxsend"
	"github.com/faxbridge/faxbridge/httpd"
	"github.com/faxbridge/faxbridge/jobs"
	"github.com/faxbridge/faxbridge/metrics"
	"github.com/faxbridge/faxbridge/notify"
	"github.com/faxbridge/faxbridge/senderauth"
	"github.com/faxbridge/faxbridge/smtpd"
	"github.com/faxbridge/faxbridge/storage"
	"github.com/faxbridge/faxbridge/store"
)

// Main wires every package into a running daemon. Tests run it in-process
// the same way `faxbridge serve` does.
type Main struct {
	Config *config.Config
	Log    *slog.Logger
	// Notifier, when set, replaces the relay or outbox from the config.
	Notifier faxbridge.Notifier
	// FaxMailer, when set, replaces them for received faxes.
	FaxMailer faxbridge.FaxMailer
	// SMTPListener and HTTPListener, when set, are used instead of
	// listening on the configured addresses (tests pass port-0 listeners).
	SMTPListener, HTTPListener net.Listener
	// SMTPListeners, by name, do the same for [[smtp.listeners]].
	SMTPListeners map[string]net.Listener
	// Resolver answers the DNS questions of MX-mode sender checks (nil:
	// the system resolver); tests publish their keys through it.
	Resolver senderauth.Resolver
	// AcceptOnly runs SMTP and HTTP without the worker, so nothing is sent:
	// for benchmarks that measure how fast mail is durably accepted.
	AcceptOnly bool
	// Version is reported to the fax provider as part of the User-Agent.
	Version string
	// ShutdownGrace bounds how long sessions in DATA and steps in flight
	// may take to finish after a stop signal (default 25s, inside
	// systemd's default 90s TimeoutStopSec).
	ShutdownGrace time.Duration

	db       *store.DB
	metrics  *metrics.Metrics
	blobs    faxbridge.BlobStore
	ping     func(context.Context) error
	fax      *faxsend.Client
	svc      *jobs.Service
	smtp     *smtpd.Server
	smtpLn   net.Listener
	smtpLns  []smtpListener     // every SMTP listener, smtpLn included
	cert     *smtpd.Certificate // nil without TLS
	http     *http.Server
	httpLn   net.Listener
	closers  []func()
	closeOne sync.Once

	// Hardening (see listeners.go, health.go): readiness decided in the
	// background, and metrics on a listener of their own.
	MetricsListener net.Listener
	health          *health
	metricsSrv      *http.Server

	// The web console (see console.go), on ConsoleListener when set
	// (tests) or console.listen. Offline opens the stores and the job
	// service without listening or serving: for `faxbridge send`.
	ConsoleListener net.Listener
	Offline         bool
	consoleSrv      *http.Server
	reportHost      string // the hostname in report Message-IDs
	be              backend

	// Profiling on debug.listen (see debug.go).
	debugLn  net.Listener
	debugSrv *http.Server
}

// NewMain returns an unopened Main.
func NewMain(cfg *config.Config, log *slog.Logger) *Main {
	return &Main{Config: cfg, Log: log, Version: "dev", ShutdownGrace: 25 * time.Second}
}

// SMTPAddr and HTTPAddr are the bound addresses (useful with port 0).
func (m *Main) SMTPAddr() string { return addrString(m.smtpLn) }
func (m *Main) HTTPAddr() string { return addrString(m.httpLn) }

func addrString(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Service exposes the job service (for the demo and tests).
func (m *Main) Service() *jobs.Service { return m.svc }

// Store exposes the job store (for tests and operator commands).
func (m *Main) Store() faxbridge.JobStore { return m.db }

// Open opens the database and storage, and binds the listeners. Nothing is
// served until Run.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	spool := filepath.Join(cfg.StateDir, "spool")
	if m.Offline {
		// A daemon may be using its spool right now: keep out of it.
		spool = filepath.Join(cfg.StateDir, "spool-send-"+faxbridge.NewID()[:8])
		m.closers = append(m.closers, func() { os.RemoveAll(spool) })
	}
	// Spool files left by a crash belong to messages that were never
	// answered 250; their senders retry.
	os.RemoveAll(spool)
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return fmt.Errorf("spool directory: %w", err)
	}

	var err error
	switch cfg.Database.Driver {
	case "postgres":
		m.db, err = store.OpenPostgres(ctx, cfg.Database.DSN)
	default:
		path := cfg.Database.DSN
		if path == "" {
			path = filepath.Join(cfg.StateDir, "faxbridge.db")
		}
		m.db, err = store.OpenSQLite(ctx, path)
	}
	if err != nil {
		return fmt.Errorf("open job database: %w", err)
	}
	m.closers = append(m.closers, func() { m.db.Close() })
	m.metrics = metrics.New(m.db)

	var media http.Handler
	switch cfg.Storage.Backend {
	case "s3":
		s := cfg.Storage.S3
		s3, err := storage.NewS3(ctx, storage.S3Config{
			Endpoint: s.Endpoint, UseSSL: s.UseSSL, Bucket: s.Bucket, Region: s.Region,
			AccessKey: s.AccessKey, SecretKey: s.SecretKey, Prefix: s.Prefix, CreateBucket: s.CreateBucket,
		})
		if err != nil {
			return fmt.Errorf("open S3 storage: %w", err)
		}
		m.blobs, m.ping = s3, s3.Ping
	default:
		dir := cfg.Storage.Local.Dir
		if dir == "" {
			dir = filepath.Join(cfg.StateDir, "documents")
		}
		secret, err := storage.LoadOrCreateSecret(MediaKeyPath(cfg))
		if err != nil {
			return fmt.Errorf("media signing key: %w", err)
		}
		retired, err := storage.LoadRetiredSecret(MediaKeyPath(cfg))
		if err != nil {
			return fmt.Errorf("retired media signing key: %w", err)
		}
		local, err := storage.NewLocal(storage.LocalConfig{Dir: dir, PublicURL: cfg.HTTP.PublicURL, Secret: secret, Retired: retired})
		if err != nil {
			return fmt.Errorf("open local storage: %w", err)
		}
		m.blobs, m.ping, media = local, local.Ping, local.Handler()
	}

	sw := cfg.SignalWire
	m.fax, err = faxsend.New(faxsend.Config{
		BaseURL:              sw.APIBaseURL(),
		ProjectID:            sw.ProjectID,
		APIToken:             sw.APIToken,
		SigningKey:           sw.SigningKey,
		TTL:                  sw.TTL,
		StoreMedia:           sw.StoreMedia,
		StatusCallbackMethod: sw.StatusCallbackMethod,
		StatusCallbackEvents: sw.StatusCallbackEvents,
		UserAgent:            "faxbridge/" + m.Version,
	})
	if err != nil {
		return fmt.Errorf("SignalWire client: %w", err)
	}

	notifier := m.Notifier
	if notifier == nil {
		if cfg.Mail.Outbox != "" {
			notifier = &notify.Outbox{Dir: cfg.Mail.Outbox}
		} else {
			notifier, err = notify.NewRelay(notify.RelayConfig{
				Addr: cfg.Mail.Relay, TLS: cfg.Mail.TLS, Username: cfg.Mail.Username, Password: cfg.Mail.Password,
				HeloName: cfg.SMTP.Hostname, EnvelopeFrom: cfg.Mail.EnvelopeFrom,
			})
			if err != nil {
				return fmt.Errorf("mail relay: %w", err)
			}
		}
	}

	faxMailer, err := m.faxMailer()
	if err != nil {
		return fmt.Errorf("mail relay: %w", err)
	}

	hostname := cfg.SMTP.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	owner, _ := os.Hostname()
	publicURL := strings.TrimSuffix(cfg.HTTP.PublicURL, "/")
	w := cfg.Worker
	m.svc = jobs.New(jobs.Config{
		Owner:          owner + "/" + faxbridge.NewID()[:8],
		From:           sw.From,
		Quality:        sw.Quality,
		FaxTTL:         time.Duration(sw.TTL) * time.Minute,
		CallbackURL:    func(id, token string) string { return httpd.CallbackURL(publicURL, id, token) },
		ReconcileAfter: w.ReconcileAfter.Duration,

		KeepProviderMedia: sw.KeepMedia,
		SpoolDir:          spool,
		MaxPages:          cfg.Fax.MaxPages,
		MaxDocBytes:       cfg.Fax.MaxDocBytes,
		KeepDocument:      cfg.Storage.KeepDocument,
		Paper:             paper(cfg),
		PaperFor:          paperFor(cfg),
		MaxBuilds:         cfg.Fax.ParallelBuilds,
		LogoPixels:        cfg.Fax.LogoPixels,
		CoverPage:         cfg.Fax.CoverPage,
		Concurrency:       w.Concurrency,
		Lease:             w.Lease.Duration,
		SendTimeout:       w.SendTimeout.Duration,
		PollAfter:         w.PollAfter.Duration,
		PollMax:           w.PollMax.Duration,
		RetryMax:          w.SendRetryMax.Duration,
		GiveUpAfter:       cfg.GiveUpAfter(),
		RedialAttempts:    w.RedialBusy,
		RedialSpacing:     w.RedialSpacing.Duration,
		OrphanAge:         w.OrphanAge.Duration,
		ReportFrom:        cfg.Mail.From,
		Hostname:          hostname,
		ReportRetryFor:    cfg.Mail.RetryFor.Duration,
		FollowUpRetry:     cfg.Mail.RetryAfter.Duration,
		MaskNumbers:       cfg.Log.MaskNumbers,
		Policies:          jobPolicies(cfg),
		MXPolicy:          mxPolicy(cfg),
		ReplayWindow:      cfg.MX.ReplayWindow.Duration,
		OnEvent:           m.metrics.JobEvent,
		Crash:             crashHook(m.Log),

		MaxMessagePixels: cfg.Fax.MaxMessagePixels,

		// Retention and pacing.
		Retain:           cfg.Database.Retain.Duration,
		CreatesPerSecond: sw.CreatesPerSecond,

		// Receiving faxes.
		Inbound: inboundConfig(cfg, m.fax, faxMailer),
	}, m.db, m.blobs, m.fax, notifier, m.Log)

	allow, err := senderauth.ParseAllowlist(cfg.MX.AllowSenders)
	if err != nil {
		return fmt.Errorf("mx.allow_senders: %w", err)
	}
	contacts := make([]address.Contact, 0, len(cfg.Contacts))
	for _, c := range cfg.Contacts {
		contacts = append(contacts, address.Contact{Name: c.Name, To: c.To, SipAuthUsername: c.SipAuthUsername, SipAuthPassword: c.SipAuthPassword})
	}
	book := address.NewBook(cfg.SMTP.Domains, contacts, cfg.SMTP.DefaultRegion, address.Policy{
		AllowCountries: cfg.Fax.Countries(cfg.SMTP.DefaultRegion),
		AllowPrefixes:  cfg.Fax.AllowPrefixes,
		DenyPrefixes:   cfg.Fax.DenyPrefixes,
		AllowPremium:   cfg.Fax.AllowPremium,
	})
	be := backend{book: book, svc: m.svc, policies: senderPolicies(cfg), allow: allow, resolver: m.resolver(), log: m.Log.With("component", "mx")}
	if err := m.newSMTP(hostname, be); err != nil {
		return err
	}
	m.reportHost, m.be = hostname, be
	if m.Offline {
		return nil
	}

	m.newHTTP(publicURL, media)

	m.httpLn, m.smtpLn = m.HTTPListener, m.SMTPListener
	if m.httpLn == nil {
		if m.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
	}
	if err := m.bindMetrics(); err != nil {
		return err
	}
	if err := m.bindConsole(be); err != nil {
		return err
	}
	if err := m.bindDebug(); err != nil {
		return err
	}
	return m.bindSMTP()
}

// paperFor lays pages out for the destination's country when fax.paper is
// auto.
func paperFor(cfg *config.Config) func(string) string {
	if cfg.Fax.Paper != "auto" {
		return nil
	}
	return func(e164 string) string { return document.PaperFor(address.Region(e164)) }
}

func paper(cfg *config.Config) string {
	if cfg.Fax.Paper == "auto" {
		return document.PaperFor(cfg.SMTP.DefaultRegion)
	}
	return cfg.Fax.Paper
}

func (m *Main) resolver() senderauth.Resolver {
	if m.Resolver != nil {
		return m.Resolver
	}
	return &senderauth.NetResolver{}
}

// ready checks the dependencies; health calls it in the background.
func (m *Main) ready(ctx context.Context) error {
	if err := m.db.Ping(ctx); err != nil {
		return err
	}
	return m.ping(ctx)
}

// Run serves until ctx is cancelled, then shuts down in order: stop taking
// mail (letting DATA in progress finish), stop the worker (letting steps in
// flight finish), stop HTTP, close the stores.
func (m *Main) Run(ctx context.Context) error {
	errc := make(chan error, 3)
	workerCtx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		if !m.AcceptOnly {
			m.svc.Run(workerCtx)
		}
	}()
	m.serveMetrics(ctx, errc)
	m.serveConsole(errc)
	m.serveDebug()
	go func() {
		serve := func() error { return m.http.Serve(m.httpLimits().Listener(m.httpLn)) }
		if c := m.Config.HTTP; c.CertFile != "" {
			serve = func() error { return m.http.ServeTLS(m.httpLimits().Listener(m.httpLn), c.CertFile, c.KeyFile) }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	m.serveSMTP(ctx, errc)

	var runErr error
	select {
	case <-ctx.Done():
		m.Log.Info("stopping: no new SMTP sessions; finishing work in flight", "grace", m.ShutdownGrace)
	case runErr = <-errc:
		m.Log.Error("a listener failed; stopping", "err", runErr)
	}
	deadline, cancel := context.WithTimeout(context.Background(), m.ShutdownGrace)
	defer cancel()
	if err := m.smtp.Shutdown(deadline); err != nil {
		m.Log.Warn("SMTP sessions cut off at the shutdown deadline; their senders will retry", "err", err)
	}
	stopWorker()
	select {
	case <-workerDone:
	case <-deadline.Done():
		m.Log.Warn("worker steps still running at the shutdown deadline; they resume after restart")
	}
	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	m.http.Shutdown(hctx)
	if m.metricsSrv != nil {
		m.metricsSrv.Shutdown(hctx)
	}
	if m.consoleSrv != nil {
		m.consoleSrv.Shutdown(hctx)
	}
	hcancel()
	m.Close()
	return runErr
}

// Close releases everything Open acquired.
func (m *Main) Close() {
	m.closeOne.Do(func() {
		if m.smtpLn != nil {
			m.smtpLn.Close()
		}
		if m.httpLn != nil {
			m.httpLn.Close()
		}
		for i := len(m.closers) - 1; i >= 0; i-- {
			m.closers[i]()
		}
	})
}

// backend adapts the address book and the job service to smtpd.
type backend struct {
	book     *address.Book
	svc      *jobs.Service
	policies map[string]config.SenderPolicy
	// For MX listeners: who may send, and DNS for DKIM, SPF and DMARC.
	allow    *senderauth.Allowlist
	resolver senderauth.Resolver
	log      *slog.Logger
}

func (b backend) Resolve(rcpt string) (faxbridge.Recipient, error) { return b.book.Resolve(rcpt) }

// AcceptMessage carries who sent the message into the job: the report goes
// to a user's or a scanner network's configured address when there is one.
func (b backend) AcceptMessage(ctx context.Context, m smtpd.Message, r io.Reader) ([]string, error) {
	env := m.Envelope
	env.ReportTo = m.Identity.ReportTo
	env.Sender = senderOf(m.Identity)
	return b.Accept(ctx, env, r)
}

// AcceptInternet accepts mail from the internet only when its From is proven:
// the message streams through the DKIM/SPF/DMARC verifier while it is
// parsed, and the verdict is taken before anything is stored. A refusal
// is an SMTP reply to the sending server, so nothing is accepted and then
// dropped, and no bounce goes to a forged address.
func (b backend) AcceptInternet(ctx context.Context, m smtpd.Message, r io.Reader) ([]string, error) {
	env := m.Envelope
	env.Sender = senderOf(m.Identity)
	pr, pw := io.Pipe()
	type verdict struct {
		res *senderauth.Result
		err error
	}
	done := make(chan verdict, 1)
	go func() {
		in := senderauth.Input{RemoteIP: net.ParseIP(env.RemoteAddr), Helo: m.Helo, MailFrom: env.MailFrom}
		res, err := senderauth.Verify(ctx, in, pr, b.resolver)
		io.Copy(io.Discard, pr) // never leave the writer blocked
		done <- verdict{res, err}
	}()
	defer pw.CloseWithError(io.ErrUnexpectedEOF) // unblocks the verifier if Accept stops early
	gate := func() (jobs.Proof, error) {
		pw.Close()
		v := <-done
		if v.err != nil {
			return jobs.Proof{}, v.err
		}
		reason, err := senderauth.Decide(v.res, b.allow)
		b.log.Info("inbound sender check", "remote_addr", env.RemoteAddr, "result", v.res.String(), "verdict", reason)
		if err != nil {
			return jobs.Proof{}, err
		}
		return b.provenMessage(v.res, env)
	}
	js, err := b.svc.AcceptVerified(ctx, env, io.TeeReader(r, pw), gate)
	if err != nil {
		return nil, err
	}
	return jobIDs(js), nil
}

// senderOf names who sent a message, as per-sender policies are keyed:
// "user:NAME" or "network:NAME", "" for neither.
func senderOf(id smtpd.Identity) string {
	switch {
	case id.User != "":
		return "user:" + id.User
	case id.Network != "":
		return "network:" + id.Network
	}
	return ""
}

// CheckRecipient applies a sender's own destination rules and fax quotas
// at RCPT time, after the gateway's rules accepted the address.
func (b backend) CheckRecipient(ctx context.Context, id smtpd.Identity, r faxbridge.Recipient, accepted int) error {
	sender := senderOf(id)
	if p, ok := b.policies[sender]; ok && r.Destination.Contact == "" && (p.AllowCountries != nil || p.AllowPrefixes != nil) {
		pol := address.Policy{AllowCountries: p.AllowCountries, AllowPrefixes: p.AllowPrefixes, AllowPremium: true}
		if err := address.Allowed(pol, r.Destination.To); err != nil {
			return err
		}
	}
	return b.svc.CheckQuota(ctx, sender, accepted)
}

func (b backend) Accept(ctx context.Context, env faxbridge.Envelope, r io.Reader) ([]string, error) {
	js, err := b.svc.Accept(ctx, env, r)
	if err != nil {
		return nil, err
	}
	return jobIDs(js), nil
}

// NewLogger builds the daemon's logger from the [log] settings.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// crashHook makes the process die with SIGKILL at a named step when
// FAXBRIDGE_CRASH_AT names it. It exists for the crash tests, which prove
// that every step boundary survives a kill -9; it does nothing unless set.
func crashHook(log *slog.Logger) func(string) {
	at := os.Getenv("FAXBRIDGE_CRASH_AT")
	if at == "" {
		return nil
	}
	steps := map[string]bool{}
	for _, s := range strings.Split(at, ",") {
		steps[strings.TrimSpace(s)] = true
	}
	log.Warn("crash test hook armed", "steps", at)
	return func(step string) {
		if steps[step] {
			log.Warn("crash test hook: killing the process", "step", step)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // SIGKILL is not instant; never run past the crash point
		}
	}
}

// NotifySystemd tells systemd (Type=notify) about our state; a no-op when not
// run by systemd.
func NotifySystemd(state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	if strings.HasPrefix(sock, "@") {
		sock = "\x00" + sock[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}

// jobPolicies keys each user's and network's limits the way senderOf names
// the sender of a message.
func jobPolicies(cfg *config.Config) map[string]jobs.SenderPolicy {
	out := map[string]jobs.SenderPolicy{}
	for key, p := range senderPolicies(cfg) {
		out[key] = jobs.SenderPolicy{FaxFrom: p.FaxFrom, MaxPages: p.MaxPages, FaxesPerHour: p.FaxesPerHour,
			FaxesPerDay: p.FaxesPerDay, PagesPerHour: p.PagesPerHour, PagesPerDay: p.PagesPerDay}
	}
	return out
}

func senderPolicies(cfg *config.Config) map[string]config.SenderPolicy {
	out := map[string]config.SenderPolicy{}
	for _, n := range cfg.SMTP.Networks {
		if !n.SenderPolicy.Empty() {
			out["network:"+n.Name] = n.SenderPolicy
		}
	}
	for _, u := range cfg.Users {
		if !u.SenderPolicy.Empty() {
			out["user:"+u.Name] = u.SenderPolicy
		}
	}
	return out
}

func jobIDs(js []*faxbridge.Job) []string {
	ids := make([]string, len(js))
	for i, j := range js {
		ids[i] = j.ID
	}
	return ids
}

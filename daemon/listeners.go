package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/httpd"
	"github.com/faxbridge/faxbridge/jobs"
	"github.com/faxbridge/faxbridge/senderauth"
	"github.com/faxbridge/faxbridge/smtpd"
)

// The SMTP server's needs are checked here, at compile time: if the backend
// ever lost a method, the build would fail instead of mail skipping a check
// (MXBackend is what lets an mx listener start at all).
var _ smtpd.MXBackend = backend{}

// smtpListener is one bound SMTP port with its policy.
type smtpListener struct {
	ln     net.Listener
	policy smtpd.Listener
	cfg    config.Listener
}

// newSMTP makes the SMTP server from the configuration: users, certificate,
// lockouts and the policy of every listener, all checked before anything
// listens.
func (m *Main) newSMTP(hostname string, be smtpd.Backend) error {
	cfg := m.Config
	users := make([]smtpd.User, 0, len(cfg.Users))
	for i, u := range cfg.Users {
		if err := smtpd.CheckPasswordHash(u.PasswordHash); err != nil {
			return fmt.Errorf("users[%d] (%s): password_hash: %w", i, u.Name, err)
		}
		users = append(users, smtpd.User{Name: u.Name, PasswordHash: u.PasswordHash, ReportTo: u.ReportTo})
	}
	sc := smtpd.Config{
		Hostname:        hostname,
		MaskNumbers:     cfg.Log.MaskNumbers,
		OnResult:        m.metrics.SMTPResult,
		Trusted:         cfg.SMTP.Trusted,
		Network:         func(a netip.Addr) smtpd.Identity { return networkIdentity(&cfg.SMTP, a) },
		Users:           users,
		AuthMaxFailures: cfg.SMTP.AuthMaxFailures,
		AuthLockout:     cfg.SMTP.AuthLockout.Duration,
		MaxMessageBytes: cfg.SMTP.MaxMessageBytes,
		MaxRecipients:   cfg.SMTP.MaxRecipients,
		MaxSessions:     cfg.SMTP.MaxSessions,
		MaxLineLength:   cfg.SMTP.MaxLineLength,
		ReadTimeout:     cfg.SMTP.ReadTimeout.Duration,
		WriteTimeout:    cfg.SMTP.WriteTimeout.Duration,
		DataTimeout:     cfg.SMTP.DataTimeout.Duration,

		MaxSessionsPerClient: cfg.SMTP.MaxSessionsPerClient,
		TrustedSessions:      cfg.SMTP.TrustedSessions,
		StartTimeout:         cfg.SMTP.StartTimeout.Duration,
		AuthUserMaxFailures:  cfg.SMTP.AuthUserMaxFailures,
	}
	if cfg.SMTP.CertFile != "" {
		cert, err := smtpd.LoadCertificate(cfg.SMTP.CertFile, cfg.SMTP.KeyFile)
		if err != nil {
			return err
		}
		m.cert = cert
		sc.TLS = cert.TLSConfig(cfg.SMTP.TLSVersion())
		m.Log.Info("TLS certificate loaded", "subject", cert.Leaf().Subject.String(), "not_after", cert.Leaf().NotAfter)
	}
	m.smtp = smtpd.New(sc, be, m.Log.With("component", "smtp"))

	m.smtpLns = nil
	for _, l := range cfg.SMTP.AllListeners() {
		p := smtpd.Listener{
			Name:         l.Name,
			TLS:          smtpd.TLSMode(l.TLS),
			Auth:         smtpd.AuthMode(l.Auth),
			InsecureAuth: l.InsecureAuth,
			Trusted:      func(a netip.Addr) bool { return cfg.SMTP.TrustedOn(&l, a) },
			MX:           l.MX,
		}
		if err := m.smtp.CheckListener(p); err != nil {
			return err
		}
		m.smtpLns = append(m.smtpLns, smtpListener{policy: p, cfg: l})
	}
	return nil
}

// networkIdentity is the identity a client address is bound to by
// [[smtp.networks]], zero when none.
func networkIdentity(s *config.SMTP, a netip.Addr) smtpd.Identity {
	n, ok := s.Network(a)
	if !ok {
		return smtpd.Identity{}
	}
	return smtpd.Identity{Network: n.Name, ReportTo: n.ReportTo}
}

// bindSMTP binds every SMTP listener, or adopts the ones a test passed in
// (SMTPListener for smtp.listen, SMTPListeners by name for the others).
func (m *Main) bindSMTP() error {
	for i := range m.smtpLns {
		sl := &m.smtpLns[i]
		if sl.cfg.Name == config.DefaultListener {
			sl.ln = m.smtpLn
		} else {
			sl.ln = m.SMTPListeners[sl.cfg.Name]
		}
		if sl.ln == nil {
			ln, err := net.Listen("tcp", sl.cfg.Listen)
			if err != nil {
				return fmt.Errorf("smtp listener %s: %w", sl.cfg.Name, err)
			}
			sl.ln = ln
		}
		if sl.cfg.Name == config.DefaultListener {
			m.smtpLn = sl.ln
		} else {
			ln := sl.ln
			m.closers = append(m.closers, func() { ln.Close() })
		}
	}
	return nil
}

// SMTPAddrOf is the bound address of the named SMTP listener ("" if none).
func (m *Main) SMTPAddrOf(name string) string {
	for _, sl := range m.smtpLns {
		if sl.cfg.Name == name {
			return addrString(sl.ln)
		}
	}
	return ""
}

// ReloadCertificate reads the TLS certificate and key again; on error the
// old pair stays in use.
func (m *Main) ReloadCertificate() error {
	if m.cert == nil {
		return nil
	}
	if err := m.cert.Reload(); err != nil {
		m.Log.Error("TLS certificate reload failed; keeping the certificate in use", "err", err)
		return err
	}
	m.Log.Info("TLS certificate reloaded", "subject", m.cert.Leaf().Subject.String(), "not_after", m.cert.Leaf().NotAfter)
	return nil
}

// serveSMTP serves every listener until ctx ends, reporting a listener that
// fails on errc (without blocking: Run reads only the first), and reloads
// the certificate on SIGHUP.
func (m *Main) serveSMTP(ctx context.Context, errc chan<- error) {
	for _, sl := range m.smtpLns {
		m.Log.Info("SMTP listener ready", "listener", sl.policy.Name, "addr", addrString(sl.ln), "tls", sl.policy.TLS, "auth", sl.policy.Auth)
		go func() {
			if err := m.smtp.ServeListener(sl.ln, sl.policy); err != nil {
				select {
				case errc <- fmt.Errorf("smtp %s: %w", sl.policy.Name, err):
				default:
				}
			}
		}()
	}
	if m.cert == nil {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-hup:
				m.ReloadCertificate()
			case <-ctx.Done():
				return
			}
		}
	}()
}

// httpLimits are the public listener's timeouts and connection cap.
func (m *Main) httpLimits() httpd.Limits {
	h := m.Config.HTTP
	return httpd.Limits{ReadTimeout: h.ReadTimeout.Duration, WriteTimeout: h.WriteTimeout.Duration,
		IdleTimeout: h.IdleTimeout.Duration, MaxConnections: h.MaxConnections}
}

// newHTTP makes the public HTTP server (callbacks, media, health) and the
// readiness monitor behind its /readyz.
func (m *Main) newHTTP(publicURL string, media http.Handler) {
	m.health = &health{log: m.Log.With("component", "health"), check: m.ready}
	if ph, ok := any(m.svc).(providerHealth); ok {
		m.health.provider = ph.ProviderProblem
	}
	m.http = httpd.NewServer(httpd.Handler(httpd.Config{
		PublicURL:    publicURL,
		Callbacks:    m.fax,
		Sink:         m.svc,
		Media:        media,
		Ready:        m.health.Ready,
		Metrics:      m.metrics.Handler(),
		MetricsToken: m.Config.Metrics.Token,
		OnCallback:   m.metrics.Callback,
		Log:          m.Log.With("component", "http"),

		Inbound:         m.fax,
		InboundSink:     m.inboundSink(),
		InboundPageSize: inboundPageSize(m.Config),
	}), m.httpLimits())
}

// bindMetrics binds metrics.listen, or adopts MetricsListener (tests).
func (m *Main) bindMetrics() error {
	if m.MetricsListener == nil && m.Config.Metrics.Listen == "" {
		return nil
	}
	if m.MetricsListener == nil {
		ln, err := net.Listen("tcp", m.Config.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		m.MetricsListener = ln
	}
	ln := m.MetricsListener
	m.closers = append(m.closers, func() { ln.Close() })
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", httpd.MetricsHandler(m.metrics.Handler(), m.Config.Metrics.Token))
	m.metricsSrv = httpd.NewServer(mux, httpd.Limits{ReadTimeout: 10 * time.Second, WriteTimeout: time.Minute, IdleTimeout: time.Minute})
	return nil
}

// MetricsAddr is the metrics listener's address ("" without one).
func (m *Main) MetricsAddr() string { return addrString(m.MetricsListener) }

// serveMetrics serves the metrics listener, and starts the readiness
// monitor (checked once before anything is served).
func (m *Main) serveMetrics(ctx context.Context, errc chan<- error) {
	m.health.refresh(ctx)
	go m.health.run(ctx)
	if m.metricsSrv == nil {
		return
	}
	m.Log.Info("metrics listener ready", "addr", addrString(m.MetricsListener))
	go func() {
		if err := m.metricsSrv.Serve(m.MetricsListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case errc <- fmt.Errorf("metrics: %w", err):
			default:
			}
		}
	}()
}

// MediaKeyPath is the file of the key that signs local document URLs
// (`faxbridge rotate-media-key` replaces it).
func MediaKeyPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "media.key") }

// provenMessage applies jobs.ProveSigned to what the sender's DKIM
// signatures cover, resolving addresses with the book RCPT TO uses.
func (b backend) provenMessage(res *senderauth.Result, env faxbridge.Envelope) (jobs.Proof, error) {
	sig := jobs.Signed{From: res.From, Recipients: res.SignedRecipients(), MessageID: res.SignedMessageID()}
	p, err := jobs.ProveSigned(sig, env, b.book.Resolve)
	if err != nil {
		b.log.Info("inbound message refused: not covered by the sender's signature", "remote_addr", env.RemoteAddr, "from", res.From)
	}
	return p, err
}

// mxPolicy is the [mx] limits of each proven internet sender.
func mxPolicy(cfg *config.Config) *jobs.SenderPolicy {
	m := cfg.MX.MXLimits
	return &jobs.SenderPolicy{MaxPages: m.MaxPages, FaxesPerHour: m.FaxesPerHour, FaxesPerDay: m.FaxesPerDay,
		PagesPerHour: m.PagesPerHour, PagesPerDay: m.PagesPerDay}
}

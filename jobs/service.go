// Package jobs is the application service of faxbridge: it accepts a message
// into durable jobs, and its worker drives every job from submission to the
// provider through its outcome to the report and the document cleanup.
//
// Every step reads the job from the store, does one outside call, and writes
// the result back with an optimistic version check, so a crash, a restart, a
// duplicated callback or a second instance can interrupt any step without
// losing a fax or sending one twice. The rules that make that true:
//
//   - The intent to submit is committed before the provider is called. A job
//     found in StateSubmitting is reconciled with the provider (FindSent)
//     before anything is sent again, twice and reconcile_after apart (see
//     submit.go).
//   - A final job never changes its outcome; late callbacks are ignored.
//   - The report is marked sent only after the relay accepted it; the report
//     carries a Message-ID derived from the job, so the rare resend after a
//     crash in that window is recognisably the same message.
package jobs

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faxbridge/faxbridge"
)

// Config holds the service's policy. Zero durations take the defaults noted.
type Config struct {
	// Owner names this instance in job leases (several instances may share
	// one database).
	Owner string
	// From is the caller ID for faxes; Quality the default quality.
	From    string
	Quality string
	// FaxTTL is how long the provider keeps trying one fax (SignalWire Ttl).
	FaxTTL time.Duration
	// CallbackURL returns the status callback URL for one submission of a
	// job ("" for none): the URL is signed by the provider's callbacks, so
	// the token in it tells which submission a callback is about.
	CallbackURL func(jobID, token string) string

	SpoolDir     string
	MaxPages     int
	MaxDocBytes  int64
	KeepDocument bool

	// MaxMessagePixels bounds the pixels of a message's images together
	// (0: document.DefaultMaxMessagePixels).
	MaxMessagePixels int64

	// Paper is the page size images and cover pages are laid out on:
	// "letter" or "a4".
	Paper string
	// PaperFor, when set, chooses the page size by the destination number
	// instead (Letter for North America, A4 elsewhere); a message to
	// several countries is laid out for its first recipient's.
	PaperFor func(e164 string) string
	// LogoPixels: an image smaller than this many pixels next to a real
	// document is taken for a signature logo and not faxed (0: default).
	LogoPixels int
	// CoverPage: "auto" renders subject and body as a cover page only when
	// the message has no document, "always" puts one before every fax,
	// "never" refuses messages without a document.
	CoverPage string
	// MaxBuilds bounds how many messages are validated and merged at once:
	// the PDF library holds a document in memory while it checks it, so
	// this, with the document size limit, bounds memory however many SMTP
	// sessions deliver at the same time. Default: the number of CPUs.
	MaxBuilds int

	Concurrency int           // parallel steps, default 4
	Lease       time.Duration // how long a claim holds a job, default 2m
	SendTimeout time.Duration // one provider call, default 60s
	// ReconcileAfter is how long after a submission whose answer was lost
	// the provider is first asked whether it has the fax, and how long
	// after that it is asked again; two empty listings send it again.
	// Default 5m, never less than twice SendTimeout.
	ReconcileAfter time.Duration
	PollAfter      time.Duration // first poll after submission, default 2m
	PollMax        time.Duration // longest gap between polls, default 10m
	RetryMax       time.Duration // longest backoff after a temporary error, default 10m
	GiveUpAfter    time.Duration // no outcome this long after submission: expired, default FaxTTL+2h
	// RedialAttempts is how many more times a busy or unanswered fax is
	// tried, RedialSpacing the wait between tries (like a fax machine's redial).
	RedialAttempts int
	RedialSpacing  time.Duration
	// OrphanAge is how old an upload without a job must be before the
	// janitor deletes it (an upload is committed within seconds), default 1h.
	OrphanAge time.Duration

	// FollowUpRetry is the first wait before a failed report or cleanup is
	// tried again (doubling up to 30m), default 30s.
	FollowUpRetry time.Duration

	// KeepProviderMedia keeps the provider's copy of a sent fax's
	// document; by default it is deleted once the report is settled.
	KeepProviderMedia bool

	ReportFrom     string        // From header of reports
	Hostname       string        // for report Message-IDs
	ReportRetryFor time.Duration // how long an unavailable relay is retried, default 48h

	// Policies holds per-sender limits, by Job.Sender.
	Policies map[string]SenderPolicy

	// Mail from the internet (MX listeners, see AcceptVerified): MXPolicy
	// limits each proven sender address (nil: no limit); a message whose
	// signed Message-ID was faxed within ReplayWindow is refused.
	MXPolicy     *SenderPolicy
	ReplayWindow time.Duration

	// MaskNumbers hides most digits of fax numbers in log lines.
	MaskNumbers bool

	// OnEvent, when set, is told of job events (metrics): "submitted",
	// "provider_error", "outcome" with the outcome, "report" with sent,
	// retry or abandoned.
	OnEvent func(event, value string)

	// Crash, when set, is called at named step boundaries; crash tests make
	// it kill the process to prove that every boundary is safe.
	Crash func(step string)

	// Retention and pacing (see retain.go and pace.go).

	// Retain is how long a settled job stays in the store, default 90 days.
	// PurgeBatch (default 200) is how many are deleted per transaction,
	// PurgePause (default 200ms) the rest between two batches: short
	// write transactions with room between them, so accepting mail never
	// waits long behind retention.
	Retain     time.Duration
	PurgeBatch int
	PurgePause time.Duration
	// CreatesPerSecond paces fax creation at the provider across every
	// instance on the store; 0 does not pace.
	CreatesPerSecond float64

	// Inbound configures receiving faxes (see inbound.go); without an
	// Inbox and a Mailer nothing is received.
	Inbound InboundConfig
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.MaxBuilds <= 0 {
		c.MaxBuilds = runtime.NumCPU()
	}
	if c.CoverPage == "" {
		c.CoverPage = "auto"
	}
	if c.Paper == "" {
		c.Paper = "letter"
	}
	if c.Quality == "" {
		c.Quality = "fine"
	}
	def(&c.FaxTTL, time.Hour)
	def(&c.Lease, 2*time.Minute)
	def(&c.SendTimeout, time.Minute)
	def(&c.ReconcileAfter, 5*time.Minute)
	if c.ReconcileAfter < 2*c.SendTimeout {
		c.ReconcileAfter = 2 * c.SendTimeout
	}
	def(&c.PollAfter, 2*time.Minute)
	def(&c.PollMax, 10*time.Minute)
	def(&c.RetryMax, 10*time.Minute)
	def(&c.GiveUpAfter, c.FaxTTL+2*time.Hour)
	def(&c.RedialSpacing, 5*time.Minute)
	def(&c.ReportRetryFor, 48*time.Hour)
	def(&c.FollowUpRetry, 30*time.Second)
	def(&c.OrphanAge, time.Hour)
	def(&c.Retain, 90*24*time.Hour)
	def(&c.PurgePause, 200*time.Millisecond)
	if c.PurgeBatch <= 0 {
		c.PurgeBatch = 200
	}
	if c.Owner == "" {
		c.Owner = faxbridge.NewID()
	}
	c.Inbound.defaults()
}

// Service accepts messages and runs jobs.
type Service struct {
	cfg      Config
	store    faxbridge.JobStore
	blobs    faxbridge.BlobStore
	fax      faxbridge.FaxProvider
	notifier faxbridge.Notifier
	log      *slog.Logger
	now      func() time.Time
	wake     chan struct{}
	builds   chan struct{}

	// The handoff of jobs to this process's worker (handoff.go): workerOn
	// is set while Run runs; handoffRoom holds a token per reserved place
	// in handoff, and handedOff wakes the worker for them.
	workerOn    atomic.Bool
	handoff     chan *faxbridge.Job
	handoffRoom chan struct{}
	handedOff   chan struct{}

	mu         sync.Mutex
	inflight   map[string]bool // jobs with a step running in this process
	accountErr error           // the provider refuses our account (see noteProvider)

	// sleep waits d or until ctx ends (tests replace it to move a fake clock).
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a Service. Run starts its worker.
func New(cfg Config, store faxbridge.JobStore, blobs faxbridge.BlobStore, fax faxbridge.FaxProvider, notifier faxbridge.Notifier, log *slog.Logger) *Service {
	cfg.defaults()
	return &Service{
		cfg:      cfg,
		store:    store,
		blobs:    blobs,
		fax:      fax,
		notifier: notifier,
		log:      log,
		now:      time.Now,
		sleep:    sleepCtx,
		wake:     make(chan struct{}, 1),
		builds:   make(chan struct{}, cfg.MaxBuilds),
		inflight: map[string]bool{},

		handoff:     make(chan *faxbridge.Job, cfg.Concurrency),
		handoffRoom: make(chan struct{}, cfg.Concurrency),
		handedOff:   make(chan struct{}, 1),
	}
}

// Wake makes the worker look for due jobs now instead of at its next timer.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) crash(step string) {
	if s.cfg.Crash != nil {
		s.cfg.Crash(step)
	}
}

// backoff returns an exponential delay for the n-th consecutive failure
// (n >= 1), capped, with ±20% jitter so that many jobs waiting on one outage
// do not all return at the same instant.
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	jitter := time.Duration(float64(d) * (rand.Float64()*0.4 - 0.2))
	return d + jitter
}

// retryDelay is the wait after a temporary error: the other side's
// Retry-After when it gave one, otherwise exponential backoff.
func (s *Service) retryDelay(err error, n int) time.Duration {
	if ra := faxbridge.RetryAfter(err); ra > 0 {
		if ra > s.cfg.RetryMax*6 {
			ra = s.cfg.RetryMax * 6
		}
		return ra
	}
	return backoff(n, 5*time.Second, s.cfg.RetryMax)
}

// ctxFor bounds one outside call. Steps run on a context that shutdown does
// not cancel: abandoning a provider call half-way is what creates ambiguous
// submissions, so a started call is allowed to finish within its timeout.
func (s *Service) ctxFor(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SendTimeout)
}

// number is how a fax number appears in the log.
func (s *Service) number(n string) string {
	if s.cfg.MaskNumbers {
		return faxbridge.MaskNumbers(n)
	}
	return n
}

func (s *Service) event(name, value string) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(name, value)
	}
}

package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/address"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/document"
	"github.com/faxbridge/faxbridge/faxsend"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
	"github.com/faxbridge/faxbridge/httpd"
	"github.com/faxbridge/faxbridge/jobs"
	"github.com/faxbridge/faxbridge/smtpd"
	"github.com/faxbridge/faxbridge/storage"
	"github.com/faxbridge/faxbridge/store"
)

// daemon is faxbridge wired the way `faxbridge serve` wires it with SQLite
// and local storage. cmd/faxbridge is a main package and cannot be imported,
// so the wiring is repeated here; it follows cmd/faxbridge/app.go and must be
// kept in step with it when the accept path gains a stage.
type daemon struct {
	smtpAddr string
	db       *store.DB
	docs     string // local storage directory
}

// daemonOptions choose what runs besides the SMTP server.
type daemonOptions struct {
	// worker runs the job worker against an in-process SignalWire
	// simulator, as in production, so that submissions, callbacks and
	// cleanups compete with the accepting sessions for the database and
	// the CPU. Without it only the accept path runs.
	worker bool
}

const (
	simProject = "bench-project"
	simToken   = "bench-token"
	simKey     = "PSK_bench"
	faxDomain  = "fax.example.com"
	faxRcpt    = "15551234567@" + faxDomain
	sender     = "sender@example.org"
)

// discardNotifier takes reports and drops them: the relay is not what is
// measured.
type discardNotifier struct{}

func (discardNotifier) Notify(context.Context, faxbridge.Report) error { return nil }

// startDaemon starts a daemon in a fresh directory and stops it in
// b.Cleanup. Logs are formatted as in production and then discarded, so
// that their cost is counted but they do not flood the benchmark output.
func startDaemon(tb testing.TB, opt daemonOptions) *daemon {
	tb.Helper()
	ctx := context.Background()
	cfg := config.Defaults()
	dir := tb.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))

	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "faxbridge.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })

	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { httpLn.Close() })
	publicURL := "http://" + httpLn.Addr().String()
	secret, err := storage.LoadOrCreateSecret(filepath.Join(dir, "media.key"))
	if err != nil {
		tb.Fatal(err)
	}
	docs := filepath.Join(dir, "documents")
	local, err := storage.NewLocal(storage.LocalConfig{Dir: docs, PublicURL: publicURL, Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}

	var fax *faxsend.Client
	simURL := "http://127.0.0.1:1" // never called without the worker
	if opt.worker {
		sim, err := signalwiretest.Start(signalwiretest.Config{
			ProjectID: simProject, APIToken: simToken, SigningKey: simKey,
			StepDelay: 5 * time.Millisecond, RetryDelay: 10 * time.Millisecond,
		})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { sim.Close() })
		simURL = sim.URL()
	}
	sw := cfg.SignalWire
	fax, err = faxsend.New(faxsend.Config{
		BaseURL: simURL, ProjectID: simProject, APIToken: simToken, SigningKey: simKey,
		TTL: sw.TTL, StatusCallbackMethod: sw.StatusCallbackMethod, StatusCallbackEvents: sw.StatusCallbackEvents,
	})
	if err != nil {
		tb.Fatal(err)
	}

	spool := filepath.Join(dir, "spool")
	w := cfg.Worker
	// Under load a fax's final callback can arrive before the worker has
	// recorded its SID; it is then answered 404 and the outcome waits for
	// the first poll (2 minutes by default). Polling soon keeps the wait
	// between rounds short; it does not change what is timed.
	w.PollAfter.Duration, w.PollMax.Duration = 2*time.Second, 5*time.Second
	svc := jobs.New(jobs.Config{
		Owner:          "bench",
		From:           "+15550100000",
		Quality:        sw.Quality,
		FaxTTL:         time.Duration(sw.TTL) * time.Minute,
		CallbackURL:    func(id string) string { return publicURL + httpd.CallbackPath + "?job=" + id },
		SpoolDir:       spool,
		MaxPages:       cfg.Fax.MaxPages,
		MaxDocBytes:    cfg.Fax.MaxDocBytes,
		Paper:          document.PaperFor(cfg.SMTP.DefaultRegion), // paper = "auto"
		LogoPixels:     cfg.Fax.LogoPixels,
		CoverPage:      cfg.Fax.CoverPage,
		Concurrency:    w.Concurrency,
		Lease:          w.Lease.Duration,
		SendTimeout:    w.SendTimeout.Duration,
		PollAfter:      w.PollAfter.Duration,
		PollMax:        w.PollMax.Duration,
		RetryMax:       w.SendRetryMax.Duration,
		GiveUpAfter:    cfg.GiveUpAfter(),
		RedialAttempts: w.RedialBusy,
		RedialSpacing:  w.RedialSpacing.Duration,
		OrphanAge:      w.OrphanAge.Duration,
		ReportFrom:     "Fax <fax@bench.example>",
		Hostname:       "bench.example",
		ReportRetryFor: cfg.Mail.RetryFor.Duration,
		FollowUpRetry:  cfg.Mail.RetryAfter.Duration,
		MaskNumbers:    cfg.Log.MaskNumbers,
	}, db, local, fax, discardNotifier{}, log)

	hsrv := &http.Server{
		Handler: httpd.Handler(httpd.Config{
			PublicURL: publicURL, Callbacks: fax, Sink: svc, Media: local.Handler(), Log: log,
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go hsrv.Serve(httpLn)
	tb.Cleanup(func() { hsrv.Close() })

	if opt.worker {
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			svc.Run(wctx)
		}()
		tb.Cleanup(func() {
			stop()
			<-done
		})
	}

	region := cfg.SMTP.DefaultRegion
	book := address.NewBook([]string{faxDomain}, nil, region, address.Policy{
		AllowCountries: cfg.Fax.Countries(region),
		AllowPrefixes:  cfg.Fax.AllowPrefixes,
		DenyPrefixes:   cfg.Fax.DenyPrefixes,
		AllowPremium:   cfg.Fax.AllowPremium,
	})
	srv := smtpd.New(smtpd.Config{
		Hostname:        "bench.example",
		MaskNumbers:     cfg.Log.MaskNumbers,
		Trusted:         func(a netip.Addr) bool { return a.IsLoopback() },
		MaxMessageBytes: cfg.SMTP.MaxMessageBytes,
		MaxRecipients:   cfg.SMTP.MaxRecipients,
		MaxSessions:     cfg.SMTP.MaxSessions,
		MaxLineLength:   cfg.SMTP.MaxLineLength,
		ReadTimeout:     cfg.SMTP.ReadTimeout.Duration,
		WriteTimeout:    cfg.SMTP.WriteTimeout.Duration,
		DataTimeout:     cfg.SMTP.DataTimeout.Duration,
	}, backend{book: book, svc: svc}, log)
	smtpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(smtpLn)
	}()
	tb.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		smtpLn.Close()
		<-served
	})
	return &daemon{smtpAddr: smtpLn.Addr().String(), db: db, docs: docs}
}

// backend is the same adapter as cmd/faxbridge's: the address book resolves
// RCPT TO, the job service accepts DATA.
type backend struct {
	book *address.Book
	svc  *jobs.Service
}

func (b backend) Resolve(rcpt string) (faxbridge.Recipient, error) { return b.book.Resolve(rcpt) }

func (b backend) Accept(ctx context.Context, env faxbridge.Envelope, r io.Reader) ([]string, error) {
	js, err := b.svc.Accept(ctx, env, r)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(js))
	for i, j := range js {
		ids[i] = j.ID
	}
	return ids, nil
}

// waitIdle blocks until the worker has nothing left to do, so that one
// benchmark round's faxes are not still being worked on in the next one.
func (d *daemon) waitIdle(tb testing.TB, limit time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		active, err := d.db.List(context.Background(), faxbridge.JobFilter{Active: true, Limit: 1})
		if err != nil {
			tb.Fatal(err)
		}
		if len(active) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal(errors.New("worker still busy after " + limit.String()))
		}
		<-tick.C
	}
}

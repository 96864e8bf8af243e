package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/daemon"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

// running is a daemon started for a benchmark.
type running struct {
	smtpAddr string
	db       faxbridge.JobStore
	docs     string // local storage directory
}

type daemonOptions struct {
	worker bool // send the faxes too (through the simulator), not only accept
}

const (
	simProject = "bench-project"
	simToken   = "bench-token"
	simKey     = "PSK_bench"
	faxDomain  = "fax.example.com"
	faxRcpt    = "15551234567@" + faxDomain
	sender     = "sender@example.org"
)

type discardNotifier struct{}

func (discardNotifier) Notify(context.Context, faxbridge.Report) error { return nil }

// startDaemon runs the daemon exactly as `faxbridge serve` wires it
// (daemon.Main), on the default configuration with SQLite and local storage.
func startDaemon(tb testing.TB, opt daemonOptions) *running {
	tb.Helper()
	dir := tb.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	smtpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
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

	cfg := config.Defaults()
	cfg.StateDir = dir
	cfg.SMTP.Domains = []string{faxDomain}
	cfg.SMTP.Hostname = "bench.example"
	cfg.HTTP.PublicURL = "http://" + httpLn.Addr().String()
	cfg.SignalWire.BaseURL = simURL
	cfg.SignalWire.ProjectID, cfg.SignalWire.APIToken, cfg.SignalWire.SigningKey = simProject, simToken, simKey
	cfg.SignalWire.From = "+15550100000"
	cfg.Mail.Outbox = filepath.Join(dir, "outbox") // unused: reports are discarded
	cfg.Mail.From = "Fax <fax@bench.example>"
	cfg.Worker.PollAfter.Duration, cfg.Worker.PollMax.Duration = 2*time.Second, 5*time.Second
	// Unpaced: the benchmarks measure what faxbridge costs per fax, not
	// the provider's pace.
	cfg.SignalWire.CreatesPerSecond = 0
	if p := cfg.Check(); len(p) > 0 {
		tb.Fatal(p)
	}

	m := daemon.NewMain(&cfg, log)
	m.Notifier = discardNotifier{}
	m.SMTPListener, m.HTTPListener = smtpLn, httpLn
	m.AcceptOnly = !opt.worker
	if err := m.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	tb.Cleanup(func() {
		stop()
		<-done
	})
	return &running{smtpAddr: smtpLn.Addr().String(), db: m.Store(), docs: filepath.Join(dir, "documents")}
}

// waitIdle blocks until the worker has nothing left to do, so that one
// benchmark round's faxes are not still being worked on in the next one.
func (d *running) waitIdle(tb testing.TB, limit time.Duration) {
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

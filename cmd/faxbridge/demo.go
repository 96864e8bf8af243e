package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"flag"
	"fmt"
	"github.com/faxbridge/faxbridge/daemon"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
	"github.com/faxbridge/faxbridge/httpd"
)

//go:embed sample.pdf
var samplePDF []byte

// demoConfig is the embedded default: everything on this machine, nothing
// outside, no credentials to find.
func demoConfig(dir, smtpAddr, httpAddr, simURL, token, key string) *config.Config {
	cfg := config.Defaults()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.SMTP.Listen = smtpAddr
	cfg.SMTP.Domains = []string{"fax.example.com"}
	cfg.SMTP.Hostname = "localhost"
	cfg.HTTP.Listen = httpAddr
	cfg.HTTP.PublicURL = "http://" + httpAddr
	cfg.SignalWire.BaseURL = simURL
	cfg.SignalWire.ProjectID = "demo-project"
	cfg.SignalWire.APIToken = token
	cfg.SignalWire.SigningKey = key
	cfg.SignalWire.From = demoNumber
	cfg.Storage.Backend = "local"
	cfg.Mail.Outbox = filepath.Join(dir, "outbox")
	cfg.Mail.From = "Fax Demo <fax@localhost>"
	// The simulator answers in milliseconds; poll soon so a lost callback
	// is noticed while you watch.
	cfg.Worker.PollAfter = config.Duration{Duration: 5 * time.Second}
	cfg.Worker.PollMax = config.Duration{Duration: 30 * time.Second}
	// Faxes to the demo number arrive as mail in the outbox; a lost
	// callback is found within half a minute.
	cfg.Inbound.Routes = []config.InboundRoute{{Number: demoNumber, MailTo: []string{"Front Desk <frontdesk@localhost>"}}}
	cfg.Inbound.PollEvery = config.Duration{Duration: 30 * time.Second}
	return &cfg
}

// demoNumber is the demo's SignalWire number: faxes go out from it and
// come in to it.
const demoNumber = "+15550100000"

// demoInbound points the simulator's demo number at the daemon's fax
// webhook, as a SignalWire number set to handle faxes with LaML webhooks.
func demoInbound(sim *signalwiretest.Server, cfg *config.Config) {
	sim.SetFaxWebhook(demoNumber, strings.TrimSuffix(cfg.HTTP.PublicURL, "/")+httpd.InboundPath, "POST")
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "faxbridge-demo", "directory for the demo's state, documents and outbox")
	smtpAddr := fs.String("smtp", "127.0.0.1:2525", "SMTP listen address")
	httpAddr := fs.String("http", "127.0.0.1:8080", "HTTP listen address (callbacks and media)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "faxbridge demo:", err)
		return 1
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		fmt.Fprintln(stderr, "faxbridge demo:", err)
		return 1
	}
	token, key := randomHex(16), "PSK_"+randomHex(16)

	log := daemon.NewLogger(config.Log{Level: "info", Format: "text"}, stderr)
	sim, err := signalwiretest.Start(signalwiretest.Config{
		ProjectID:  "demo-project",
		APIToken:   token,
		SigningKey: key,
		StepDelay:  500 * time.Millisecond,
		Logf:       func(f string, a ...any) { log.Info("simulator: " + fmt.Sprintf(f, a...)) },
	})
	if err != nil {
		fmt.Fprintln(stderr, "faxbridge demo: start simulator:", err)
		return 1
	}
	defer sim.Close()

	cfg := demoConfig(abs, *smtpAddr, *httpAddr, sim.URL(), token, key)
	if probs := cfg.Check(); len(probs) > 0 {
		fmt.Fprintln(stderr, "faxbridge demo:", probs)
		return 1
	}
	demoInbound(sim, cfg)
	sample := filepath.Join(abs, "sample.pdf")
	if err := os.WriteFile(sample, samplePDF, 0o644); err != nil {
		fmt.Fprintln(stderr, "faxbridge demo:", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := daemon.NewMain(cfg, log)
	m.Version = version
	m.ShutdownGrace = 5 * time.Second
	if err := m.Open(ctx); err != nil {
		log.Error("cannot start", "err", err)
		m.Close()
		return 1
	}
	fmt.Fprintf(stdout, `
faxbridge demo is running.
  SMTP:      %[1]s   (fax domain: fax.example.com)
  HTTP:      http://%[2]s   (status callbacks, media, /healthz)
  SignalWire simulator: %[3]s
  Reports:   %[4]s/*.eml

Send a fax (in another terminal):
  swaks --server %[1]s --from you@example.com --to 15551234567@fax.example.com \
        --header "Subject: demo" --body "see attached" \
        --attach-type application/pdf --attach-name sample.pdf --attach @%[5]s

or with curl:
  curl --url smtp://%[1]s --mail-from you@example.com --mail-rcpt 15551234567@fax.example.com \
       -H "From: you@example.com" -H "Subject: demo" -F "=see attached;type=text/plain" \
       -F "=@%[5]s;type=application/pdf;encoder=base64"

A "delivered" report appears in the outbox a few seconds later.

Make a fax arrive on the demo number %[6]s (it is routed to the outbox):
  curl -u demo-project:%[7]s --data-binary @%[5]s -H "Content-Type: application/pdf" \
       "%[3]s/simulator/receive?From=%%2B15557654321&To=%%2B%[8]s"

A mail "Fax from +15557654321" with the PDF attached appears in the outbox
within seconds. Ctrl-C stops.
`, m.SMTPAddr(), m.HTTPAddr(), sim.URL(), cfg.Mail.Outbox, sample, demoNumber, token, strings.TrimPrefix(demoNumber, "+"))
	if err := m.Run(ctx); err != nil {
		log.Error("stopped with error", "err", err)
		return 1
	}
	return 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

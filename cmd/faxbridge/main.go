// Command faxbridge is an email-to-fax gateway: mail to <number>@<fax domain>
// becomes a fax sent through SignalWire, and the sender gets a report.
//
//	faxbridge serve -config FILE         run the daemon
//	faxbridge demo [-dir DIR]            run everything on this machine, no outside service
//	faxbridge check-config -config FILE  list every problem in a config file
//	faxbridge jobs -config FILE list|show|retry|cancel
//	faxbridge send -config FILE -to NUMBER FILE...  fax files without email
//	faxbridge passwd [-argon2id]         print a password hash for [[users]]
//	faxbridge rotate-media-key -config FILE  replace the key of local document URLs
//	faxbridge version                    print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/faxbridge/faxbridge/daemon"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/faxbridge/faxbridge/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "jobs":
		return cmdJobs(args[1:], stdout, stderr)
	case "send":
		return cmdSend(args[1:], stdout, stderr)
	case "passwd":
		return cmdPasswd(args[1:], os.Stdin, stdout, stderr)
	case "rotate-media-key":
		return cmdRotateMediaKey(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "faxbridge", version)
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "faxbridge: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  faxbridge serve -config FILE         run the gateway
  faxbridge demo [-dir DIR]            run a self-contained demo (local storage, SQLite,
                                       built-in SignalWire simulator, reports to an outbox)
  faxbridge check-config -config FILE  check a configuration file and list every problem
  faxbridge jobs -config FILE list|show|retry|cancel   inspect and steer jobs
                                       (--json for machine-readable output)
  faxbridge send -config FILE -to NUMBER FILE...   fax files without email and
                                       print progress until the outcome (-no-wait)
  faxbridge passwd [-argon2id]         read a password on standard input, print its
                                       hash for a [[users]] entry
  faxbridge rotate-media-key -config FILE  replace the key of local document URLs
                                       (the old one verifies its URLs until they expire)
  faxbridge version                    print the version
`)
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/faxbridge/faxbridge.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	var probs config.Problems
	switch {
	case errors.As(err, &probs):
		fmt.Fprintf(stderr, "%s: %d problem(s):\n", *path, len(probs))
		for _, p := range probs {
			fmt.Fprintf(stderr, "  - %s\n", p)
		}
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		return 1
	}
	for _, w := range cfg.Warnings(*path) {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

func cmdServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/faxbridge/faxbridge.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "faxbridge: %s: %v\n", *path, err)
		return 1
	}
	log := daemon.NewLogger(cfg.Log, stderr)
	for _, w := range cfg.Warnings(*path) {
		log.Warn(w)
	}
	daemon.SetMemoryLimit(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP reloads the TLS certificate when one is configured; without
	// one, `systemctl reload` must not kill the daemon.
	signal.Ignore(syscall.SIGHUP)
	m := daemon.NewMain(cfg, log)
	m.Version = version
	if err := m.Open(ctx); err != nil {
		log.Error("cannot start", "err", err)
		m.Close()
		return 1
	}
	daemon.NotifySystemd("READY=1")
	log.Info("faxbridge running", "version", version, "smtp", m.SMTPAddr(), "http", m.HTTPAddr())
	err = m.Run(ctx)
	daemon.NotifySystemd("STOPPING=1")
	if err != nil {
		log.Error("stopped with error", "err", err)
		return 1
	}
	log.Info("faxbridge stopped")
	return 0
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/address"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/console"
	"github.com/faxbridge/faxbridge/daemon"
)

const sendUsage = `usage:
  faxbridge send [-config FILE] -to NUMBER [-subject TEXT] [-cover TEXT] [-no-wait] [-json] FILE...

Faxes PDF, TIFF, JPEG or PNG files without email, with the same checks as
mail. The running gateway (faxbridge serve, sharing the job database and
storage) sends it; send waits and prints progress until the fax is final
(exit 0 when delivered, 1 otherwise), or with -no-wait prints the job ID.
`

// pollEvery is how often send looks at the job while it waits.
const pollEvery = time.Second

func cmdSend(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sendUsage) }
	path := fs.String("config", "/etc/faxbridge/faxbridge.toml", "configuration file")
	to := fs.String("to", "", "fax number (or contact name)")
	subject := fs.String("subject", "", "subject, shown in the console and the job list")
	cover := fs.String("cover", "", "text of a cover page before the documents")
	noWait := fs.Bool("no-wait", false, "return once the fax is queued")
	asJSON := fs.Bool("json", false, "print the final job as JSON")
	wait := fs.Duration("wait", 3*time.Hour, "give up waiting after this long (the fax goes on)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *to == "" || (fs.NArg() == 0 && strings.TrimSpace(*cover) == "") {
		fs.Usage()
		return 2
	}
	var files []console.File
	for _, p := range fs.Args() {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(stderr, "faxbridge send:", err)
			return 1
		}
		files = append(files, console.File{Name: filepath.Base(p), Data: data})
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "faxbridge: %s: %v\n", *path, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := daemon.NewMain(cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	m.Offline = true
	if err := m.Open(ctx); err != nil {
		fmt.Fprintln(stderr, "faxbridge send:", err)
		m.Close()
		return 1
	}
	defer m.Close()
	jobs, err := m.Send(ctx, *to, *subject, *cover, files)
	if err != nil {
		fmt.Fprintln(stderr, "faxbridge send: refused:", faxbridge.ErrorMessage(err))
		return 1
	}
	j := jobs[0]
	fmt.Fprintf(stdout, "queued: job %s, %d page(s) to %s\n", j.ID, j.Pages, address.Format(j.Destination.To))
	if *noWait {
		return 0
	}
	return followJob(ctx, m.Store(), j.ID, *wait, *asJSON, stdout, stderr)
}

// followJob prints each change of a job until it is final.
func followJob(ctx context.Context, st faxbridge.JobStore, id string, wait time.Duration, asJSON bool, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	last := ""
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		j, err := st.Get(ctx, id)
		if err != nil && ctx.Err() == nil {
			fmt.Fprintln(stderr, "faxbridge send:", faxbridge.ErrorMessage(err))
			return 1
		}
		if err == nil {
			if line := progress(j); line != last {
				fmt.Fprintln(stdout, line)
				last = line
			}
			if j.Final() {
				if asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					redact(j)
					enc.Encode(j)
				}
				if j.Outcome == faxbridge.OutcomeDelivered {
					return 0
				}
				return 1
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "faxbridge send: stopped waiting; the fax goes on (faxbridge jobs show %s)\n", id)
			return 1
		case <-t.C:
		}
	}
}

// progress is one line about where a job is.
func progress(j *faxbridge.Job) string {
	switch {
	case j.Final():
		s := j.Outcome
		if j.Reason != "" {
			s += ": " + j.Reason
		}
		if j.NumPages > 0 {
			s += fmt.Sprintf(" (%d page(s) sent)", j.NumPages)
		}
		return s
	case j.State == faxbridge.StateSending:
		s := "sending"
		if j.FaxStatus != "" {
			s += ", provider says " + j.FaxStatus
		}
		return s + fmt.Sprintf(" (attempt %d, SID %s)", len(j.Attempts), j.FaxSID)
	case j.LastError != "":
		return fmt.Sprintf("%s; waiting to retry: %s", j.State, j.LastError)
	}
	return string(j.State) + " (waiting for the gateway to send it)"
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/faxsend"
	"github.com/faxbridge/faxbridge/jobs"
	"github.com/faxbridge/faxbridge/store"
)

const jobsUsage = `usage:
  faxbridge jobs [-config FILE] list [-state STATE] [-direction outbound|inbound] [-active] [-n N] [--json]
  faxbridge jobs [-config FILE] show ID     (always JSON; --json is accepted)
  faxbridge jobs [-config FILE] retry ID    do the job's pending step now
  faxbridge jobs [-config FILE] cancel ID   cancel a fax not yet sent
`

// cmdJobs is the operator's view of the job store. It works beside a
// running daemon: the database is shared and every change is a versioned
// update, so the daemon and this command cannot overwrite each other.
func cmdJobs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/faxbridge/faxbridge.toml", "configuration file")
	fs.Usage = func() { fmt.Fprint(stderr, jobsUsage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "faxbridge: %s: %v\n", *path, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "faxbridge:", err)
		return 1
	}
	defer db.Close()

	sub, rest := fs.Arg(0), fs.Args()[1:]
	switch sub {
	case "list":
		return jobsList(ctx, db, rest, stdout, stderr)
	case "show", "retry", "cancel":
		// Their output is JSON already; --json is accepted for symmetry
		// with list, so scripts can pass it everywhere.
		rest = slices.DeleteFunc(rest, func(a string) bool { return a == "-json" || a == "--json" })
		if len(rest) != 1 {
			fs.Usage()
			return 2
		}
		var j *faxbridge.Job
		switch sub {
		case "show":
			j, err = db.Get(ctx, rest[0])
		case "retry":
			j, err = adminService(cfg, db).RetryNow(ctx, rest[0])
		case "cancel":
			j, err = adminService(cfg, db).Cancel(ctx, rest[0])
		}
		if err != nil {
			fmt.Fprintf(stderr, "faxbridge: %s %s: %s\n", sub, rest[0], faxbridge.ErrorMessage(err))
			return 1
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		redact(j)
		enc.Encode(j)
		return 0
	}
	fs.Usage()
	return 2
}

func openStore(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	if cfg.Database.Driver == "postgres" {
		return store.OpenPostgres(ctx, cfg.Database.DSN)
	}
	path := cfg.Database.DSN
	if path == "" {
		path = filepath.Join(cfg.StateDir, "faxbridge.db")
	}
	return store.OpenSQLite(ctx, path)
}

// adminService is a job service without a worker, for operator commands.
func adminService(cfg *config.Config, db faxbridge.JobStore) *jobs.Service {
	sw := cfg.SignalWire
	fax, _ := faxsend.New(faxsend.Config{BaseURL: sw.APIBaseURL(), ProjectID: sw.ProjectID, APIToken: sw.APIToken, SigningKey: sw.SigningKey})
	var provider faxbridge.FaxProvider
	if fax != nil {
		provider = fax
	}
	return jobs.New(jobs.Config{ReportRetryFor: cfg.Mail.RetryFor.Duration}, db, nil, provider, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func jobsList(ctx context.Context, db faxbridge.JobStore, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jobs list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "", "only jobs in this state (queued, submitting, sending, done)")
	active := fs.Bool("active", false, "only jobs with work left")
	n := fs.Int("n", 50, "at most this many jobs, newest first")
	asJSON := fs.Bool("json", false, "print the jobs as a JSON array")
	direction := fs.String("direction", "", "only faxes sent (outbound) or received (inbound)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch faxbridge.Direction(*direction) {
	case "", faxbridge.Outbound, faxbridge.Inbound:
	default:
		fmt.Fprintf(stderr, "faxbridge: -direction %q: use outbound or inbound\n", *direction)
		return 2
	}
	list, err := db.List(ctx, faxbridge.JobFilter{State: faxbridge.State(*state), Direction: faxbridge.Direction(*direction), Active: *active, Limit: *n})
	if err != nil {
		fmt.Fprintln(stderr, "faxbridge:", err)
		return 1
	}
	if *asJSON {
		if list == nil {
			list = []*faxbridge.Job{}
		}
		for _, j := range list {
			redact(j)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			fmt.Fprintln(stderr, "faxbridge:", err)
			return 1
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	// DIR says which way the fax went: out (mail to fax) or in (fax to
	// mail, its REPORT being the mail that delivers it).
	fmt.Fprintln(tw, "JOB\tDIR\tCREATED\tFROM\tTO\tPAGES\tSTATE\tOUTCOME\tREPORT\tNEXT\tLAST ERROR")
	for _, j := range list {
		next := "-"
		if !j.NextAt.IsZero() {
			next = time.Until(j.NextAt).Round(time.Second).String()
		}
		dir, from := "out", j.From
		if j.Dir() == faxbridge.Inbound {
			dir = "in"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", j.ID, dir, j.CreatedAt.Local().Format("2006-01-02 15:04"),
			dash(from), j.Destination.To, j.Pages, j.State, dash(j.Outcome), dash(string(j.ReportState)), next, dash(j.LastError))
	}
	tw.Flush()
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// redact keeps secrets and capability URLs out of terminal output.
func redact(j *faxbridge.Job) {
	if j.Destination.SipAuthPassword != "" {
		j.Destination.SipAuthPassword = "(set)"
	}
	if j.MediaURL != "" {
		j.MediaURL = "(signed URL)"
	}
	for i := range j.Attempts {
		if j.Attempts[i].MediaURL != "" {
			j.Attempts[i].MediaURL = "(signed URL)"
		}
	}
}

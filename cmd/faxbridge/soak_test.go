package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

// TestSoak pushes a few hundred messages through the whole daemon while the
// provider misbehaves in every documented way at once and the daemon is
// restarted half way:
//
//   - errors and rate limits (429, 500, 503; a 500 is an answer whose
//     outcome is unknown, and the fax was never made);
//   - answers lost after the fax was created (accept, then reset) and
//     lost before it was (reset);
//   - creates that land after the client gave up (SlowCreate beyond
//     send_timeout, switched on and off while the run goes on);
//   - a list that lags behind creates (ListLag), so that a late or
//     unanswered fax is missing from the first listing;
//   - lost, duplicated and reordered callbacks, and phases in which
//     every callback is lost;
//   - a relay that refuses every 7th report.
//
// The lag and the slow creates stay within what the rules promise to
// survive: a fax made within send_timeout of its request and listed within
// reconcile_after of that shows in the second listing. Every accepted
// message must end with exactly one fax and exactly one report: no job has
// a second fax at the provider, none is recorded as an extra or counted in
// faxbridge_duplicate_faxes_total, and no fax is without its report.
//
// It is bounded in count and time, but takes two minutes, more than the
// rest of the hermetic tests together: it runs with FAXBRIDGE_SOAK=1, which
// scripts/test (and so CI) sets, and -short skips it.
func TestSoak(t *testing.T) {
	if testing.Short() || os.Getenv("FAXBRIDGE_SOAK") == "" {
		t.Skip("the soak runs with FAXBRIDGE_SOAK=1 (scripts/test sets it), and not with -short")
	}
	const messages, senders = 300, 8
	h := newHarness(t, func(c *config.Config) {
		c.SignalWire.StatusCallbackEvents = []string{"initiated", "ringing", "answered", "completed"}
		c.Worker.Concurrency = 8
		c.Worker.PollAfter = config.Duration{Duration: time.Second}
		c.Worker.PollMax = config.Duration{Duration: 2 * time.Second}
		c.Worker.SendRetryMax = config.Duration{Duration: 2 * time.Second}
		c.Mail.RetryAfter = config.Duration{Duration: 100 * time.Millisecond}
		c.Metrics.Listen = "127.0.0.1:0"
		// Every sender here is 127.0.0.1, and a client that reconnects at
		// once can find its previous session not yet counted out: the
		// per-client limit is tested on its own, not here.
		c.SMTP.MaxSessionsPerClient = c.SMTP.MaxSessions
	})
	h.rec.ch = make(chan faxbridge.Report, messages*2)
	h.rec.failEvery = 7 // the relay refuses every 7th report
	reconcileAfter := h.cfg.Worker.ReconcileAfter.Duration
	slowCreate := testSendTimeout + testSendTimeout/4 // lands after the client gave up
	listLag := reconcileAfter - reconcileAfter/8      // slow+lag well inside 2×reconcile_after

	// faults for one phase of the run. Each phase queues a few lost
	// answers (two after the fax was made, one before) among rate limits.
	faults := func(phase int, slow bool) signalwiretest.Faults {
		f := signalwiretest.Faults{
			CreateErrors: []signalwiretest.HTTPError{
				{Accept: true, Reset: true},
				{Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "1"},
				{Reset: true},
				{Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "1"},
				{Accept: true, Reset: true},
			},
			CreateErrorRate:    0.1,
			Seed:               int64(42 + phase),
			DropCallbacks:      0.3,
			DuplicateCallbacks: true,
			ReorderCallbacks:   true,
			Latency:            2 * time.Millisecond,
			ListLag:            listLag,
		}
		if slow {
			// Late faxes whose callbacks are all lost too: only the
			// lagging list can tell the daemon about them.
			f.SlowCreate = slowCreate
			f.DropAllCallbacks = true
		}
		return f
	}
	// Switch slow creates (and lost callbacks) on for a while, then off,
	// until the run ends.
	h.sim.SetFaults(faults(0, true))
	stopPhases := make(chan struct{})
	phasesDone := make(chan struct{})
	go func() {
		defer close(phasesDone)
		for phase := 1; ; phase++ {
			d := 3 * time.Second
			if phase%2 == 0 {
				d = 1500 * time.Millisecond
			}
			select {
			case <-stopPhases:
				return
			case <-time.After(d):
				h.sim.SetFaults(faults(phase, phase%2 == 0))
			}
		}
	}()
	defer func() {
		select {
		case <-stopPhases:
		default:
			close(stopPhases)
		}
		<-phasesDone
	}()

	start := time.Now()
	msg := message("soak@example.com", "soak", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	var mu sync.Mutex
	accepted, refused := 0, 0
	sendAll := func(from, to int) {
		var wg sync.WaitGroup
		work := make(chan int)
		for s := 0; s < senders; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					err := h.send("soak@example.com", []string{fmt.Sprintf("1555%07d@fax.example.com", i)}, msg)
					mu.Lock()
					if err == nil {
						accepted++
					} else {
						refused++
					}
					mu.Unlock()
				}
			}()
		}
		for i := from; i < to; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
	}

	reported := map[string]int{}
	take := func(n int, bound <-chan time.Time) {
		t.Helper()
		for len(reported) < n {
			select {
			case r := <-h.rec.ch:
				reported[r.Job.ID]++
			case <-bound:
				t.Fatalf("only %d of %d reports within the time bound", len(reported), n)
			}
		}
	}
	deadline := time.After(150 * time.Second)

	// Half the messages; once a quarter of them are reported (the rest
	// in every state from queued to reporting, some waiting to be
	// reconciled), the daemon is stopped and started again on the same
	// state, and the other half follows.
	sendAll(0, messages/2)
	take(messages/8, deadline)
	dupBefore := h.duplicateFaxesMetric()
	h.shutdown()
	h.restart()
	restarted := time.Since(start)
	sendAll(messages/2, messages)
	if refused > 0 {
		t.Errorf("%d messages refused", refused)
	}
	take(accepted, deadline)
	close(stopPhases)
	<-phasesDone
	dupAfter := h.duplicateFaxesMetric()
	h.noMoreReports() // stops the daemon: nothing more can happen

	// At the provider: faxes per job, from each create's callback URL.
	creates := h.sim.Creates()
	perJob := map[string]int{}
	unanswered := 0
	created := map[string]signalwiretest.Create{}
	for _, c := range creates {
		created[c.SID] = c
		cb, err := url.Parse(c.Form.Get("StatusCallback"))
		if err != nil || cb.Query().Get("job") == "" {
			t.Fatalf("create %s without a job in its callback URL %q", c.SID, c.Form.Get("StatusCallback"))
		}
		perJob[cb.Query().Get("job")]++
		if c.Answer == 0 {
			unanswered++
		}
	}
	duplicates, unreported := 0, 0
	for id, n := range perJob {
		duplicates += n - 1
		if reported[id] == 0 {
			unreported++
			t.Errorf("job %s: %d faxes and no report", id, n)
		}
	}
	dupReports := 0
	for _, n := range reported {
		dupReports += n - 1
	}
	lost := accepted - len(perJob)

	// In the daemon's database: no extra fax on any job, every job done.
	ctx := context.Background()
	db, err := openStore(ctx, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	jobs, err := db.List(ctx, faxbridge.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	extras, reconciled, late := 0, 0, 0
	for _, j := range jobs {
		for _, a := range j.Attempts {
			// A fax made after the client gave up on its request.
			if c, ok := created[a.FaxSID]; ok && c.Time.Sub(a.StartedAt) >= testSendTimeout {
				late++
			}
		}
		extras += len(j.ExtraFaxes)
		for _, x := range j.ExtraFaxes {
			t.Errorf("job %s: extra fax %+v", j.ID, x)
		}
		for _, a := range j.Attempts {
			if a.Status == "lost" {
				reconciled++
			}
		}
		if j.State != faxbridge.StateDone || j.ReportState != faxbridge.ReportSent {
			t.Errorf("job %s: state %s, report %q; want done and reported", j.ID, j.State, j.ReportState)
		}
	}

	t.Logf("soak: %d messages in %s (restart at %s): accepted %d, faxed %d (%d creates unanswered, %d landing after the client gave up), reported %d; duplicate faxes %d, extra faxes recorded %d, faxbridge_duplicate_faxes_total %d+%d, duplicate reports %d, faxes without a report %d, jobs without a fax %d, submissions sent again after two empty listings %d",
		messages, time.Since(start).Round(time.Second), restarted.Round(time.Second), accepted, len(creates), unanswered, late, len(reported),
		duplicates, extras, dupBefore, dupAfter, dupReports, unreported, lost, reconciled)
	fmt.Printf("soak: accepted %d, faxed %d, reported %d, duplicates %d, lost %d\n", accepted, len(creates), len(reported), duplicates+dupReports+extras, lost)
	if duplicates != 0 || dupReports != 0 || extras != 0 || dupBefore != 0 || dupAfter != 0 || unreported != 0 || lost != 0 || len(creates) != accepted || len(jobs) != accepted {
		t.Errorf("every accepted message must be faxed once and reported once")
	}
	// The faults must really have happened, or the run proved little.
	if unanswered == 0 || late == 0 {
		t.Errorf("%d creates unanswered, %d of them landing late: the ambiguous cases did not happen", unanswered, late)
	}
}

var duplicateFaxesRe = regexp.MustCompile(`(?m)^faxbridge_duplicate_faxes_total(?:\{[^}]*\})? (\d+)`)

// duplicateFaxesMetric reads faxbridge_duplicate_faxes_total (summed over
// its labels) from the running daemon's metrics listener.
func (h *harness) duplicateFaxesMetric() int {
	h.t.Helper()
	resp, err := http.Get("http://" + h.m.MetricsAddr() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	ms := duplicateFaxesRe.FindAllSubmatch(body, -1)
	if len(ms) == 0 {
		h.t.Fatalf("/metrics has no faxbridge_duplicate_faxes_total series (each source starts at 0):\n%s", body)
	}
	n := 0
	for _, m := range ms {
		v, _ := strconv.Atoi(string(m[1]))
		n += v
	}
	return n
}

package main

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

// TestSoak pushes a few hundred messages through the whole daemon while the
// provider misbehaves in every documented way at once (errors and rate
// limits, answers lost after the fax was created, lost, duplicated and
// reordered callbacks) and the relay fails now and then. Every accepted
// message must end with exactly one fax and exactly one report.
//
// It is bounded in count and time; -short skips it.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak run skipped in -short mode")
	}
	const messages, senders = 300, 8
	h := newHarness(t, func(c *config.Config) {
		c.SignalWire.StatusCallbackEvents = []string{"initiated", "ringing", "answered", "completed"}
		c.Worker.Concurrency = 8
		c.Worker.PollAfter = config.Duration{Duration: time.Second}
		c.Worker.PollMax = config.Duration{Duration: 2 * time.Second}
		c.Worker.SendRetryMax = config.Duration{Duration: 2 * time.Second}
		c.Mail.RetryAfter = config.Duration{Duration: 100 * time.Millisecond}
		// Every sender here is 127.0.0.1, and a client that reconnects at
		// once can find its previous session not yet counted out: the
		// per-client limit is tested on its own, not here.
		c.SMTP.MaxSessionsPerClient = c.SMTP.MaxSessions
	})
	h.rec.ch = make(chan faxbridge.Report, messages*2)
	h.rec.failEvery = 7 // the relay refuses every 7th report
	var ambiguous []signalwiretest.HTTPError
	for i := 0; i < 15; i++ {
		ambiguous = append(ambiguous, signalwiretest.HTTPError{}, signalwiretest.HTTPError{Accept: true, Reset: true})
	}
	for i := range ambiguous {
		if !ambiguous[i].Accept {
			ambiguous[i] = signalwiretest.HTTPError{Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "1"}
		}
	}
	h.sim.SetFaults(signalwiretest.Faults{
		CreateErrors:       ambiguous,
		CreateErrorRate:    0.15,
		Seed:               42,
		DropCallbacks:      0.3,
		DuplicateCallbacks: true,
		ReorderCallbacks:   true,
		Latency:            2 * time.Millisecond,
	})

	start := time.Now()
	msg := message("soak@example.com", "soak", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, refused := 0, 0
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
	for i := 0; i < messages; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if refused > 0 {
		t.Errorf("%d messages refused", refused)
	}

	reported := map[string]int{}
	deadline := time.After(3 * time.Minute)
	for len(reported) < accepted {
		select {
		case r := <-h.rec.ch:
			reported[r.Job.ID]++
		case <-deadline:
			t.Fatalf("only %d of %d reports within the time bound", len(reported), accepted)
		}
	}
	h.noMoreReports()

	creates := h.sim.Creates()
	perNumber := map[string]int{}
	for _, c := range creates {
		perNumber[c.Form.Get("To")]++
	}
	duplicates := 0
	for _, n := range perNumber {
		if n > 1 {
			duplicates += n - 1
		}
	}
	dupReports := 0
	for _, n := range reported {
		dupReports += n - 1
	}
	lost := accepted - len(perNumber)
	t.Logf("soak: %d messages in %s: accepted %d, faxed %d, reported %d, duplicate faxes %d, duplicate reports %d, lost %d",
		messages, time.Since(start).Round(time.Second), accepted, len(creates), len(reported), duplicates, dupReports, lost)
	fmt.Printf("soak: accepted %d, faxed %d, reported %d, duplicates %d, lost %d\n", accepted, len(creates), len(reported), duplicates+dupReports, lost)
	if duplicates != 0 || dupReports != 0 || lost != 0 || len(creates) != accepted {
		t.Errorf("every accepted message must be faxed once and reported once")
	}
}

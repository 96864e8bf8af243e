package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
)

// After the report the fax's media is deleted at the provider (the
// default): a failed deletion is retried, and neither delays the report.
func TestProviderMediaDeletedAfterReport(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Mail.RetryAfter = config.Duration{Duration: 50 * time.Millisecond} })
	h.sim.SetFaults(signalwiretest.Faults{MediaDeleteErrors: []signalwiretest.HTTPError{{Status: 503, Code: 20504, Message: "Service Unavailable"}}})
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	rep := h.waitReport().Job
	if rep.Outcome != "delivered" || !rep.ProviderDeletedAt.IsZero() {
		t.Errorf("report: outcome %q, media deleted at %v; want delivered, reported before the media is deleted", rep.Outcome, rep.ProviderDeletedAt)
	}
	waitFor(t, 10*time.Second, "the media deleted at the provider", func() bool { return h.sim.MediaDeleted(rep.FaxSID) })
	h.noMoreReports()
	j := storedJob(t, h, rep.ID)
	if j.ProviderDeletedAt.IsZero() || j.ProviderTries != 1 {
		t.Errorf("job: media deleted at %v after %d failed tries; want deleted after 1", j.ProviderDeletedAt, j.ProviderTries)
	}
}

// With signalwire.keep_media = true the provider keeps the media.
func TestKeepMediaKeepsProviderCopy(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.SignalWire.KeepMedia = true })
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	rep := h.waitReport().Job
	h.noMoreReports() // the daemon is stopped: nothing can delete it later
	if f, ok := h.sim.Fax(rep.FaxSID); !ok || f.MediaDeleted || f.MediaSID == "" {
		t.Errorf("fax %s at the provider: found %v, media %q deleted %v; want its media kept", rep.FaxSID, ok, f.MediaSID, f.MediaDeleted)
	}
	if j := storedJob(t, h, rep.ID); !j.ProviderDeletedAt.IsZero() {
		t.Errorf("job says the media was deleted at %v", j.ProviderDeletedAt)
	}
}

// Refusals of the gateway's account (a revoked token, a token without the
// Fax scope, no balance) fail no fax: it waits, /readyz says not ready
// while they last and ready after, and the fax then goes out once. The
// e2e TestAccountRefusedWaits runs the 401 case for a whole minute.
func TestAccountRefusalsWait(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults func(until time.Time) signalwiretest.Faults
	}{
		{"401 token revoked", func(u time.Time) signalwiretest.Faults { return signalwiretest.Faults{AuthFailUntil: u} }},
		{"403 no fax scope", func(u time.Time) signalwiretest.Faults {
			return signalwiretest.Faults{AuthFailUntil: u, AuthFailStatus: http.StatusForbidden}
		}},
		{"30002 no balance", func(u time.Time) signalwiretest.Faults { return signalwiretest.Faults{NoBalanceUntil: u} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *config.Config) { c.Worker.SendRetryMax = config.Duration{Duration: 500 * time.Millisecond} })
			until := time.Now().Add(3 * time.Second)
			h.sim.SetFaults(tt.faults(until))
			if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
				t.Fatal(err)
			}
			if at := waitReadyz(t, h.public, http.StatusServiceUnavailable, 10*time.Second); !at.Before(until) {
				t.Fatalf("not ready only at %v, after the refusals ended at %v", at, until)
			}
			if at := waitReadyz(t, h.public, http.StatusOK, 20*time.Second); at.Before(until) {
				t.Errorf("ready again at %v, before the refusals ended at %v", at, until)
			}
			j := h.waitReport().Job
			if j.Outcome != "delivered" || len(j.Attempts) != 1 {
				t.Errorf("outcome %q after %d attempts; want delivered after 1", j.Outcome, len(j.Attempts))
			}
			h.noMoreReports()
			if n := len(h.sim.Creates()); n != 1 {
				t.Errorf("%d faxes, want 1", n)
			}
			if len(h.sim.Rejected()) == 0 {
				t.Errorf("the provider refused nothing; the test proved nothing")
			}
		})
	}
}

// waitFor polls cond until it holds, or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReadyz polls base/readyz until it answers want, and returns when.
func waitReadyz(t *testing.T, base string, want int, timeout time.Duration) time.Time {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		now := time.Now()
		resp, err := c.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return now
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %s after %v, want %d", last, timeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storedJob reads a job from the stopped daemon's database.
func storedJob(t *testing.T, h *harness, id string) *faxbridge.Job {
	t.Helper()
	ctx := context.Background()
	db, err := openStore(ctx, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	j, err := db.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

package jobs

import (
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// TestSubmitStep: a queued job × the provider's answer to Send → the
// stored job. The step runs at t0+1m, so a submission's IntentAt is that.
func TestSubmitStep(t *testing.T) {
	now := at(time.Minute)
	type row struct {
		name   string
		job    func(*faxbridge.Job) // changes to the queued fixture
		now    time.Time            // default: now
		send   []faxAnswer
		urlErr error
		want   fsmWant
		events []string // that OnEvent must have been told (among others)
	}
	rows := []row{
		{name: "ok queued", send: []faxAnswer{{st: faxSt("FX1", "queued")}},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: now.Add(fsmPollAfter), calls: []string{"Send"}},
			events: []string{"submitted:"}},
		{name: "ok sending", send: []faxAnswer{{st: faxSt("FX1", "sending")}},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "sending", attemptSID: "FX1", faxSID: "FX1",
				next: now.Add(fsmPollAfter), calls: []string{"Send"}}},
		{name: "ok after earlier errors clears them", job: func(j *faxbridge.Job) { j.SendErrors, j.LastError = 3, "down" },
			send: []faxAnswer{{st: faxSt("FX1", "queued")}},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: now.Add(fsmPollAfter), calls: []string{"Send"}}},
		{name: "ok already delivered", send: []faxAnswer{{st: faxSt("FX1", faxbridge.OutcomeDelivered)}},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
				next: now, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportPending, calls: []string{"Send"}},
			events: []string{"outcome:delivered"}},
		{name: "ambiguous: stays submitting until reconcile_after", send: []faxAnswer{{err: errAmbiguous()}},
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: now.Add(fsmReconcileAfter), sendErrors: 1,
				calls: []string{"Send"}},
			events: []string{"provider_error:ambiguous"}},
		{name: "ambiguous 502", send: []faxAnswer{{err: &faxbridge.Error{Code: faxbridge.EUnavailable, RetryAfter: time.Second,
			Err: wrapf(faxbridge.ErrAmbiguous, "signalwire: HTTP 502")}}},
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: now.Add(fsmReconcileAfter), sendErrors: 1,
				calls: []string{"Send"}}},
		{name: "503 with Retry-After: attempt dropped", send: []faxAnswer{{err: err503(7 * time.Second)}},
			want:   fsmWant{state: faxbridge.StateQueued, next: now.Add(7 * time.Second), sendErrors: 1, calls: []string{"Send"}},
			events: []string{"provider_error:temporary"}},
		{name: "503 without Retry-After: backoff", send: []faxAnswer{{err: err503(0)}},
			want: fsmWant{state: faxbridge.StateQueued, next: now.Add(5 * time.Second), jitter: time.Second, sendErrors: 1,
				calls: []string{"Send"}}},
		{name: "503 again: longer backoff", job: func(j *faxbridge.Job) { j.SendErrors = 2 }, send: []faxAnswer{{err: err503(0)}},
			want: fsmWant{state: faxbridge.StateQueued, next: now.Add(20 * time.Second), jitter: 4 * time.Second, sendErrors: 3,
				calls: []string{"Send"}}},
		{name: "401: waits for the operator", send: []faxAnswer{{err: err401()}},
			want: fsmWant{state: faxbridge.StateQueued, next: now.Add(5 * time.Second), jitter: time.Second, sendErrors: 1,
				calls: []string{"Send"}, problem: true},
			events: []string{"provider_error:account"}},
		{name: "30002 balance: waits for the operator", job: func(j *faxbridge.Job) { j.SendErrors = 1 }, send: []faxAnswer{{err: err30002()}},
			want: fsmWant{state: faxbridge.StateQueued, next: now.Add(10 * time.Second), jitter: 2 * time.Second, sendErrors: 2,
				calls: []string{"Send"}, problem: true},
			events: []string{"provider_error:account"}},
		{name: "401 just before give_up_after still waits", now: at(fsmGiveUpAfter - time.Minute), job: func(j *faxbridge.Job) { j.SendErrors = 9 },
			send: []faxAnswer{{err: err401()}},
			want: fsmWant{state: faxbridge.StateQueued, next: at(fsmGiveUpAfter - time.Minute + fsmRetryMax), jitter: fsmRetryMax / 5, sendErrors: 10,
				calls: []string{"Send"}, problem: true}},
		{name: "400: rejected", send: []faxAnswer{{err: err400()}},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeRejected, next: now,
				outcome: faxbridge.OutcomeRejected, reason: "cannot receive faxes", report: faxbridge.ReportPending, calls: []string{"Send"}},
			events: []string{"outcome:rejected"}},
		{name: "400 without a report address", job: func(j *faxbridge.Job) { j.ReportTo = "" }, send: []faxAnswer{{err: err400()}},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeRejected, next: now,
				outcome: faxbridge.OutcomeRejected, reason: "cannot receive faxes", report: faxbridge.ReportSuppressed, calls: []string{"Send"}}},
		{name: "give up after give_up_after of errors", now: at(fsmGiveUpAfter + time.Minute),
			job: func(j *faxbridge.Job) {
				j.SendErrors, j.LastError = 40, "The fax service refused the gateway's credentials."
			},
			want: fsmWant{state: faxbridge.StateDone, next: at(fsmGiveUpAfter + time.Minute), sendErrors: 40,
				outcome: faxbridge.OutcomeFailed, reason: "not sent", report: faxbridge.ReportPending},
			events: []string{"outcome:failed"}},
		{name: "a job that never failed is sent however late", now: at(fsmGiveUpAfter + time.Minute),
			send: []faxAnswer{{st: faxSt("FX1", "queued")}},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: at(fsmGiveUpAfter + time.Minute + fsmPollAfter), calls: []string{"Send"}}},
		{name: "no media URL: not sent, backoff", urlErr: err503(0),
			want: fsmWant{state: faxbridge.StateQueued, next: now.Add(5 * time.Second), jitter: time.Second, sendErrors: 1}},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			r := newFSM(t, nil)
			j := queuedJob("j")
			if tt.job != nil {
				tt.job(j)
			}
			r.create(j)
			r.fax.send = tt.send
			r.blobs.urlErr = tt.urlErr
			when := now
			if !tt.now.IsZero() {
				when = tt.now
			}
			got := r.step("j", when)
			r.check(got, tt.want, r.fax.takeCalls())

			for _, ev := range tt.events {
				if r.countEvents(ev) != 1 {
					t.Errorf("events %q, want one %q", r.takeEvents(), ev)
				}
			}
			if len(r.fax.sends) == 0 {
				return
			}
			// The request: this attempt's media URL, and a callback URL
			// that carries this attempt's token.
			req := r.fax.sends[0]
			if req.To != fsmTo || req.From != fsmFrom || req.Quality != "fine" {
				t.Errorf("request to %q from %q quality %q", req.To, req.From, req.Quality)
			}
			if !strings.HasPrefix(req.MediaURL, mediaHost) || req.MediaURL != r.blobs.urls[0] {
				t.Errorf("request media %q, want the fresh URL %q", req.MediaURL, r.blobs.urls)
			}
			if len(got.Attempts) > 0 {
				a := got.Attempts[0]
				if tok := tokenOf(t, req.StatusCallback); tok == "" || tok != a.Token || a.MediaURL != req.MediaURL {
					t.Errorf("callback %q, media %q; the attempt has token %q, media %q", req.StatusCallback, req.MediaURL, a.Token, a.MediaURL)
				}
				if !a.StartedAt.Equal(when) || !got.IntentAt.Equal(when) {
					t.Errorf("attempt started %v, intent %v; want %v", a.StartedAt, got.IntentAt, when)
				}
			}
		})
	}
}

// While the provider refuses the account, /readyz says so; the first
// provider call that succeeds clears it, and the waiting fax goes out as
// the first attempt (the refused ones never happened).
func TestAccountProblemClears(t *testing.T) {
	for _, refusal := range []struct {
		name string
		err  func() error
	}{{"401", err401}, {"30002", err30002}} {
		t.Run(refusal.name, func(t *testing.T) {
			r := newFSM(t, nil)
			r.create(queuedJob("j"))
			r.fax.send = []faxAnswer{{err: refusal.err()}, {err: refusal.err()}, {st: faxSt("FX1", "queued")}}
			when := at(time.Minute)
			for i := 0; i < 2; i++ {
				j := r.step("j", when)
				if r.s.ProviderProblem() == nil {
					t.Fatalf("refusal %d: no provider problem", i+1)
				}
				if j.State != faxbridge.StateQueued || j.Outcome != "" || len(j.Attempts) != 0 || !j.NextAt.After(when) {
					t.Fatalf("refusal %d: state %s outcome %q attempts %d next %v", i+1, j.State, j.Outcome, len(j.Attempts), j.NextAt)
				}
				when = j.NextAt
			}
			j := r.step("j", when)
			r.check(j, fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: when.Add(fsmPollAfter), calls: []string{"Send", "Send", "Send"}}, r.fax.takeCalls())
			if r.notes.count() != 0 {
				t.Errorf("%d reports while the account was refused", r.notes.count())
			}
		})
	}
}

// Never twice: a submission whose answer is lost is not sent again until
// two listings reconcile_after apart did not show it; the new attempt gets
// a media URL and a token of its own, and the lost one stays on record.
func TestLostSubmissionIsSentAgainOnce(t *testing.T) {
	r := newFSM(t, nil)
	r.create(queuedJob("j"))
	r.fax.send = []faxAnswer{{err: errAmbiguous()}, {st: faxSt("FX2", "queued")}}
	r.fax.find = []faxAnswer{{}, {}}
	r.fax.list = []faxAnswer{{}, {}}
	intent := at(time.Minute)

	j := r.step("j", intent)
	r.check(j, fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: intent.Add(fsmReconcileAfter), sendErrors: 1,
		calls: []string{"Send"}}, r.fax.takeCalls())

	// Hurried by an operator: too early to trust a listing.
	if _, err := r.s.RetryNow(r.ctx, "j"); err != nil {
		t.Fatal(err)
	}
	j = r.step("j", intent.Add(time.Minute))
	r.check(j, fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: intent.Add(fsmReconcileAfter), sendErrors: 1}, r.fax.takeCalls())

	j = r.step("j", intent.Add(fsmReconcileAfter))
	r.check(j, fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: intent.Add(2 * fsmReconcileAfter), sendErrors: 1, listings: 1,
		calls: []string{"FindSent", "ListSent"}}, r.fax.takeCalls())

	second := intent.Add(2 * fsmReconcileAfter)
	j = r.step("j", second)
	r.check(j, fsmWant{state: faxbridge.StateQueued, attempts: 1, status: "lost", next: second,
		calls: []string{"FindSent", "ListSent"}}, r.fax.takeCalls())

	j = r.step("j", second)
	r.check(j, fsmWant{state: faxbridge.StateSending, attempts: 2, status: "queued", attemptSID: "FX2", faxSID: "FX2",
		next: second.Add(fsmPollAfter), calls: []string{"Send"}}, r.fax.takeCalls())

	if len(r.fax.sends) != 2 || len(r.blobs.urls) != 2 {
		t.Fatalf("%d sends, %d media URLs", len(r.fax.sends), len(r.blobs.urls))
	}
	for i, req := range r.fax.sends {
		a := j.Attempts[i]
		if req.MediaURL != r.blobs.urls[i] || a.MediaURL != req.MediaURL || tokenOf(t, req.StatusCallback) != a.Token {
			t.Errorf("send %d: media %q callback %q; attempt %+v", i+1, req.MediaURL, req.StatusCallback, a)
		}
	}
	if j.Attempts[0].MediaURL == j.Attempts[1].MediaURL || j.Attempts[0].Token == j.Attempts[1].Token {
		t.Errorf("attempts share media or token: %+v", j.Attempts)
	}
	if !j.Attempts[1].StartedAt.Equal(second) || !j.IntentAt.Equal(second) || j.MediaURL != j.Attempts[1].MediaURL {
		t.Errorf("second attempt started %v, intent %v, media %q", j.Attempts[1].StartedAt, j.IntentAt, j.MediaURL)
	}
	// Both listings asked for this attempt's fax, by To and From, since
	// its intent.
	for i, q := range r.fax.queries {
		if q.To != fsmTo || q.From != fsmFrom || !q.Since.Equal(intent) {
			t.Errorf("listing %d: %+v", i+1, q)
		}
	}
	for _, m := range r.fax.found {
		if m != j.Attempts[0].MediaURL {
			t.Errorf("FindSent for media %q, want the first attempt's %q", m, j.Attempts[0].MediaURL)
		}
	}
}

// TestReconcileStep: a submitting job (its answer lost at t0) × what the
// provider lists → the stored job. FindSent looks for the attempt's media
// URL; ListSent is the fallback for a provider that reports its own copy.
func TestReconcileStep(t *testing.T) {
	due1, due2 := at(fsmReconcileAfter), at(2*fsmReconcileAfter)
	mine := func(sid, status string, created time.Duration) faxbridge.FaxStatus {
		st := faxSt(sid, status)
		st.MediaURL, st.CreatedAt = mediaHost+"docs/j.pdf?sig=a1", at(created)
		return st
	}
	theirs := func(sid string, created time.Duration) faxbridge.FaxStatus {
		st := faxSt(sid, "queued")
		st.MediaURL, st.CreatedAt = swMedia+sid+"/media.pdf", at(created)
		return st
	}
	empty := []faxAnswer{{}}
	type row struct {
		name       string
		job        func() *faxbridge.Job // default submittingJob("j")
		now        time.Time
		find, list []faxAnswer
		want       fsmWant
		events     []string
	}
	rows := []row{
		{name: "before due: no listing", now: at(time.Minute),
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due1, sendErrors: 1}},
		{name: "found after a crash in mid-submission", now: at(fsmSendTimeout + 31*time.Second),
			job: func() *faxbridge.Job {
				j := submittingJob("j")
				j.SendErrors, j.LastError, j.NextAt = 0, "", at(fsmSendTimeout+30*time.Second)
				return j
			},
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due1}},
		{name: "before the second listing is due", now: at(fsmReconcileAfter + time.Minute),
			job:  func() *faxbridge.Job { return listedOnce(submittingJob("j")) },
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due2, sendErrors: 1, listings: 1}},
		{name: "first empty listing: not sent again", now: due1, find: empty, list: empty,
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due2, sendErrors: 1, listings: 1,
				calls: []string{"FindSent", "ListSent"}}},
		// Late (the provider could not be asked before, or no worker
		// ran): the second listing still comes reconcile_after after it,
		// not at once.
		{name: "first empty listing, late", now: due2.Add(2 * time.Minute), find: empty, list: empty,
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due2.Add(2*time.Minute + fsmReconcileAfter), sendErrors: 1, listings: 1,
				calls: []string{"FindSent", "ListSent"}}},
		{name: "second empty listing: queued again, attempt kept as lost", now: due2, find: empty, list: empty,
			job:  func() *faxbridge.Job { return listedOnce(submittingJob("j")) },
			want: fsmWant{state: faxbridge.StateQueued, attempts: 1, status: "lost", next: due2, calls: []string{"FindSent", "ListSent"}}},
		{name: "listing finds the fax: adopted", now: due1, find: []faxAnswer{{list: []faxbridge.FaxStatus{mine("FX1", "sending", 9*time.Second)}}},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "sending", attemptSID: "FX1", faxSID: "FX1",
				next: due1.Add(fsmPollAfter), calls: []string{"FindSent"}}},
		{name: "second listing finds the fax", now: due2, find: []faxAnswer{{list: []faxbridge.FaxStatus{mine("FX1", "queued", 9*time.Second)}}},
			job: func() *faxbridge.Job { return listedOnce(submittingJob("j")) },
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: due2.Add(fsmPollAfter), calls: []string{"FindSent"}}},
		{name: "listing finds the fax already delivered", now: due1,
			find: []faxAnswer{{list: []faxbridge.FaxStatus{mine("FX1", faxbridge.OutcomeDelivered, 9*time.Second)}}},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
				next: due1, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportPending, calls: []string{"FindSent"}}},
		{name: "provider's copy of the media: found by the fallback listing", now: due1,
			find: empty, list: []faxAnswer{{list: []faxbridge.FaxStatus{theirs("FX7", 9*time.Second)}}},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX7", faxSID: "FX7",
				next: due1.Add(fsmPollAfter), calls: []string{"FindSent", "ListSent"}}},
		{name: "fallback: a fax created after the submission's window is not it", now: due1,
			find: empty, list: []faxAnswer{{list: []faxbridge.FaxStatus{theirs("FX8", fsmSendTimeout+2*time.Minute)}}},
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due2, sendErrors: 1, listings: 1,
				calls: []string{"FindSent", "ListSent"}}},
		{name: "only an earlier attempt's fax, by media path: not adopted", now: due1,
			job:  func() *faxbridge.Job { return retrySubmittingJob("j") },
			find: []faxAnswer{{list: []faxbridge.FaxStatus{mine("FXold", faxbridge.OutcomeFailed, -time.Minute)}}},
			list: []faxAnswer{{list: []faxbridge.FaxStatus{theirs("FXold", -time.Minute)}}},
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 2, next: due2, sendErrors: 1, listings: 1,
				calls: []string{"FindSent", "ListSent"}}},
		{name: "only an earlier attempt's fax, second listing: sent again", now: due2,
			job:  func() *faxbridge.Job { return listedOnce(retrySubmittingJob("j")) },
			find: []faxAnswer{{list: []faxbridge.FaxStatus{mine("FXold", faxbridge.OutcomeFailed, -time.Minute)}}},
			list: []faxAnswer{{list: []faxbridge.FaxStatus{theirs("FXold", -time.Minute)}}},
			want: fsmWant{state: faxbridge.StateQueued, attempts: 2, status: "lost", next: due2,
				calls: []string{"FindSent", "ListSent"}}},
		{name: "another job's fax: not adopted", now: due1,
			find: []faxAnswer{{list: []faxbridge.FaxStatus{mine("FXother", "queued", 5*time.Second)}}},
			list: []faxAnswer{{list: []faxbridge.FaxStatus{theirs("FXother2", 5*time.Second)}}},
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due2, sendErrors: 1, listings: 1,
				calls: []string{"FindSent", "ListSent"}}},
		{name: "two unknown faxes: the oldest adopted, the other an extra", now: due1,
			find: []faxAnswer{{list: []faxbridge.FaxStatus{mine("FXnew", "queued", 40*time.Second), mine("FXfirst", "sending", 9*time.Second)}}},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "sending", attemptSID: "FXfirst", faxSID: "FXfirst",
				next: due1.Add(fsmPollAfter), extras: []string{"FXnew listing 1"}, calls: []string{"FindSent"}},
			events: []string{"duplicate_fax:listing"}},
		{name: "listing fails: backoff, stays submitting", now: due1, find: []faxAnswer{{err: err503(30 * time.Second)}},
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due1.Add(30 * time.Second), sendErrors: 2,
				calls: []string{"FindSent"}}},
		{name: "fallback listing fails: not counted as empty", now: due1, find: empty, list: []faxAnswer{{err: err503(0)}},
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due1.Add(10 * time.Second), jitter: 2 * time.Second, sendErrors: 2,
				calls: []string{"FindSent", "ListSent"}}},
		{name: "second listing fails: not sent again", now: due2, find: empty, list: []faxAnswer{{err: err503(0)}},
			job: func() *faxbridge.Job { return listedOnce(submittingJob("j")) },
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due2.Add(10 * time.Second), jitter: 2 * time.Second, sendErrors: 2,
				listings: 1, calls: []string{"FindSent", "ListSent"}}},
		{name: "listing refused (401): operator's problem, backoff", now: due1, find: []faxAnswer{{err: err401()}},
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: due1.Add(10 * time.Second), jitter: 2 * time.Second, sendErrors: 2,
				calls: []string{"FindSent"}, problem: true}},
		{name: "listing fails past give_up_after: may or may not", now: at(fsmGiveUpAfter + time.Minute),
			job:  func() *faxbridge.Job { j := submittingJob("j"); j.SendErrors = 30; return j },
			find: []faxAnswer{{err: err503(0)}},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: "unknown", next: at(fsmGiveUpAfter + time.Minute), sendErrors: 30,
				outcome: faxbridge.OutcomeExpired, reason: "may or may not", report: faxbridge.ReportPending, calls: []string{"FindSent"}},
			events: []string{"outcome:expired"}},
		{name: "listing refused past give_up_after: may or may not", now: at(fsmGiveUpAfter + time.Minute),
			job:  func() *faxbridge.Job { j := submittingJob("j"); j.SendErrors = 30; return j },
			find: []faxAnswer{{err: err401()}},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: "unknown", next: at(fsmGiveUpAfter + time.Minute), sendErrors: 30,
				outcome: faxbridge.OutcomeExpired, reason: "may or may not", report: faxbridge.ReportPending, calls: []string{"FindSent"}, problem: true}},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			r := newFSM(t, nil)
			j := submittingJob("j")
			if tt.job != nil {
				j = tt.job()
			}
			other := sendingJob("other")
			other.FaxSID, other.Attempts[0].FaxSID = "FXother", "FXother"
			other.ExtraFaxes = []faxbridge.ExtraFax{{SID: "FXother2", Source: "callback", SeenAt: t0}}
			r.create(j, other)
			r.fax.find, r.fax.list = tt.find, tt.list
			got := r.step("j", tt.now)
			r.check(got, tt.want, r.fax.takeCalls())
			if len(r.fax.sends) != 0 {
				t.Errorf("reconciliation sent the fax")
			}
			for _, ev := range tt.events {
				if r.countEvents(ev) != 1 {
					t.Errorf("events %q, want one %q", r.takeEvents(), ev)
				}
			}
			if tt.events == nil && r.countEvents("duplicate_fax:listing") != 0 {
				t.Errorf("events %q", r.takeEvents())
			}
			cur := j.Attempts[len(j.Attempts)-1]
			for i, q := range r.fax.queries {
				if q.To != fsmTo || q.From != fsmFrom || !q.Since.Equal(j.IntentAt) {
					t.Errorf("listing %d asks %+v, want to %s from %s since %v", i+1, q, fsmTo, fsmFrom, j.IntentAt)
				}
			}
			for _, m := range r.fax.found {
				if m != cur.MediaURL {
					t.Errorf("FindSent for %q, want the current attempt's %q", m, cur.MediaURL)
				}
			}
			if got.State == faxbridge.StateSubmitting && !strings.Contains(got.LastError, got.NextAt.UTC().Format(time.RFC3339)) &&
				got.SendErrors == j.SendErrors {
				t.Errorf("waiting without saying why until when: %q", got.LastError)
			}
		})
	}
}

// A first listing that ran late (listings refused for a while) is followed
// by the second one reconcile_after later, even when an operator hurries
// the job: the two listings that send a fax again are always that far
// apart.
func TestListingsStayApartWhenHurried(t *testing.T) {
	r := newFSM(t, nil)
	r.create(queuedJob("j"))
	r.fax.send = []faxAnswer{{err: errAmbiguous()}}
	r.fax.find = []faxAnswer{{}, {}}
	r.fax.list = []faxAnswer{{}, {}}
	intent := at(time.Minute)
	r.step("j", intent)
	r.fax.takeCalls()

	first := intent.Add(fsmReconcileAfter + fsmReconcileAfter/2) // late
	j := r.step("j", first)
	r.check(j, fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: first.Add(fsmReconcileAfter), sendErrors: 1, listings: 1,
		calls: []string{"FindSent", "ListSent"}}, r.fax.takeCalls())

	if _, err := r.s.RetryNow(r.ctx, "j"); err != nil {
		t.Fatal(err)
	}
	// Past IntentAt + 2×reconcile_after, but not reconcile_after after the
	// first listing: no listing yet.
	hurried := intent.Add(2*fsmReconcileAfter + time.Second)
	j = r.step("j", hurried)
	r.check(j, fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: first.Add(fsmReconcileAfter), sendErrors: 1, listings: 1}, r.fax.takeCalls())

	j = r.step("j", first.Add(fsmReconcileAfter))
	r.check(j, fsmWant{state: faxbridge.StateQueued, attempts: 1, status: "lost", next: first.Add(fsmReconcileAfter),
		calls: []string{"FindSent", "ListSent"}}, r.fax.takeCalls())
}

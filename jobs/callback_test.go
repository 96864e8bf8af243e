package jobs

import (
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// TestApplyStatus: a job in some state × a signed callback (job ID, token,
// status) → the stored job. Callbacks are answered at once: none makes a
// provider call. Callbacks arrive at t0+1m.
func TestApplyStatus(t *testing.T) {
	now := at(time.Minute)
	// inFlight: the submission decided at t0 is still waiting for Send's
	// answer (no error counted yet).
	inFlight := func() *faxbridge.Job {
		j := submittingJob("j")
		j.SendErrors, j.LastError, j.NextAt = 0, "", at(fsmSendTimeout+30*time.Second)
		return j
	}
	secondInFlight := func() *faxbridge.Job {
		j := retrySubmittingJob("j")
		j.SendErrors, j.LastError, j.NextAt = 0, "", at(fsmSendTimeout+30*time.Second)
		return j
	}
	secondSending := func() *faxbridge.Job {
		j := secondInFlight()
		j.State, j.FaxSID, j.FaxStatus = faxbridge.StateSending, "FX2", "queued"
		j.Attempts[1].FaxSID, j.Attempts[1].Status = "FX2", "queued"
		j.NextAt = at(fsmPollAfter)
		return j
	}
	type row struct {
		name    string
		job     func() *faxbridge.Job
		jobID   string // default "j"
		token   string
		st      faxbridge.FaxStatus
		errCode faxbridge.Code // ApplyStatus's
		want    fsmWant
		faxStat string // the job's FaxStatus afterwards
		dups    int    // duplicate_fax events
	}
	rows := []row{
		{name: "current token while submitting: adopted", job: inFlight, token: "tok1", st: faxSt("FXcb", "queued"),
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FXcb", faxSID: "FXcb",
				next: now.Add(fsmPollAfter)}, faxStat: "queued"},
		{name: "current token after the answer was lost: adopted", job: func() *faxbridge.Job { return submittingJob("j") },
			token: "tok1", st: faxSt("FXcb", "sending"),
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "sending", attemptSID: "FXcb", faxSID: "FXcb",
				next: now.Add(fsmPollAfter)}, faxStat: "sending"},
		{name: "current token, terminal, while submitting: adopted and settled", job: inFlight, token: "tok1",
			st: faxSt("FXcb", faxbridge.OutcomeDelivered),
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FXcb", faxSID: "FXcb",
				next: now, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportPending}, faxStat: faxbridge.OutcomeDelivered},
		{name: "earlier attempt's token while submitting: extra", job: secondInFlight, token: "tok1", st: faxSt("FX9", "sending"),
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 2, next: at(fsmSendTimeout + 30*time.Second),
				extras: []string{"FX9 callback 1"}}, dups: 1},
		{name: "earlier attempt's token while sending: extra", job: secondSending, token: "tok1", st: faxSt("FX9", "sending"),
			want: fsmWant{state: faxbridge.StateSending, attempts: 2, status: "queued", attemptSID: "FX2", faxSID: "FX2",
				next: at(fsmPollAfter), extras: []string{"FX9 callback 1"}}, faxStat: "queued", dups: 1},
		{name: "current token naming a second fax while sending: extra", job: secondSending, token: "tok2", st: faxSt("FX9", "queued"),
			want: fsmWant{state: faxbridge.StateSending, attempts: 2, status: "queued", attemptSID: "FX2", faxSID: "FX2",
				next: at(fsmPollAfter), extras: []string{"FX9 callback 2"}}, faxStat: "queued", dups: 1},
		{name: "no token while submitting: extra, not adopted", job: inFlight, token: "", st: faxSt("FX9", "queued"),
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(fsmSendTimeout + 30*time.Second),
				extras: []string{"FX9 callback 0"}}, dups: 1},
		{name: "wrong token while submitting: extra, not adopted", job: inFlight, token: "forged", st: faxSt("FX9", "queued"),
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(fsmSendTimeout + 30*time.Second),
				extras: []string{"FX9 callback 0"}}, dups: 1},
		{name: "another attempt's token while queued again: extra", token: "tok1", st: faxSt("FX9", faxbridge.OutcomeDelivered),
			job: func() *faxbridge.Job {
				j := queuedJob("j")
				a := mkAttempt("j", 1)
				a.Status = "lost"
				j.Attempts, j.SendErrors = []faxbridge.Attempt{a}, 1
				return j
			},
			want: fsmWant{state: faxbridge.StateQueued, attempts: 1, status: "lost", next: t0, sendErrors: 1,
				extras: []string{"FX9 callback 1"}}, dups: 1},
		{name: "current fax, terminal: done without a provider call", job: func() *faxbridge.Job { return sendingJob("j") },
			token: "tok1", st: faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeDelivered, Pages: 2},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
				next: now, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportPending}, faxStat: faxbridge.OutcomeDelivered},
		{name: "current fax, failed: done", job: func() *faxbridge.Job { return sendingJob("j") },
			token: "tok1", st: faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeFailed, ErrorMessage: "The call dropped", Reason: "The line dropped."},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeFailed, attemptSID: "FX1", faxSID: "FX1",
				next: now, outcome: faxbridge.OutcomeFailed, reason: "The line dropped.", report: faxbridge.ReportPending}, faxStat: faxbridge.OutcomeFailed},
		{name: "current fax, progress", job: func() *faxbridge.Job { return sendingJob("j") }, token: "tok1", st: faxSt("FX1", "sending"),
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: at(fsmPollAfter)}, faxStat: "sending"},
		{name: "settled job: late callback changes nothing", job: func() *faxbridge.Job { return doneJob("j") }, token: "tok1",
			st: faxSt("FX1", faxbridge.OutcomeFailed),
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
				next: at(5 * time.Minute), outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportPending}, faxStat: faxbridge.OutcomeDelivered},
		{name: "another number: not this job's fax", job: inFlight, token: "tok1",
			st:      faxbridge.FaxStatus{SID: "FX9", Status: "queued", To: "+15550000000"},
			errCode: faxbridge.ENotFound,
			want:    fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(fsmSendTimeout + 30*time.Second)}},
		{name: "another job's fax under this job's ID", job: func() *faxbridge.Job { return sendingJob("j") }, token: "tok1",
			st: faxSt("FXother", faxbridge.OutcomeDelivered), errCode: faxbridge.ENotFound,
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: at(fsmPollAfter)}, faxStat: "queued"},
		{name: "unknown job", job: inFlight, jobID: "nope", token: "tok1", st: faxSt("FX9", "queued"), errCode: faxbridge.ENotFound,
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(fsmSendTimeout + 30*time.Second)}},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			r := newFSM(t, nil)
			other := sendingJob("other")
			other.FaxSID, other.Attempts[0].FaxSID = "FXother", "FXother"
			r.create(tt.job(), other)
			r.clock.set(now)
			id := "j"
			if tt.jobID != "" {
				id = tt.jobID
			}
			err := r.s.ApplyStatus(r.ctx, id, tt.token, tt.st)
			if faxbridge.ErrorCode(err) != tt.errCode {
				t.Errorf("ApplyStatus: %v, want code %q", err, tt.errCode)
			}
			got := r.get("j")
			r.check(got, tt.want, r.fax.takeCalls())
			if got.FaxStatus != tt.faxStat {
				t.Errorf("fax status %q, want %q", got.FaxStatus, tt.faxStat)
			}
			if n := r.countEvents("duplicate_fax:callback"); n != tt.dups {
				t.Errorf("%d duplicate_fax events, want %d", n, tt.dups)
			}
			if o := r.get("other"); o.Version != 1 {
				t.Errorf("another job changed: %+v", o)
			}
		})
	}
}

// A callback for an extra fax, repeated, is recorded once and counted
// once; a later status of it is kept.
func TestDuplicateExtraCallbacks(t *testing.T) {
	r := newFSM(t, nil)
	r.create(sendingJob("j"))
	r.clock.set(at(time.Minute))
	for i, st := range []string{"sending", "sending", faxbridge.OutcomeDelivered, faxbridge.OutcomeDelivered} {
		if err := r.s.ApplyStatus(r.ctx, "j", "tok1", faxSt("FX9", st)); err != nil {
			t.Fatalf("callback %d: %v", i+1, err)
		}
		// Without the job's ID in the URL (an older callback URL), found
		// by its SID: the same.
		if err := r.s.ApplyStatus(r.ctx, "", "", faxSt("FX9", st)); err != nil {
			t.Fatalf("callback %d without job: %v", i+1, err)
		}
	}
	j := r.get("j")
	r.check(j, fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
		next: at(fsmPollAfter), extras: []string{"FX9 callback 1"}}, r.fax.takeCalls())
	if j.ExtraFaxes[0].Status != faxbridge.OutcomeDelivered || !j.ExtraFaxes[0].SeenAt.Equal(at(time.Minute)) {
		t.Errorf("extra fax %+v: want its latest status", j.ExtraFaxes[0])
	}
	if ev := r.takeEvents(); len(ev) != 1 || ev[0] != "duplicate_fax:callback" {
		t.Errorf("events %q, want one duplicate_fax", ev)
	}
}

// The callback of the current submission beats Send's answer: it is
// adopted, and an answer that names another fax is an extra ("answer");
// one that names the same fax, or is lost, changes nothing.
func TestCallbackBeatsAnswer(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer faxAnswer
		extras []string
	}{
		{"same fax", faxAnswer{st: faxSt("FXcb", "queued")}, nil},
		{"another fax", faxAnswer{st: faxSt("FXans", "queued")}, []string{"FXans answer 1"}},
		{"answer lost", faxAnswer{err: errAmbiguous()}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newFSM(t, nil)
			r.create(queuedJob("j"))
			r.fax.send = []faxAnswer{tt.answer}
			r.fax.onSend = func(req faxbridge.FaxRequest) {
				if err := r.s.ApplyStatus(r.ctx, "j", tokenOf(t, req.StatusCallback), faxSt("FXcb", "queued")); err != nil {
					t.Errorf("callback: %v", err)
				}
			}
			now := at(time.Minute)
			j := r.step("j", now)
			r.check(j, fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FXcb", faxSID: "FXcb",
				next: now.Add(fsmPollAfter), extras: tt.extras, calls: []string{"Send"}}, r.fax.takeCalls())
			if n := r.countEvents("duplicate_fax:answer"); n != len(tt.extras) {
				t.Errorf("%d duplicate_fax events for the answer, want %d", n, len(tt.extras))
			}
		})
	}
}

// A callback about some other fax of the job (an earlier, lost attempt's
// fax that surfaced after all) arrives while a new submission waits for
// its answer. It is an extra; the answer is still the submission's own fax
// and must be adopted, not taken for "an answer that lost a race to a
// callback". Taken for an extra, the submission's fax would never be
// followed, its listings would not show it (it is recorded), and after two
// of them the job would be sent a third time.
func TestExtraCallbackDuringSendKeepsAnswer(t *testing.T) {
	r := newFSM(t, nil)
	j := queuedJob("j")
	a := mkAttempt("j", 1)
	a.Status = "lost"
	j.Attempts, j.SendErrors = []faxbridge.Attempt{a}, 1
	r.create(j)
	r.fax.send = []faxAnswer{{st: faxSt("FX2", "queued")}}
	r.fax.onSend = func(req faxbridge.FaxRequest) {
		if err := r.s.ApplyStatus(r.ctx, "j", "tok1", faxSt("FXlost", "sending")); err != nil {
			t.Errorf("callback: %v", err)
		}
	}
	now := at(time.Hour)
	got := r.step("j", now)
	r.check(got, fsmWant{state: faxbridge.StateSending, attempts: 2, status: "queued", attemptSID: "FX2", faxSID: "FX2",
		next: now.Add(fsmPollAfter), extras: []string{"FXlost callback 1"}, calls: []string{"Send"}}, r.fax.takeCalls())
}

// A fax of the job that turns up after its report was sent and the media
// of its faxes deleted at the provider (a lost submission's fax that
// landed after all) is recorded, and its media is deleted too.
func TestLateExtraMediaDeleted(t *testing.T) {
	r := newFSM(t, nil)
	j := doneJob("j")
	j.ReportState, j.ReportSentAt, j.CleanedAt, j.ProviderDeletedAt, j.NextAt = faxbridge.ReportSent, at(6*time.Minute), at(6*time.Minute), at(6*time.Minute), time.Time{}
	r.create(j)
	late := at(time.Hour)
	r.clock.set(late)
	if err := r.s.ApplyStatus(r.ctx, "j", "tok1", faxSt("FX9", faxbridge.OutcomeDelivered)); err != nil {
		t.Fatal(err)
	}
	got := r.get("j")
	r.check(got, fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
		next: late, extras: []string{"FX9 callback 1"}, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportSent}, r.fax.takeCalls())
	got = r.step("j", late)
	r.check(got, fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
		extras: []string{"FX9 callback 1"}, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportSent,
		calls: []string{"DeleteMedia FX1", "DeleteMedia FX9"}}, r.fax.takeCalls())
	if !got.ProviderDeletedAt.Equal(late) || r.notes.count() != 0 {
		t.Errorf("provider media deleted at %v; %d reports sent again", got.ProviderDeletedAt, r.notes.count())
	}

	// With keep_media nothing is deleted, so nothing is revived.
	r = newFSM(t, func(c *Config) { c.KeepProviderMedia = true })
	j.ProviderDeletedAt = time.Time{}
	r.create(j)
	r.clock.set(late)
	if err := r.s.ApplyStatus(r.ctx, "j", "tok1", faxSt("FX9", faxbridge.OutcomeDelivered)); err != nil {
		t.Fatal(err)
	}
	if got := r.get("j"); !got.NextAt.IsZero() {
		t.Errorf("keep_media: job due again at %v", got.NextAt)
	}
}

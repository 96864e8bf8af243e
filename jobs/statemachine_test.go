package jobs

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// TestPollStep: a sending job (FX1, submitted at t0) × the provider's
// answer to Fetch → the stored job. The step runs at t0+10m unless a row
// says otherwise.
func TestPollStep(t *testing.T) {
	now := at(10 * time.Minute)
	late := at(fsmGiveUpAfter + time.Minute)
	// The second poll comes backoff(2, PollAfter, PollMax) later.
	poll2, poll2Jitter := 2*fsmPollAfter, 2*fsmPollAfter/5
	type row struct {
		name    string
		cfg     func(*Config)
		job     func(*faxbridge.Job)
		now     time.Time
		fetch   faxAnswer
		want    fsmWant
		quality string // the job's afterwards (default fine)
		details bool   // DetailsFetched afterwards
	}
	delivered := faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeDelivered, Pages: 2, Duration: 61}
	rows := []row{
		{name: "delivered", fetch: faxAnswer{st: delivered},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
				next: now, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportPending, calls: []string{"Fetch FX1"}}, details: true},
		{name: "failed", fetch: faxAnswer{st: faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeFailed, ErrorMessage: "no fax tone", Reason: "No fax machine answered."}},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeFailed, attemptSID: "FX1", faxSID: "FX1",
				next: now, outcome: faxbridge.OutcomeFailed, reason: "No fax machine answered.", report: faxbridge.ReportPending, calls: []string{"Fetch FX1"}}, details: true},
		{name: "busy with a redial left: queued again", cfg: func(c *Config) { c.RedialAttempts = 1 },
			fetch: faxAnswer{st: faxSt("FX1", faxbridge.OutcomeBusy)},
			want: fsmWant{state: faxbridge.StateQueued, attempts: 1, status: faxbridge.OutcomeBusy, attemptSID: "FX1",
				next: now.Add(fsmRedialSpacing), calls: []string{"Fetch FX1"}}, details: true},
		{name: "busy without redials: done", fetch: faxAnswer{st: faxSt("FX1", faxbridge.OutcomeBusy)},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeBusy, attemptSID: "FX1", faxSID: "FX1",
				next: now, outcome: faxbridge.OutcomeBusy, report: faxbridge.ReportPending, calls: []string{"Fetch FX1"}}, details: true},
		{name: "resolution refused: again at standard quality",
			fetch: faxAnswer{st: faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeFailed, ErrorMessage: "Far end cannot receive at the resolution"}},
			want: fsmWant{state: faxbridge.StateQueued, attempts: 1, status: faxbridge.OutcomeFailed, attemptSID: "FX1",
				next: now, calls: []string{"Fetch FX1"}}, quality: "standard", details: true},
		{name: "not final: poll again later", fetch: faxAnswer{st: faxSt("FX1", "sending")},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: now.Add(poll2), jitter: poll2Jitter, calls: []string{"Fetch FX1"}}},
		{name: "not final, many polls: capped", job: func(j *faxbridge.Job) { j.Polls = 9 }, fetch: faxAnswer{st: faxSt("FX1", "sending")},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: now.Add(fsmPollMax), jitter: fsmPollMax / 5, calls: []string{"Fetch FX1"}}},
		{name: "error: poll again later", fetch: faxAnswer{err: err503(0)},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: now.Add(poll2), jitter: poll2Jitter, calls: []string{"Fetch FX1"}}},
		{name: "refused account: poll again later, provider problem", fetch: faxAnswer{err: err401()},
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1",
				next: now.Add(poll2), jitter: poll2Jitter, calls: []string{"Fetch FX1"}, problem: true}},
		{name: "error past give_up_after: expired", now: late, fetch: faxAnswer{err: err503(0)},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: "unknown", attemptSID: "FX1", faxSID: "FX1",
				next: late, outcome: faxbridge.OutcomeExpired, reason: "may or may not", report: faxbridge.ReportPending, calls: []string{"Fetch FX1"}}},
		{name: "not final past give_up_after: expired", now: late, fetch: faxAnswer{st: faxSt("FX1", "sending")},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: "unknown", attemptSID: "FX1", faxSID: "FX1",
				next: late, outcome: faxbridge.OutcomeExpired, reason: "may or may not", report: faxbridge.ReportPending, calls: []string{"Fetch FX1"}}},
		{name: "final past give_up_after: the outcome stands", now: late, fetch: faxAnswer{st: delivered},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
				next: late, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportPending, calls: []string{"Fetch FX1"}}, details: true},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			r := newFSM(t, tt.cfg)
			j := sendingJob("j")
			if tt.job != nil {
				tt.job(j)
			}
			r.create(j)
			r.fax.fetch = []faxAnswer{tt.fetch}
			when := now
			if !tt.now.IsZero() {
				when = tt.now
			}
			got := r.step("j", when)
			r.check(got, tt.want, r.fax.takeCalls())
			q := tt.quality
			if q == "" {
				q = "fine"
			}
			if got.Quality != q || got.DetailsFetched != tt.details || got.Polls != j.Polls+1 {
				t.Errorf("quality %q details %v polls %d; want %q, %v, %d", got.Quality, got.DetailsFetched, got.Polls, q, tt.details, j.Polls+1)
			}
			if got.State == faxbridge.StateDone && tt.fetch.err == nil && tt.fetch.st.Terminal() &&
				(got.Duration != tt.fetch.st.Duration || got.NumPages != tt.fetch.st.Pages) {
				t.Errorf("duration %d pages %d; want the fetched %+v", got.Duration, got.NumPages, tt.fetch.st)
			}
		})
	}
}

// TestFinishStep: a done job × notifier and provider answers → the stored
// job. A report pending is sent first (the document deleted alongside);
// once the report is settled, and its fate written, the provider's media is
// deleted in the same step. The step runs at t0+10m.
func TestFinishStep(t *testing.T) {
	now := at(10 * time.Minute)
	reported := func(j *faxbridge.Job) {
		j.ReportState, j.ReportSentAt, j.NextAt, j.CleanedAt = faxbridge.ReportSent, at(6*time.Minute), at(6*time.Minute), at(6*time.Minute)
		j.DetailsFetched, j.Duration = true, 61
	}
	// withExtra: attempt 1 (FXold) failed on resolution, attempt 2 (FX1)
	// was delivered, and FX9 turned up as an extra.
	withExtra := func(j *faxbridge.Job) {
		a1 := mkAttempt("j", 1)
		a1.FaxSID, a1.Status = "FXold", faxbridge.OutcomeFailed
		a2 := j.Attempts[0]
		a2.Number, a2.Token, a2.MediaURL = 2, "tok2", mediaHost+"docs/j.pdf?sig=a2"
		j.Attempts = []faxbridge.Attempt{a1, a2}
		j.ExtraFaxes = []faxbridge.ExtraFax{{SID: "FX9", Status: faxbridge.OutcomeDelivered, Attempt: 1, Source: "callback", SeenAt: t0}}
	}
	done := fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
		outcome: faxbridge.OutcomeDelivered}
	w := func(report faxbridge.ReportState, next time.Time, jitter time.Duration, calls ...string) fsmWant {
		x := done
		x.report, x.next, x.jitter, x.calls = report, next, jitter, calls
		return x
	}
	full := faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeDelivered, Pages: 2, Duration: 61, RemoteStationID: "ACME"}
	type row struct {
		name      string
		cfg       func(*Config)
		job       func(*faxbridge.Job)
		fetch     []faxAnswer
		notify    []error
		del       []error
		want      fsmWant
		reports   int
		duration  int  // the job's afterwards
		deleted   bool // ProviderDeletedAt set
		docGone   bool // the document deleted in this step
		tries     [2]int
		extraWant func(*faxbridge.Job) // adjusts want's attempt count for withExtra
	}
	rows := []row{
		{name: "report sent; details fetched once; media deleted", fetch: []faxAnswer{{st: full}},
			want: w(faxbridge.ReportSent, time.Time{}, 0, "Fetch FX1", "DeleteMedia FX1"), reports: 1, duration: 61, docGone: true, deleted: true},
		{name: "report sent; duration known: no fetch", job: func(j *faxbridge.Job) { j.Duration = 42 },
			want: w(faxbridge.ReportSent, time.Time{}, 0, "DeleteMedia FX1"), reports: 1, duration: 42, docGone: true, deleted: true},
		{name: "report sent; details fetch fails: report anyway", fetch: []faxAnswer{{err: err503(0)}},
			want: w(faxbridge.ReportSent, time.Time{}, 0, "Fetch FX1", "DeleteMedia FX1"), reports: 1, docGone: true, deleted: true},
		{name: "report sent; media deletion fails: retried, report recorded", fetch: []faxAnswer{{st: full}}, del: []error{err503(0)},
			want:    w(faxbridge.ReportSent, now.Add(fsmFollowUp), fsmFollowUp/5, "Fetch FX1", "DeleteMedia FX1"),
			reports: 1, duration: 61, docGone: true, tries: [2]int{0, 1}},
		{name: "report sent; keep_media: nothing deleted, nothing left", cfg: func(c *Config) { c.KeepProviderMedia = true },
			fetch: []faxAnswer{{st: full}}, want: w(faxbridge.ReportSent, time.Time{}, 0, "Fetch FX1"), reports: 1, duration: 61, docGone: true},
		{name: "relay down: retried, no media deletion", fetch: []faxAnswer{{st: full}}, notify: []error{err503(0)},
			want: w(faxbridge.ReportPending, now.Add(fsmFollowUp), fsmFollowUp/5, "Fetch FX1"), reports: 1, duration: 61, docGone: true,
			tries: [2]int{1, 0}},
		{name: "relay login refused: retried", fetch: []faxAnswer{{st: full}},
			notify: []error{faxbridge.Errorf(faxbridge.EUnauthorized, "relay login refused")},
			want:   w(faxbridge.ReportPending, now.Add(fsmFollowUp), fsmFollowUp/5, "Fetch FX1"), reports: 1, duration: 61, docGone: true,
			tries: [2]int{1, 0}},
		{name: "relay refuses for good: abandoned, media deleted", fetch: []faxAnswer{{st: full}},
			notify: []error{faxbridge.Errorf(faxbridge.EInvalid, "mailbox unknown")},
			want:   w(faxbridge.ReportAbandoned, time.Time{}, 0, "Fetch FX1", "DeleteMedia FX1"), reports: 1, duration: 61, docGone: true, deleted: true},
		{name: "relay down past the report deadline: abandoned", fetch: []faxAnswer{{st: full}}, notify: []error{err503(0)},
			job:  func(j *faxbridge.Job) { j.ReportDeadline = now.Add(-time.Second) },
			want: w(faxbridge.ReportAbandoned, time.Time{}, 0, "Fetch FX1", "DeleteMedia FX1"), reports: 1, duration: 61, docGone: true, deleted: true},
		{name: "report sent: media deleted at the provider", job: reported,
			want: w(faxbridge.ReportSent, time.Time{}, 0, "DeleteMedia FX1"), duration: 61, deleted: true},
		{name: "report sent: media of every attempt and extra deleted", job: func(j *faxbridge.Job) { reported(j); withExtra(j) },
			want:     w(faxbridge.ReportSent, time.Time{}, 0, "DeleteMedia FXold", "DeleteMedia FX1", "DeleteMedia FX9"),
			duration: 61, deleted: true, extraWant: func(*faxbridge.Job) {}},
		{name: "keep_media: nothing deleted at the provider", cfg: func(c *Config) { c.KeepProviderMedia = true },
			job: func(j *faxbridge.Job) { reported(j); withExtra(j) }, want: w(faxbridge.ReportSent, time.Time{}, 0),
			duration: 61, extraWant: func(*faxbridge.Job) {}},
		{name: "media deletion fails: retried, report untouched", job: func(j *faxbridge.Job) { reported(j); withExtra(j) },
			del:      []error{nil, err503(0)},
			want:     w(faxbridge.ReportSent, now.Add(fsmFollowUp), fsmFollowUp/5, "DeleteMedia FXold", "DeleteMedia FX1"),
			duration: 61, tries: [2]int{0, 1}, extraWant: func(*faxbridge.Job) {}},
		{name: "media deletion fails past the retry window: let go", job: func(j *faxbridge.Job) {
			reported(j)
			j.FinishedAt = now.Add(-fsmReportRetryFor - 2*time.Minute)
			j.ReportSentAt = now.Add(-fsmReportRetryFor - time.Minute)
		},
			del:  []error{err503(0)},
			want: w(faxbridge.ReportSent, time.Time{}, 0, "DeleteMedia FX1"), duration: 61},
		// The window counts from the report: a report that took most of
		// its own window leaves the deletion a whole one.
		{name: "media deletion after a late report: retried", job: func(j *faxbridge.Job) {
			reported(j)
			j.FinishedAt = now.Add(-fsmReportRetryFor - time.Minute)
			j.ReportSentAt = now.Add(-time.Hour)
		},
			del:      []error{err503(0)},
			want:     w(faxbridge.ReportSent, now.Add(fsmFollowUp), fsmFollowUp/5, "DeleteMedia FX1"),
			duration: 61, tries: [2]int{0, 1}},
		{name: "no report to send: media deleted at once", job: func(j *faxbridge.Job) { j.ReportState, j.Duration = faxbridge.ReportSuppressed, 61 },
			want: w(faxbridge.ReportSuppressed, time.Time{}, 0, "DeleteMedia FX1"), duration: 61, deleted: true, docGone: true},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			r := newFSM(t, tt.cfg)
			j := doneJob("j")
			if tt.job != nil {
				tt.job(j)
			}
			r.create(j)
			r.fax.fetch, r.fax.del, r.notes.errs = tt.fetch, tt.del, tt.notify
			want := tt.want
			if tt.extraWant != nil {
				want.attempts = 2
				want.extras = []string{"FX9 callback 1"}
			}
			got := r.step("j", now)
			r.check(got, want, r.fax.takeCalls())
			if n := r.notes.count(); n != tt.reports {
				t.Errorf("%d reports, want %d", n, tt.reports)
			}
			if got.Duration != tt.duration {
				t.Errorf("duration %d, want %d", got.Duration, tt.duration)
			}
			if !got.ProviderDeletedAt.IsZero() != tt.deleted {
				t.Errorf("provider media deleted at %v, want deleted: %v", got.ProviderDeletedAt, tt.deleted)
			}
			if gone := slices.Contains(r.blobs.deleted, j.DocumentKey); gone != tt.docGone || got.CleanedAt.IsZero() {
				t.Errorf("document deleted now %v, want %v; cleaned at %v", gone, tt.docGone, got.CleanedAt)
			}
			if got.ReportTries != tt.tries[0] || got.ProviderTries != tt.tries[1] {
				t.Errorf("report tries %d, provider tries %d; want %v", got.ReportTries, got.ProviderTries, tt.tries)
			}
			if j.ReportState == faxbridge.ReportSent && !got.ReportSentAt.Equal(j.ReportSentAt) {
				t.Errorf("report sent at %v, was %v", got.ReportSentAt, j.ReportSentAt)
			}
			if tt.reports > 0 && got.ReportState == faxbridge.ReportSent && !got.ReportSentAt.Equal(now) {
				t.Errorf("report sent at %v, want %v", got.ReportSentAt, now)
			}
		})
	}
}

// The report is fenced: before the mail goes out the job is written with
// NextAt past the end of the relay call, so no other instance can claim it
// while the report is on its way. Details are fetched once, before the
// first try; a retry does not fetch them again. After the report, the next
// step deletes the provider's media of every fax of the job.
func TestReportFenceAndCleanup(t *testing.T) {
	r := newFSM(t, nil)
	j := doneJob("j")
	a1 := mkAttempt("j", 1)
	a1.FaxSID, a1.Status = "FXold", faxbridge.OutcomeFailed
	a2 := j.Attempts[0]
	a2.Number, a2.Token, a2.MediaURL = 2, "tok2", mediaHost+"docs/j.pdf?sig=a2"
	j.Attempts = []faxbridge.Attempt{a1, a2}
	j.ExtraFaxes = []faxbridge.ExtraFax{{SID: "FX9", Status: "sending", Attempt: 1, Source: "listing", SeenAt: t0}}
	r.create(j)
	r.fax.fetch = []faxAnswer{{st: faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeDelivered, Pages: 2, Duration: 61}}}
	r.notes.errs = []error{err503(0)}

	var during []string
	r.notes.during = func(ctx context.Context, rep faxbridge.Report) {
		now := r.clock.now()
		stored := r.get("j")
		dl, ok := ctx.Deadline()
		switch {
		case !ok || !dl.Equal(now.Add(fsmSendTimeout)):
			t.Errorf("relay call deadline %v (%v), want the step's time + send_timeout", dl, ok)
		case !stored.NextAt.After(dl):
			t.Errorf("during the relay call the stored job is due at %v, before the call's deadline %v", stored.NextAt, dl)
		}
		if stored.ReportState != faxbridge.ReportPending || !stored.DetailsFetched || stored.Duration != 61 {
			t.Errorf("fence: report %q, details fetched %v, duration %d", stored.ReportState, stored.DetailsFetched, stored.Duration)
		}
		// Another instance looking as late as the call may last finds
		// nothing to claim.
		if claimed, err := r.db.Claim(r.ctx, "another-instance", dl, time.Minute, 10); err != nil || len(claimed) != 0 {
			t.Errorf("another instance claimed %d jobs (%v) while the report was on its way", len(claimed), err)
		}
		during = append(during, rep.Job.ID)
		if rep.Job.Duration != 61 || len(rep.Job.ExtraFaxes) != 1 {
			t.Errorf("report carries duration %d, extras %+v", rep.Job.Duration, rep.Job.ExtraFaxes)
		}
	}

	first := at(10 * time.Minute)
	got := r.step("j", first)
	r.check(got, fsmWant{state: faxbridge.StateDone, attempts: 2, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
		next: first.Add(fsmFollowUp), jitter: fsmFollowUp / 5, extras: []string{"FX9 listing 1"}, outcome: faxbridge.OutcomeDelivered,
		report: faxbridge.ReportPending, calls: []string{"Fetch FX1"}}, r.fax.takeCalls())

	// The retry sends the report, writes its fate, and only then deletes
	// the media of every fax of the job, in the same step; during those
	// calls no other instance can claim the job.
	second := got.NextAt
	var deleting []string
	r.fax.onDelete = func(sid string) {
		stored := r.get("j")
		if stored.ReportState != faxbridge.ReportSent || !stored.ReportSentAt.Equal(second) {
			t.Errorf("deleting %s before the report's fate was written: report %q at %v", sid, stored.ReportState, stored.ReportSentAt)
		}
		if !stored.NextAt.After(second.Add(fsmSendTimeout)) {
			t.Errorf("while deleting %s the job is due at %v, before a provider call could have ended", sid, stored.NextAt)
		}
		deleting = append(deleting, sid)
	}
	got = r.step("j", second)
	r.check(got, fsmWant{state: faxbridge.StateDone, attempts: 2, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
		extras: []string{"FX9 listing 1"}, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportSent,
		calls: []string{"DeleteMedia FXold", "DeleteMedia FX1", "DeleteMedia FX9"}}, r.fax.takeCalls())
	if len(during) != 2 || got.Attempts[1].Duration != 61 {
		t.Errorf("%d relay calls, attempt duration %d", len(during), got.Attempts[1].Duration)
	}
	if !got.ProviderDeletedAt.Equal(second) || len(deleting) != 3 || len(r.blobs.deleted) != 1 {
		t.Errorf("provider deleted at %v; deleted while watched %q; documents deleted %q", got.ProviderDeletedAt, deleting, r.blobs.deleted)
	}
}

// An extra fax's callback that writes the job while its report is on the
// way must not make the report look unsent: it is recorded once, on the job
// as the callback left it, and the extra's media is deleted with the rest.
func TestReportRecordedDespiteCallback(t *testing.T) {
	r := newFSM(t, nil)
	r.create(doneJob("j"))
	r.fax.fetch = []faxAnswer{{st: faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeDelivered, Pages: 2, Duration: 61}}}
	r.notes.during = func(ctx context.Context, _ faxbridge.Report) {
		if err := r.s.ApplyStatus(ctx, "j", "tok-old", faxbridge.FaxStatus{SID: "FX7", Status: faxbridge.OutcomeDelivered}); err != nil {
			t.Errorf("callback during the report: %v", err)
		}
	}
	now := at(10 * time.Minute)
	got := r.step("j", now)
	r.check(got, fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
		extras: []string{"FX7 callback 0"}, outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportSent,
		calls: []string{"Fetch FX1", "DeleteMedia FX1", "DeleteMedia FX7"}}, r.fax.takeCalls())
	if got.Duration != 61 || !got.ReportSentAt.Equal(now) || got.ProviderDeletedAt.IsZero() {
		t.Errorf("duration %d, report sent at %v, media deleted at %v", got.Duration, got.ReportSentAt, got.ProviderDeletedAt)
	}
	// Nothing is left for the worker: the report never goes twice.
	if claimed, err := r.db.Claim(r.ctx, "w", at(24*time.Hour), time.Minute, 10); err != nil || len(claimed) != 0 {
		t.Errorf("claimable afterwards: %d jobs (%v)", len(claimed), err)
	}
	if n := r.notes.count(); n != 1 {
		t.Errorf("%d reports, want 1", n)
	}
}

// A final callback settles the job without a provider call; the worker
// then fetches what the callback lacks, reports, and deletes the media.
func TestFinalCallbackToCleanup(t *testing.T) {
	r := newFSM(t, nil)
	r.create(sendingJob("j"))
	cb := at(4 * time.Minute)
	r.clock.set(cb)
	if err := r.s.ApplyStatus(r.ctx, "j", "tok1", faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeDelivered, Pages: 2}); err != nil {
		t.Fatal(err)
	}
	if calls := r.fax.takeCalls(); len(calls) != 0 {
		t.Fatalf("the callback called the provider: %q", calls)
	}
	r.fax.fetch = []faxAnswer{{st: faxbridge.FaxStatus{SID: "FX1", Status: faxbridge.OutcomeDelivered, Pages: 2, Duration: 61}}}
	got := r.step("j", cb)
	if got.ReportState != faxbridge.ReportSent || got.Duration != 61 || !got.NextAt.IsZero() {
		t.Errorf("after the report step: report %q duration %d next %v", got.ReportState, got.Duration, got.NextAt)
	}
	if calls := r.fax.takeCalls(); !slices.Equal(calls, []string{"Fetch FX1", "DeleteMedia FX1"}) || got.ProviderDeletedAt.IsZero() || r.notes.count() != 1 {
		t.Errorf("provider calls %q, media deleted at %v, %d reports", calls, got.ProviderDeletedAt, r.notes.count())
	}
}

// TestAdmin: an operator's Cancel or RetryNow × the job's state → the
// stored job, and what the worker does next.
func TestAdmin(t *testing.T) {
	// crashed: the submission at t0 was interrupted (no answer, no error
	// counted); its provider call may run until t0+SendTimeout+30s.
	crashed := func() *faxbridge.Job {
		j := submittingJob("j")
		j.SendErrors, j.LastError, j.NextAt = 0, "", at(fsmSendTimeout+30*time.Second)
		return j
	}
	refused := func() *faxbridge.Job {
		j := listedOnce(submittingJob("j"))
		j.SendErrors, j.NextAt = 3, at(fsmReconcileAfter+3*time.Minute)
		return j
	}
	inFlight := at(5 * time.Second)
	settled := func(now time.Time) fsmWant {
		return fsmWant{state: faxbridge.StateDone, attempts: 1, status: "unknown", next: now, outcome: faxbridge.OutcomeExpired,
			reason: "may or may not", report: faxbridge.ReportPending}
	}
	type row struct {
		name    string
		job     func() *faxbridge.Job
		now     time.Time
		op      string // "cancel" or "retry"
		errCode faxbridge.Code
		want    fsmWant
		// then: the worker's next step at its NextAt, and what it leaves.
		fetch, find, list []faxAnswer
		then              *fsmWant
	}
	rows := []row{
		{name: "cancel an unsettled submission: unknown, never sent", job: func() *faxbridge.Job { return submittingJob("j") },
			now: at(time.Minute), op: "cancel",
			want: func() fsmWant { w := settled(at(time.Minute)); w.sendErrors = 1; return w }(),
			then: func() *fsmWant {
				w := settled(at(time.Minute))
				w.sendErrors, w.next = 1, time.Time{} // no fax at the provider: nothing to delete there
				w.report = faxbridge.ReportSent
				return &w
			}()},
		{name: "cancel an interrupted submission after its call's time", job: crashed, now: at(fsmSendTimeout + 31*time.Second), op: "cancel",
			want: settled(at(fsmSendTimeout + 31*time.Second))},
		{name: "cancel a submission in flight: conflict", job: crashed, now: inFlight, op: "cancel", errCode: faxbridge.EConflict,
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(fsmSendTimeout + 30*time.Second)}},
		{name: "cancel a queued job", job: func() *faxbridge.Job { return queuedJob("j") }, now: at(time.Minute), op: "cancel",
			want: fsmWant{state: faxbridge.StateDone, next: at(time.Minute), outcome: faxbridge.OutcomeCanceled, reason: "canceled",
				report: faxbridge.ReportPending}},
		{name: "cancel a sending fax: withdrawn at the provider, polled now", job: func() *faxbridge.Job { return sendingJob("j") },
			now: at(time.Minute), op: "cancel",
			want: fsmWant{state: faxbridge.StateSending, attempts: 1, status: "queued", attemptSID: "FX1", faxSID: "FX1", next: at(time.Minute),
				calls: []string{"Cancel FX1"}},
			fetch: []faxAnswer{{st: faxSt("FX1", faxbridge.OutcomeCanceled)}},
			then: &fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeCanceled, attemptSID: "FX1", faxSID: "FX1",
				next: at(time.Minute), outcome: faxbridge.OutcomeCanceled, report: faxbridge.ReportPending, calls: []string{"Fetch FX1"}}},
		{name: "cancel a finished job: invalid", job: func() *faxbridge.Job { return doneJob("j") }, now: at(time.Hour), op: "cancel",
			errCode: faxbridge.EInvalid,
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
				next: at(5 * time.Minute), outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportPending}},
		{name: "retry an unsettled submission: due now, still no early listing", job: func() *faxbridge.Job { return submittingJob("j") },
			now: at(time.Minute), op: "retry",
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(time.Minute), sendErrors: 1},
			then: &fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(fsmReconcileAfter), sendErrors: 1}},
		{name: "retry after the listing was refused: second listing still waits", job: refused,
			now: at(fsmReconcileAfter + time.Minute), op: "retry",
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(fsmReconcileAfter + time.Minute), sendErrors: 3, listings: 1},
			then: &fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(2 * fsmReconcileAfter), sendErrors: 3, listings: 1}},
		{name: "retry after the listing was refused, once it is due: listed now", job: refused,
			now: at(2*fsmReconcileAfter + time.Minute), op: "retry",
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(2*fsmReconcileAfter + time.Minute), sendErrors: 3, listings: 1},
			find: []faxAnswer{{list: []faxbridge.FaxStatus{faxSt("FX1", "sending")}}},
			then: &fsmWant{state: faxbridge.StateSending, attempts: 1, status: "sending", attemptSID: "FX1", faxSID: "FX1",
				next: at(2*fsmReconcileAfter + time.Minute + fsmPollAfter), calls: []string{"FindSent"}}},
		{name: "retry a submission in flight: conflict", job: crashed, now: inFlight, op: "retry", errCode: faxbridge.EConflict,
			want: fsmWant{state: faxbridge.StateSubmitting, attempts: 1, next: at(fsmSendTimeout + 30*time.Second)}},
		{name: "retry a job with nothing left to do: invalid", now: at(time.Hour), op: "retry", errCode: faxbridge.EInvalid,
			job: func() *faxbridge.Job {
				j := doneJob("j")
				j.ReportState, j.NextAt = faxbridge.ReportSent, time.Time{}
				return j
			},
			want: fsmWant{state: faxbridge.StateDone, attempts: 1, status: faxbridge.OutcomeDelivered, attemptSID: "FX1", faxSID: "FX1",
				outcome: faxbridge.OutcomeDelivered, report: faxbridge.ReportSent}},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			r := newFSM(t, nil)
			r.create(tt.job())
			r.clock.set(tt.now)
			var err error
			switch tt.op {
			case "cancel":
				_, err = r.s.Cancel(r.ctx, "j")
			case "retry":
				_, err = r.s.RetryNow(r.ctx, "j")
			}
			if faxbridge.ErrorCode(err) != tt.errCode {
				t.Errorf("%s: %v, want code %q", tt.op, err, tt.errCode)
			}
			got := r.get("j")
			r.check(got, tt.want, r.fax.takeCalls())
			if tt.then == nil {
				return
			}
			r.fax.fetch, r.fax.find, r.fax.list = tt.fetch, tt.find, tt.list
			got = r.step("j", got.NextAt)
			r.check(got, *tt.then, r.fax.takeCalls())
			if len(r.fax.sends) != 0 {
				t.Errorf("sent after %s", tt.op)
			}
		})
	}
}

// What a final callback lacks is fetched once, best effort: a report retried
// after a failed fetch does not ask the provider again.
func TestDetailsFetchedOnce(t *testing.T) {
	r := newFSM(t, nil)
	r.create(doneJob("j"))
	r.fax.fetch = []faxAnswer{{err: err503(0)}}
	r.notes.errs = []error{err503(0)}
	first := at(10 * time.Minute)
	got := r.step("j", first)
	if calls := r.fax.takeCalls(); !slices.Equal(calls, []string{"Fetch FX1"}) || got.ReportState != faxbridge.ReportPending || !got.DetailsFetched {
		t.Fatalf("first try: calls %q, report %q, details fetched %v", calls, got.ReportState, got.DetailsFetched)
	}
	got = r.step("j", got.NextAt)
	if calls := r.fax.takeCalls(); !slices.Equal(calls, []string{"DeleteMedia FX1"}) || got.ReportState != faxbridge.ReportSent || got.Duration != 0 || r.notes.count() != 2 {
		t.Errorf("retry: calls %q, report %q, duration %d, %d relay calls", calls, got.ReportState, got.Duration, r.notes.count())
	}
}

// A job handed to the worker (handoff.go) is stored due a lease on: when
// that outlasts the relay call, it fences the report without another
// write; when it does not, the fence is written as for a claimed job.
func TestReportFencedByHandoff(t *testing.T) {
	now := at(10 * time.Minute)
	for _, tt := range []struct {
		name  string
		due   time.Time // the stored NextAt the step starts from
		write bool      // a fence is written
	}{
		{"handed over a lease ahead: no fence write", now.Add(2 * time.Minute), false},
		{"too close for the relay call: fence written", now.Add(fsmSendTimeout), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newFSM(t, nil)
			j := doneJob("j")
			j.Duration, j.NextAt = 61, tt.due
			r.create(j)
			start := r.get("j")
			var seen bool
			r.notes.during = func(ctx context.Context, _ faxbridge.Report) {
				seen = true
				stored := r.get("j")
				dl, _ := ctx.Deadline()
				if !dl.Equal(now.Add(fsmSendTimeout)) {
					t.Errorf("relay call deadline %v, want the step's time + send_timeout", dl)
				}
				if wrote := stored.Version != start.Version; wrote != tt.write {
					t.Errorf("fence written: %v (version %d → %d), want %v", wrote, start.Version, stored.Version, tt.write)
				}
				if !stored.NextAt.After(dl) {
					t.Errorf("during the relay call the stored job is due at %v, before the call's deadline %v", stored.NextAt, dl)
				}
				if claimed, err := r.db.Claim(r.ctx, "another-instance", dl, time.Minute, 10); err != nil || len(claimed) != 0 {
					t.Errorf("another instance claimed %d jobs (%v) while the report was on its way", len(claimed), err)
				}
			}
			got := r.step("j", now)
			if !seen || got.ReportState != faxbridge.ReportSent || r.notes.count() != 1 {
				t.Errorf("report %q, %d relay calls", got.ReportState, r.notes.count())
			}
		})
	}
}

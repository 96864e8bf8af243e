package jobs

// The rig of the worker's state-machine tests (submit_test.go,
// callback_test.go, statemachine_test.go): a Service on a fake clock with a
// scripted provider, a blob store that hands out a new URL per call and a
// notifier that records reports, over the real SQLite job store.
//
// The store is the real one, not a fake: the rules under test lean on what
// only it does faithfully — Update's version check (a callback that wins
// the race makes the step's write lose), GetBySID over every attempt's and
// extra fax's SID (a listing must not adopt a fax another job or an earlier
// attempt recorded), and the JSON round trip of every field asserted. A
// fake would have to re-implement all three and could agree with the bug.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store"
)

// The policy every state-machine test runs under.
const (
	fsmSendTimeout    = 20 * time.Second
	fsmReconcileAfter = 5 * time.Minute
	fsmPollAfter      = 2 * time.Minute
	fsmPollMax        = 10 * time.Minute
	fsmRetryMax       = 10 * time.Minute
	fsmGiveUpAfter    = 3 * time.Hour
	fsmFollowUp       = 30 * time.Second
	fsmReportRetryFor = 48 * time.Hour
	fsmRedialSpacing  = 5 * time.Minute
)

// t0 is when the job of a test was created and, for a job past submission,
// when its current submission was decided (IntentAt).
var t0 = time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)

const (
	fsmTo       = "+15551230001"
	fsmFrom     = "+15559870000"
	fsmReportTo = "alice@example.com"
	mediaHost   = "https://media.example.com/"        // our storage
	swMedia     = "https://files.signalwire.example/" // the provider's copy
)

func at(d time.Duration) time.Time { return t0.Add(d) }

// faxAnswer is one scripted answer of the provider.
type faxAnswer struct {
	st   faxbridge.FaxStatus
	list []faxbridge.FaxStatus
	err  error
}

// fsmFax is a FaxProvider that answers from per-method scripts and records
// every call ("Send", "Fetch FX1", "FindSent", "ListSent", "Cancel FX1",
// "DeleteMedia FX1"). A call with its script used up fails, so a step that
// calls more than the test expects shows in its recorded calls and result.
// Cancel and DeleteMedia succeed once their scripts run out.
type fsmFax struct {
	mu      sync.Mutex
	calls   []string
	sends   []faxbridge.FaxRequest
	queries []faxbridge.SentQuery // FindSent's and ListSent's
	found   []string              // the media URL FindSent was asked for

	send, fetch, find, list []faxAnswer
	cancel, del             []error
	// onSend runs inside Send before it answers: a callback that beats the
	// answer, as SignalWire's can.
	onSend func(req faxbridge.FaxRequest)
	// onDelete runs inside DeleteMedia before it answers.
	onDelete func(sid string)
}

var errUnscripted = faxbridge.Errorf(faxbridge.EInternal, "unscripted provider call")

func pop[T any](q *[]T, none T) T {
	if len(*q) == 0 {
		return none
	}
	v := (*q)[0]
	*q = (*q)[1:]
	return v
}

func (f *fsmFax) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fsmFax) Send(_ context.Context, req faxbridge.FaxRequest) (faxbridge.FaxStatus, error) {
	f.record("Send")
	f.mu.Lock()
	f.sends = append(f.sends, req)
	a := pop(&f.send, faxAnswer{err: errUnscripted})
	hook := f.onSend
	f.mu.Unlock()
	if hook != nil {
		hook(req)
	}
	return a.st, a.err
}

func (f *fsmFax) Fetch(_ context.Context, sid string) (faxbridge.FaxStatus, error) {
	f.record("Fetch " + sid)
	f.mu.Lock()
	defer f.mu.Unlock()
	a := pop(&f.fetch, faxAnswer{err: errUnscripted})
	return a.st, a.err
}

func (f *fsmFax) FindSent(_ context.Context, q faxbridge.SentQuery, mediaURL string) ([]faxbridge.FaxStatus, error) {
	f.record("FindSent")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	f.found = append(f.found, mediaURL)
	a := pop(&f.find, faxAnswer{err: errUnscripted})
	return a.list, a.err
}

func (f *fsmFax) ListSent(_ context.Context, q faxbridge.SentQuery) ([]faxbridge.FaxStatus, error) {
	f.record("ListSent")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	a := pop(&f.list, faxAnswer{err: errUnscripted})
	return a.list, a.err
}

func (f *fsmFax) Cancel(_ context.Context, sid string) error {
	f.record("Cancel " + sid)
	f.mu.Lock()
	defer f.mu.Unlock()
	return pop(&f.cancel, nil)
}

func (f *fsmFax) DeleteMedia(_ context.Context, sid string) error {
	f.record("DeleteMedia " + sid)
	f.mu.Lock()
	err := pop(&f.del, nil)
	hook := f.onDelete
	f.mu.Unlock()
	if hook != nil {
		hook(sid)
	}
	return err
}

func (f *fsmFax) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// fsmBlobs hands out a distinct URL on our storage host per call and
// records deletions.
type fsmBlobs struct {
	faxbridge.BlobStore
	mu      sync.Mutex
	urls    []string
	deleted []string
	urlErr  error
	delErr  []error
}

func (b *fsmBlobs) URL(_ context.Context, key string, _ time.Duration) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.urlErr != nil {
		return "", b.urlErr
	}
	u := fmt.Sprintf("%s%s?sig=%d", mediaHost, key, len(b.urls)+1)
	b.urls = append(b.urls, u)
	return u, nil
}

func (b *fsmBlobs) Delete(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleted = append(b.deleted, key)
	return pop(&b.delErr, nil)
}

// fsmNotifier records reports (with a copy of the job as it was sent) and
// answers with scripted errors, nil once they run out. during, when set,
// runs inside Notify: it looks at the store while the report is on its way.
type fsmNotifier struct {
	mu      sync.Mutex
	reports []faxbridge.Report
	errs    []error
	during  func(ctx context.Context, r faxbridge.Report)
}

func (n *fsmNotifier) Notify(ctx context.Context, r faxbridge.Report) error {
	if n.during != nil {
		n.during(ctx, r)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c := *r.Job
	r.Job = &c
	n.reports = append(n.reports, r)
	return pop(&n.errs, nil)
}

func (n *fsmNotifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.reports)
}

// fsm is one Service with its fakes.
type fsm struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	s     *Service
	fax   *fsmFax
	blobs *fsmBlobs
	notes *fsmNotifier
	clock *fakeClock

	mu     sync.Mutex
	events []string // "event:value", as Config.OnEvent was told
}

func newFSM(t *testing.T, mod func(*Config)) *fsm {
	t.Helper()
	ctx := t.Context()
	db := openStore(t)
	r := &fsm{t: t, ctx: ctx, db: db, fax: &fsmFax{}, blobs: &fsmBlobs{}, notes: &fsmNotifier{}, clock: &fakeClock{t: t0}}
	cfg := Config{
		Owner:          "worker-1",
		SendTimeout:    fsmSendTimeout,
		ReconcileAfter: fsmReconcileAfter,
		PollAfter:      fsmPollAfter,
		PollMax:        fsmPollMax,
		RetryMax:       fsmRetryMax,
		GiveUpAfter:    fsmGiveUpAfter,
		FollowUpRetry:  fsmFollowUp,
		ReportRetryFor: fsmReportRetryFor,
		RedialSpacing:  fsmRedialSpacing,
		ReportFrom:     "Fax <fax@example.com>",
		Hostname:       "gw.example.com",
		CallbackURL: func(id, token string) string {
			return "https://gw.example.com/callbacks/status?" + url.Values{"job": {id}, "t": {token}}.Encode()
		},
		OnEvent: func(event, value string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, event+":"+value)
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	r.s = New(cfg, db, r.blobs, r.fax, r.notes, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.s.now, r.s.sleep = r.clock.now, r.clock.sleep
	return r
}

// create stores jobs as they are.
func (r *fsm) create(jobs ...*faxbridge.Job) {
	r.t.Helper()
	if err := r.db.Create(r.ctx, jobs); err != nil {
		r.t.Fatal(err)
	}
}

func (r *fsm) get(id string) *faxbridge.Job {
	r.t.Helper()
	j, err := r.db.Get(r.ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return j
}

// step runs one worker step of the stored job at the given time, as the
// worker does after claiming it, and returns the stored job afterwards.
func (r *fsm) step(id string, now time.Time) *faxbridge.Job {
	r.t.Helper()
	r.clock.set(now)
	r.s.step(r.ctx, r.get(id))
	return r.get(id)
}

func (r *fsm) takeEvents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

// countEvents counts one "event:value" since the last takeEvents.
func (r *fsm) countEvents(ev string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e == ev {
			n++
		}
	}
	return n
}

// Fixtures. Every job goes to fsmTo from fsmFrom and reports to
// fsmReportTo; each is the state a job is in when the worker finds it.

func queuedJob(id string) *faxbridge.Job {
	return &faxbridge.Job{ID: id, Version: 1, State: faxbridge.StateQueued, Quality: "fine", ReportTo: fsmReportTo,
		Destination: faxbridge.Destination{To: fsmTo}, From: fsmFrom, DocumentKey: "docs/" + id + ".pdf",
		CreatedAt: t0, UpdatedAt: t0, NextAt: t0}
}

// attempt n of a job, submitted at t0 with its own token and media URL.
func mkAttempt(id string, n int) faxbridge.Attempt {
	return faxbridge.Attempt{Number: n, Quality: "fine", StartedAt: t0, Token: fmt.Sprintf("tok%d", n),
		MediaURL: fmt.Sprintf("%sdocs/%s.pdf?sig=a%d", mediaHost, id, n)}
}

// submittingJob: the submission decided at t0 lost its answer
// (ErrAmbiguous); it waits to be reconciled at t0+ReconcileAfter.
func submittingJob(id string) *faxbridge.Job {
	j := queuedJob(id)
	a := mkAttempt(id, 1)
	j.State = faxbridge.StateSubmitting
	j.IntentAt = t0
	j.Attempts = []faxbridge.Attempt{a}
	j.MediaURL = a.MediaURL
	j.SendErrors = 1
	j.NextAt = at(fsmReconcileAfter)
	j.LastError = "The answer to the submission was lost. The fax service is asked at " + j.NextAt.Format(time.RFC3339) + " whether it has the fax."
	return j
}

// listedOnce: the first listing, at t0+ReconcileAfter, did not show the
// job's fax; the second is due ReconcileAfter later.
func listedOnce(j *faxbridge.Job) *faxbridge.Job {
	j.EmptyListings = 1
	j.NextAt = at(2 * fsmReconcileAfter)
	j.LastError = "The fax service does not list the fax yet. It is asked again at " + j.NextAt.Format(time.RFC3339) + "."
	return j
}

// retrySubmittingJob: attempt 1 (FXold) failed on resolution; attempt 2 at
// standard quality, decided at t0, lost its answer.
func retrySubmittingJob(id string) *faxbridge.Job {
	j := submittingJob(id)
	a1 := mkAttempt(id, 1)
	a1.FaxSID, a1.Status, a1.ErrorMessage = "FXold", faxbridge.OutcomeFailed, "The receiving machine refused the resolution"
	a2 := mkAttempt(id, 2)
	a2.Quality = "standard"
	j.Quality = "standard"
	j.Attempts = []faxbridge.Attempt{a1, a2}
	j.MediaURL = a2.MediaURL
	return j
}

// sendingJob: the provider took the fax FX1 of the submission at t0.
func sendingJob(id string) *faxbridge.Job {
	j := queuedJob(id)
	a := mkAttempt(id, 1)
	a.FaxSID, a.Status = "FX1", "queued"
	j.State = faxbridge.StateSending
	j.IntentAt = t0
	j.Attempts = []faxbridge.Attempt{a}
	j.MediaURL = a.MediaURL
	j.FaxSID, j.FaxStatus = "FX1", "queued"
	j.NextAt = at(fsmPollAfter)
	return j
}

// doneJob: FX1 was delivered (by a callback at t0+5m, which carries no
// duration); the report is due.
func doneJob(id string) *faxbridge.Job {
	j := sendingJob(id)
	fin := at(5 * time.Minute)
	j.State = faxbridge.StateDone
	j.Attempts[0].Status, j.Attempts[0].Pages = faxbridge.OutcomeDelivered, 2
	j.FaxStatus, j.NumPages = faxbridge.OutcomeDelivered, 2
	j.Outcome = faxbridge.OutcomeDelivered
	j.FinishedAt = fin
	j.ReportState = faxbridge.ReportPending
	j.ReportDeadline = fin.Add(fsmReportRetryFor)
	j.NextAt = fin
	return j
}

// Provider answers and errors as faxsend makes them.

func faxSt(sid, status string) faxbridge.FaxStatus {
	return faxbridge.FaxStatus{SID: sid, Status: status, To: fsmTo}
}

func errAmbiguous() error {
	return &faxbridge.Error{Code: faxbridge.EUnavailable, Message: "The fax service did not answer.",
		Err: fmt.Errorf("%w: read tcp: i/o timeout", faxbridge.ErrAmbiguous)}
}

func err503(retryAfter time.Duration) error {
	return &faxbridge.Error{Code: faxbridge.EUnavailable, Message: "The fax service is unavailable.", RetryAfter: retryAfter,
		Err: fmt.Errorf("signalwire: HTTP 503")}
}

func err401() error {
	return &faxbridge.Error{Code: faxbridge.EUnauthorized, Message: "The fax service refused the gateway's credentials.",
		Err: fmt.Errorf("%w: signalwire: HTTP 401", faxbridge.ErrAccount)}
}

func err30002() error {
	return &faxbridge.Error{Code: faxbridge.EUnavailable, Message: "The fax account has insufficient balance.",
		Err: fmt.Errorf("%w: signalwire: HTTP 402 code 30002", faxbridge.ErrAccount)}
}

func err400() error {
	return &faxbridge.Error{Code: faxbridge.EInvalid, Message: "The fax number +15551230001 cannot receive faxes.",
		Err: fmt.Errorf("signalwire: HTTP 400 code 21211")}
}

// want is the stored job a step must leave.
type fsmWant struct {
	state      faxbridge.State
	attempts   int
	status     string // the last attempt's Status
	attemptSID string // the last attempt's FaxSID
	faxSID     string
	// next is NextAt (zero: nothing left to do); jitter the backoff's
	// tolerance either side (0: exact).
	next       time.Time
	jitter     time.Duration
	sendErrors int
	listings   int
	extras     []string // "SID source attempt"
	outcome    string
	reason     string // a substring of Reason; "" wants no reason
	report     faxbridge.ReportState
	calls      []string // every provider call, in order
	problem    bool     // ProviderProblem() non-nil
}

// check compares the stored job with w, and checks what holds in every
// state: attempts numbered from 1, each with its own token and media URL,
// and the state's own invariants.
func (r *fsm) check(j *faxbridge.Job, w fsmWant, calls []string) {
	t := r.t
	t.Helper()
	if j.State != w.state {
		t.Errorf("state %s, want %s (last error %q)", j.State, w.state, j.LastError)
	}
	if len(j.Attempts) != w.attempts {
		t.Errorf("%d attempts, want %d: %+v", len(j.Attempts), w.attempts, j.Attempts)
	} else if n := len(j.Attempts); n > 0 {
		a := j.Attempts[n-1]
		if a.Status != w.status || a.FaxSID != w.attemptSID {
			t.Errorf("last attempt status %q fax %q, want %q and %q", a.Status, a.FaxSID, w.status, w.attemptSID)
		}
	}
	if j.FaxSID != w.faxSID {
		t.Errorf("fax SID %q, want %q", j.FaxSID, w.faxSID)
	}
	switch {
	case w.next.IsZero() && !j.NextAt.IsZero():
		t.Errorf("next at %v, want nothing left to do", j.NextAt)
	case !w.next.IsZero() && j.NextAt.IsZero():
		t.Errorf("nothing left to do, want next at t0+%v", w.next.Sub(t0))
	case !w.next.IsZero() && (j.NextAt.Before(w.next.Add(-w.jitter)) || j.NextAt.After(w.next.Add(w.jitter))):
		t.Errorf("next at t0+%v, want t0+%v ±%v", j.NextAt.Sub(t0), w.next.Sub(t0), w.jitter)
	}
	if j.SendErrors != w.sendErrors {
		t.Errorf("send errors %d, want %d", j.SendErrors, w.sendErrors)
	}
	if j.EmptyListings != w.listings {
		t.Errorf("empty listings %d, want %d", j.EmptyListings, w.listings)
	}
	var extras []string
	for _, x := range j.ExtraFaxes {
		extras = append(extras, fmt.Sprintf("%s %s %d", x.SID, x.Source, x.Attempt))
	}
	if !slices.Equal(extras, w.extras) {
		t.Errorf("extra faxes %q, want %q", extras, w.extras)
	}
	if j.Outcome != w.outcome {
		t.Errorf("outcome %q, want %q", j.Outcome, w.outcome)
	}
	if (w.reason == "") != (j.Reason == "") || !strings.Contains(j.Reason, w.reason) {
		t.Errorf("reason %q, want one with %q", j.Reason, w.reason)
	}
	if j.ReportState != w.report {
		t.Errorf("report %q, want %q", j.ReportState, w.report)
	}
	if !slices.Equal(calls, w.calls) {
		t.Errorf("provider calls %q, want %q", calls, w.calls)
	}
	if p := r.s.ProviderProblem(); (p != nil) != w.problem {
		t.Errorf("provider problem %v, want one: %v", p, w.problem)
	}

	tokens := map[string]bool{}
	media := map[string]bool{}
	for i, a := range j.Attempts {
		if a.Number != i+1 {
			t.Errorf("attempt %d numbered %d", i+1, a.Number)
		}
		if a.Token == "" || tokens[a.Token] || a.MediaURL == "" || media[a.MediaURL] {
			t.Errorf("attempt %d: token %q, media %q: each attempt needs its own", a.Number, a.Token, a.MediaURL)
		}
		tokens[a.Token], media[a.MediaURL] = true, true
	}
	switch j.State {
	case faxbridge.StateSubmitting:
		if j.FaxSID != "" || len(j.Attempts) == 0 || j.MediaURL != j.Attempts[len(j.Attempts)-1].MediaURL {
			t.Errorf("submitting with fax %q, %d attempts, media %q: the current attempt waits for its fax", j.FaxSID, len(j.Attempts), j.MediaURL)
		}
	case faxbridge.StateSending:
		if j.FaxSID == "" || j.Attempts[len(j.Attempts)-1].FaxSID != j.FaxSID {
			t.Errorf("sending fax %q, but the last attempt's is %+v", j.FaxSID, j.Attempts)
		}
	case faxbridge.StateDone:
		if j.Outcome == "" || j.FinishedAt.IsZero() || j.ReportState == faxbridge.ReportNone {
			t.Errorf("done without outcome (%q), finish time or report state (%q)", j.Outcome, j.ReportState)
		}
	}
}

// tokenOf reads the token from a status callback URL.
func tokenOf(t *testing.T, callback string) string {
	t.Helper()
	u, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("t")
}

func wrapf(err error, detail string) error { return fmt.Errorf("%w: %s", err, detail) }

// openStore opens a new SQLite job store for one test, closed when it ends.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store"
)

// promptFax answers every submission at once, with FX1, FX2, …, and
// announces it; the fax resource says delivered.
type promptFax struct {
	faxbridge.FaxProvider
	mu   sync.Mutex
	n    int
	sent chan faxbridge.FaxRequest
	hold chan struct{} // when set, each Send waits for a token
}

func (f *promptFax) Send(_ context.Context, req faxbridge.FaxRequest) (faxbridge.FaxStatus, error) {
	if f.hold != nil {
		<-f.hold
	}
	f.mu.Lock()
	f.n++
	sid := fmt.Sprintf("FX%d", f.n)
	f.mu.Unlock()
	f.sent <- req
	return faxbridge.FaxStatus{SID: sid, Status: "queued"}, nil
}

func (f *promptFax) Fetch(_ context.Context, sid string) (faxbridge.FaxStatus, error) {
	return faxbridge.FaxStatus{SID: sid, Status: faxbridge.OutcomeDelivered, Pages: 1, Duration: 30}, nil
}

func (f *promptFax) DeleteMedia(context.Context, string) error { return nil }

// handoffRig is a running worker on SQLite whose lease is an hour: a job
// left for a claim after a handoff would wait that long.
type handoffRig struct {
	db      *store.DB
	s       *Service
	fax     *promptFax
	claims  *claimSpy
	reports reportChan
	stop    func()
}

func newHandoffRig(t *testing.T, concurrency int, hold bool) *handoffRig {
	t.Helper()
	ctx := context.Background()
	db := openStore(t)
	fax := &promptFax{sent: make(chan faxbridge.FaxRequest, 16)}
	if hold {
		fax.hold = make(chan struct{}, 16)
	}
	r := &handoffRig{db: db, fax: fax, claims: &claimSpy{JobStore: db, claimed: make(chan string, 64)}, reports: make(reportChan, 16)}
	cfg := Config{SpoolDir: t.TempDir(), MaxBuilds: 1, Concurrency: concurrency, Lease: time.Hour,
		CallbackURL: func(id, token string) string { return "https://gw.example/cb/" + id + "?sub=" + token }}
	r.s = New(cfg, r.claims, &memBlobsWithURL{}, fax, r.reports, slog.New(slog.NewTextHandler(io.Discard, nil)))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.s.Run(runCtx)
	}()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			if hold { // a step waiting for the provider gets its answer
				for range 16 {
					fax.hold <- struct{}{}
				}
			}
			<-done
		})
	}
	t.Cleanup(r.stop)
	for !r.s.workerOn.Load() {
		time.Sleep(time.Millisecond)
	}
	return r
}

// accept takes a scanner's message for the numbers given.
func (r *handoffRig) accept(t *testing.T, to ...string) []*faxbridge.Job {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "scanner", "scan-pdf-root-no-body.eml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := faxbridge.Envelope{MailFrom: "scanner@office.example", RemoteAddr: "192.0.2.10:40000"}
	for _, n := range to {
		env.Recipients = append(env.Recipients, faxbridge.Recipient{Destination: faxbridge.Destination{To: n}})
	}
	jobs, err := r.s.Accept(context.Background(), env, f)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func (r *handoffRig) noClaims(t *testing.T, when string) {
	t.Helper()
	select {
	case id := <-r.claims.claimed:
		t.Errorf("%s: job %s was claimed from the store", when, id)
	default:
	}
}

// memBlobsWithURL is memBlobs serving every document at a fixed URL.
type memBlobsWithURL struct{ memBlobs }

func (*memBlobsWithURL) URL(_ context.Context, key string, _ time.Duration) (string, error) {
	return "https://media.example.com/" + key, nil
}

// List (the janitor's) finds no orphans.
func (*memBlobsWithURL) List(context.Context, time.Time) ([]string, error) { return nil, nil }

// TestHandoff: the jobs a message creates here, and the job a final
// callback settles here, go to this process's worker without a claim: the
// faxes go out, and their reports, while nothing is claimed from the store.
func TestHandoff(t *testing.T) {
	r := newHandoffRig(t, 2, false)
	r.accept(t, "+15551234567", "+15557654321")
	var sids []string
	for range 2 {
		req := within(t, r.fax.sent, "a submission")
		sids = append(sids, req.StatusCallback)
	}
	// Each submission's adoption is written; then the callbacks settle them.
	deadline := time.Now().Add(10 * time.Second)
	for _, sid := range []string{"FX1", "FX2"} {
		for {
			j, err := r.db.GetBySID(context.Background(), sid)
			if err == nil && j.State == faxbridge.StateSending {
				if err := r.s.ApplyStatus(context.Background(), j.ID, j.Attempts[0].Token,
					faxbridge.FaxStatus{SID: sid, Status: faxbridge.OutcomeDelivered, Pages: 1}); err != nil {
					t.Fatal(err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("fax %s not adopted: %v", sid, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for range 2 {
		rep := within(t, r.reports, "a report")
		if rep.Job.Outcome != faxbridge.OutcomeDelivered || rep.Job.Duration != 30 {
			t.Errorf("report: outcome %q duration %d", rep.Job.Outcome, rep.Job.Duration)
		}
	}
	r.noClaims(t, "accepted, sent and reported")
}

// TestHandoffFull: a job the worker has no room for waits for a claim as
// before, and a stopping worker leaves the jobs handed to it, but not
// started, due now instead of a lease on.
func TestHandoffFull(t *testing.T) {
	r := newHandoffRig(t, 2, true)
	stored := func(id string) *faxbridge.Job {
		j, err := r.db.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	// Two slots, every Send held: the first two jobs are handed over and
	// their steps wait for the provider; the third was written due now.
	jobs := r.accept(t, "+15551234567", "+15557654321", "+15559876543")
	r.noClaims(t, "both slots busy")
	// One submission answers: its slot frees and the third is claimed.
	r.fax.hold <- struct{}{}
	within(t, r.fax.sent, "the first answer")
	if id := within(t, r.claims.claimed, "a claim"); id != jobs[2].ID {
		t.Errorf("claimed %s, want the job the handoff had no room for (%s)", id, jobs[2].ID)
	}
	// Both slots busy again: a new job is handed over and waits.
	late := r.accept(t, "+15550001111")[0]
	if next := stored(late.ID).NextAt; time.Until(next) < 50*time.Minute {
		t.Errorf("the job waiting in the handoff is due at %v; want a lease (an hour) on", next)
	}
	r.stop()
	if next := stored(late.ID).NextAt; time.Until(next) > time.Minute {
		t.Errorf("after the worker stopped, the job handed to it is due at %v; want now", next)
	}
	r.noClaims(t, "afterwards")
}

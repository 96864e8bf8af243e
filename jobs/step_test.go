package jobs

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// conflictStore loses every update to "someone else" and counts releases.
type conflictStore struct {
	faxbridge.JobStore
	releases int
}

func (s *conflictStore) Update(context.Context, *faxbridge.Job) error {
	return faxbridge.Errorf(faxbridge.EConflict, "the job was changed by someone else")
}

func (s *conflictStore) Release(context.Context, string, string) error {
	s.releases++
	return nil
}

type okNotifier struct{ n int }

func (o *okNotifier) Notify(context.Context, faxbridge.Report) error { o.n++; return nil }

type okBlobs struct{ faxbridge.BlobStore }

func (okBlobs) Delete(context.Context, string) error { return nil }

// A step that loses its update to a newer version must not release the
// job: the other writer already ended this claim's lease, and the job may
// have been claimed again since; a release would free that newer claim and
// let a second step (a second report) run beside it. Nor does it send the
// report: the fence written before the mail goes out is what it loses.
func TestConflictDoesNotRelease(t *testing.T) {
	st := &conflictStore{}
	n := &okNotifier{}
	s := New(Config{}, st, okBlobs{}, nil, n, slog.New(slog.NewTextHandler(io.Discard, nil)))
	j := &faxbridge.Job{ID: "j", State: faxbridge.StateDone, ReportTo: "a@example.com", ReportState: faxbridge.ReportPending,
		ReportDeadline: time.Now().Add(time.Hour), NextAt: time.Now()}
	s.step(context.Background(), j)
	if n.n != 0 || st.releases != 0 {
		t.Errorf("notified %d, released %d; want 0 and 0", n.n, st.releases)
	}
}

func TestOneStepPerJob(t *testing.T) {
	s := New(Config{}, nil, nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !s.begin("a") || s.begin("a") || !s.begin("b") {
		t.Fatal("begin must admit one step per job")
	}
	s.end("a")
	if !s.begin("a") {
		t.Error("a job is free again once its step ends")
	}
}

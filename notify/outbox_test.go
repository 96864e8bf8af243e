package notify

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/faxbridge/faxbridge"
)

func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox") // created on first use
	o := &Outbox{Dir: dir}
	first, second := testReport(), testReport()

	if err := o.Notify(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	// The same job again, now with another outcome: it replaces the file.
	again := first
	j := *first.Job
	j.Outcome = faxbridge.OutcomeFailed
	again.Job = &j
	if err := o.Notify(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	if err := o.Notify(context.Background(), second); err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := map[string]faxbridge.Report{first.Job.ID + ".eml": again, second.Job.ID + ".eml": second}
	if len(names) != len(want) {
		t.Fatalf("outbox holds %q, want exactly one file per job and no temporary files", names)
	}
	for name, rep := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		msg, _ := Compose(rep)
		if !bytes.Equal(got, msg) {
			t.Errorf("%s is not the composed report:\n%s", name, got)
		}
	}
}

func TestOutboxErrors(t *testing.T) {
	rep := testReport()
	rep.Job.ReportTo = ""
	dir := t.TempDir()
	if err := (&Outbox{Dir: dir}).Notify(context.Background(), rep); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
		t.Errorf("invalid report: err = %v, want code invalid", err)
	}

	rep = testReport()
	rep.Job.ID = "../escape"
	if err := (&Outbox{Dir: dir}).Notify(context.Background(), rep); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
		t.Errorf("job ID with a path: err = %v, want code invalid", err)
	}

	// A file where the directory should be: nothing can be written.
	blocked := filepath.Join(dir, "blocked")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Outbox{Dir: blocked}).Notify(context.Background(), testReport()); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("unwritable outbox: err = %v, want code unavailable", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&Outbox{Dir: dir}).Notify(ctx, testReport()); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("cancelled: err = %v, want code unavailable", err)
	}

	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("outbox holds %d entries after failures, want only the blocking file", len(entries))
	}
}

func TestOutboxNoTempLeftOnFailure(t *testing.T) {
	dir := t.TempDir()
	rep := testReport()
	// A non-empty directory in the report's place makes the final rename fail
	// after the temporary file was written.
	target := filepath.Join(dir, rep.Job.ID+".eml")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := (&Outbox{Dir: dir}).Notify(context.Background(), rep); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Fatalf("err = %v, want code unavailable", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != rep.Job.ID+".eml" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("outbox holds %q after a failed write, want no temporary file", names)
	}
}

// An outbox that cannot be written is a temporary failure: the report is
// tried again once an operator fixes the directory.
func TestOutboxUnwritable(t *testing.T) {
	// A regular file where a directory should be stops everyone, root too.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Outbox{Dir: filepath.Join(file, "outbox")}).Notify(context.Background(), testReport()); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("outbox under a file: err = %v, want code unavailable", err)
	}

	// Permissions do not stop root (CI runs as root): the read-only case
	// can only be shown to other users.
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Log("running as root or on Windows: the read-only directory case was not tried")
		return
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if err := (&Outbox{Dir: dir}).Notify(context.Background(), testReport()); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("read-only outbox: err = %v, want code unavailable", err)
	}
}

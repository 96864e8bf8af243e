package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/faxbridge/faxbridge"
)

// writeConfigFile writes the harness's configuration as a file, for the
// commands that read one.
func (h *harness) writeConfigFile() string {
	h.t.Helper()
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(h.cfg); err != nil {
		h.t.Fatal(err)
	}
	path := filepath.Join(h.t.TempDir(), "faxbridge.toml")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// `faxbridge send` beside a running daemon: it queues the fax through the
// same checks as mail, prints progress and ends with the outcome.
func TestSendCommand(t *testing.T) {
	t.Parallel() // mostly waiting on the daemon's timers
	h := newHarness(t, nil)
	cfgPath := h.writeConfigFile()
	doc := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(doc, pdf(t, "two-pages.pdf"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"send", "-config", cfgPath, "-to", "15551234567", doc}, &out, &errOut)
	if code != 0 {
		t.Fatalf("send exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "queued: job ") || !strings.Contains(lines[0], "2 page(s) to +1 555-123-4567") {
		t.Errorf("first line %q", lines[0])
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "delivered") {
		t.Errorf("last line %q, want the outcome\n%s", last, out.String())
	}
	if n := len(h.sim.Creates()); n != 1 {
		t.Errorf("%d faxes created, want 1", n)
	}
	// The daemon's spool is left alone and send's own is removed.
	if left, _ := filepath.Glob(filepath.Join(h.cfg.StateDir, "spool-send-*")); len(left) != 0 {
		t.Errorf("send left %v", left)
	}

	// Refusals say why, before anything is queued.
	out.Reset()
	errOut.Reset()
	notes := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notes, []byte("plain text"), 0o600)
	if code := run([]string{"send", "-config", cfgPath, "-to", "15551234567", notes}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "PDF, TIFF, JPEG or PNG") {
		t.Errorf("text file: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"send", "-config", cfgPath, "-to", "12", doc}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "refused") {
		t.Errorf("bad number: exit %d, stderr %q", code, errOut.String())
	}
	if code := run([]string{"send", "-config", cfgPath, doc}, &out, &errOut); code != 2 {
		t.Errorf("no -to: exit %d, want 2", code)
	}

	// -no-wait returns at once with the job ID.
	out.Reset()
	if code := run([]string{"send", "-config", cfgPath, "-to", "15557654321", "-no-wait", doc}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "queued: job ") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("-no-wait: exit %d, output %q", code, out.String())
	}
}

func TestJobsJSON(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.send("a@example.com", []string{"15551234567@fax.example.com"}, message("a@example.com", "json", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})); err != nil {
		t.Fatal(err)
	}
	h.waitReport()
	var out bytes.Buffer
	if code := jobsList(context.Background(), h.m.Store(), []string{"--json"}, &out, os.Stderr); code != 0 {
		t.Fatalf("list --json exit %d", code)
	}
	var list []faxbridge.Job
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || len(list) != 1 || list[0].Outcome != faxbridge.OutcomeDelivered || list[0].Subject != "json" {
		t.Fatalf("list --json: %v\n%s", err, out.String())
	}
	out.Reset()
	if code := run([]string{"jobs", "-config", h.writeConfigFile(), "show", "--json", list[0].ID}, &out, os.Stderr); code != 0 {
		t.Fatalf("show --json exit %d", code)
	}
	var one faxbridge.Job
	if err := json.Unmarshal(out.Bytes(), &one); err != nil || one.ID != list[0].ID {
		t.Fatalf("show --json: %v\n%s", err, out.String())
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store"
)

// `faxbridge jobs list` shows which way each fax went and filters on it;
// `jobs show` shows a received fax.
func TestJobsListDirection(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	s := strings.Replace(string(b), `api_token = ""`, `api_token = "t"`, 1)
	s = strings.Replace(s, `signing_key = ""`, `signing_key = "k"`, 1)
	s = strings.Replace(s, `state_dir = "/var/lib/faxbridge"`, `state_dir = "`+state+`"`, 1)
	path := filepath.Join(t.TempDir(), "f.toml")
	os.WriteFile(path, []byte(s), 0o600)
	db, err := store.OpenSQLite(t.Context(), filepath.Join(state, "faxbridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	jobs := []*faxbridge.Job{
		{ID: "outjob", Version: 1, State: faxbridge.StateDone, CreatedAt: now, UpdatedAt: now, From: "+15550100000",
			Destination: faxbridge.Destination{To: "+15551234567"}},
		{ID: "in-5d0b6a3e", Version: 1, Direction: faxbridge.Inbound, State: faxbridge.StateDone, Outcome: faxbridge.OutcomeReceived,
			CreatedAt: now.Add(time.Second), UpdatedAt: now, From: "+15557654321", Destination: faxbridge.Destination{To: "+15550100000"},
			FaxSID: "5d0b6a3e", NumPages: 3, Pages: 3, MailTo: []string{"desk@example.com"}, ReportState: faxbridge.ReportSent},
	}
	if err := db.Create(t.Context(), jobs); err != nil {
		t.Fatal(err)
	}
	db.Close()
	jobsRun := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append([]string{"jobs", "-config", path}, args...), &out, &errOut); code != 0 {
			t.Fatalf("jobs %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	lines := strings.Split(strings.TrimSpace(jobsRun("list")), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "DIR") || !strings.Contains(lines[0], "FROM") {
		t.Fatalf("list:\n%s", strings.Join(lines, "\n"))
	}
	if f := strings.Fields(lines[1]); f[0] != "in-5d0b6a3e" || f[1] != "in" || !strings.Contains(lines[1], "+15557654321") {
		t.Errorf("inbound row: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "outjob" || f[1] != "out" {
		t.Errorf("outbound row: %q", lines[2])
	}
	if got := jobsRun("list", "-direction", "inbound"); strings.Contains(got, "outjob") || !strings.Contains(got, "in-5d0b6a3e") {
		t.Errorf("list -direction inbound:\n%s", got)
	}
	if got := jobsRun("list", "-direction", "outbound"); !strings.Contains(got, "outjob") || strings.Contains(got, "in-5d0b6a3e") {
		t.Errorf("list -direction outbound:\n%s", got)
	}
	var shown faxbridge.Job
	if err := json.Unmarshal([]byte(jobsRun("show", "in-5d0b6a3e")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Dir() != faxbridge.Inbound || shown.FaxSID != "5d0b6a3e" || shown.MailTo[0] != "desk@example.com" {
		t.Errorf("show: %+v", shown)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"jobs", "-config", path, "list", "-direction", "sideways"}, &out, &errOut); code != 2 {
		t.Errorf("a bad -direction: exit %d", code)
	}
}

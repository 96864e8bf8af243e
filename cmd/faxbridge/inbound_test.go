package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

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

// The demo's inbound path in process: the simulator's trigger (the command
// the demo prints) makes a fax arrive on the demo number, the daemon takes
// it through its webhook and mails it into the outbox with the PDF as is;
// nothing is left at the provider.
func TestDemoFaxArrivesInOutbox(t *testing.T) {
	h := newHarness(t, nil)
	demoInbound(h.sim, h.cfg)
	pdfBytes := pdf(t, "sample.pdf")
	req, _ := http.NewRequest(http.MethodPost, h.sim.URL()+"/simulator/receive?From=%2B15557654321&To=%2B15550100000", bytes.NewReader(pdfBytes))
	req.SetBasicAuth(testProject, testToken)
	req.Header.Set("Content-Type", "application/pdf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("trigger: %d %s", resp.StatusCode, body)
	}
	sid := strings.Fields(string(body))[1]

	eml := filepath.Join(h.cfg.Mail.Outbox, "in-"+sid+".eml")
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Deleted at the provider only after the mail was written, and
		// our copy last.
		f, _ := h.sim.Fax(sid)
		if j, err := h.m.Store().Get(t.Context(), "in-"+sid); err == nil && f.Deleted && !j.CleanedAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fax was not mailed, released and cleaned up within 30s; outbox file %s", eml)
		}
		time.Sleep(20 * time.Millisecond)
	}
	raw, err := os.ReadFile(eml)
	if err != nil {
		t.Fatal(err)
	}
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if subj, _ := r.Header.Subject(); !strings.HasPrefix(subj, "Fax from +15557654321 (") {
		t.Errorf("subject %q", subj)
	}
	found := false
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		if _, ok := p.Header.(*mail.AttachmentHeader); ok {
			got, _ := io.ReadAll(p.Body)
			found = bytes.Equal(got, pdfBytes)
		}
	}
	if !found {
		t.Error("the outbox mail does not carry the PDF byte for byte")
	}
	if f := h.sim.MediaFetches(); len(f) != 1 || !f[0].Auth {
		t.Errorf("media fetches %+v, want one with credentials", f)
	}
	h.shutdown()
	db, err := openStore(t.Context(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	j, err := db.Get(t.Context(), "in-"+sid)
	if err != nil {
		t.Fatal(err)
	}
	if j.ReportState != faxbridge.ReportSent || j.CleanedAt.IsZero() || !j.NextAt.IsZero() {
		t.Errorf("job: report %q, cleaned %v, next %v", j.ReportState, j.CleanedAt, j.NextAt)
	}
}

// `faxbridge check-config` names every bad route.
func TestCheckConfigRoutes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `api_token = ""`, `api_token = "t"`, 1)
	s = strings.Replace(s, `signing_key = ""`, `signing_key = "k"`, 1)
	path := filepath.Join(t.TempDir(), "f.toml")
	good := s + "\n[[inbound.routes]]\nnumber = \"+15551230000\"\nmail_to = [\"desk@example.com\"]\n"
	os.WriteFile(path, []byte(good), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", path}, &out, &errOut); code != 0 {
		t.Fatalf("a good route: exit %d: %s", code, errOut.String())
	}
	bad := s + "\n[[inbound.routes]]\nnumber = \"5551230000\"\nmail_to = [\"desk at example\"]\n"
	os.WriteFile(path, []byte(bad), 0o600)
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check-config", "-config", path}, &out, &errOut); code != 1 {
		t.Fatalf("a bad route: exit %d", code)
	}
	for _, want := range []string{`inbound.routes[0].number "5551230000"`, `inbound.routes[0].mail_to: "desk at example"`} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, errOut.String())
		}
	}
}

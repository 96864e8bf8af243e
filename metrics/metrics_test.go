package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// countStore is a JobStore that only counts: a scrape that read the jobs
// (List) would panic on the nil interface embedded here.
type countStore struct {
	faxbridge.JobStore
	jobs []*faxbridge.Job
	err  error
}

func (s countStore) CountActive(ctx context.Context) (faxbridge.ActiveCounts, error) {
	c := faxbridge.ActiveCounts{ByState: map[faxbridge.State]int{}}
	for _, j := range s.jobs {
		c.ByState[j.State]++
		if j.ReportState == faxbridge.ReportPending {
			c.ReportsPending++
		}
	}
	return c, s.err
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetrics(t *testing.T) {
	m := New(countStore{jobs: []*faxbridge.Job{
		{State: faxbridge.StateQueued}, {State: faxbridge.StateQueued}, {State: faxbridge.StateSending},
		{State: faxbridge.StateDone, ReportState: faxbridge.ReportPending},
	}})
	m.SMTPResult("smtp", 250, 20*time.Millisecond)
	m.SMTPResult("smtp", 451, time.Second)
	m.JobEvent("outcome", "busy")
	m.JobEvent("duplicate_fax", "listing")
	m.Callback(403)
	out := scrape(t, m)
	for _, want := range []string{
		`faxbridge_smtp_messages_total{code="250",listener="smtp"} 1`,
		`faxbridge_smtp_messages_total{code="451",listener="smtp"} 1`,
		`faxbridge_smtp_data_seconds_count{listener="smtp"} 2`,
		`faxbridge_job_events_total{event="outcome",value="busy"} 1`,
		`faxbridge_callbacks_total{code="403"} 1`,
		`faxbridge_duplicate_faxes_total{source="listing"} 1`,
		`faxbridge_duplicate_faxes_total{source="answer"} 0`,
		`faxbridge_duplicate_faxes_total{source="callback"} 0`,
		`faxbridge_jobs_active{state="queued"} 2`,
		`faxbridge_jobs_active{state="submitting"} 0`,
		`faxbridge_jobs_active{state="sending"} 1`,
		`faxbridge_reports_pending 1`,
		`faxbridge_job_store_up 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestStoreDown(t *testing.T) {
	out := scrape(t, New(countStore{err: faxbridge.Errorf(faxbridge.EUnavailable, "down")}))
	if !strings.Contains(out, "faxbridge_job_store_up 0") || strings.Contains(out, "faxbridge_jobs_active{") {
		t.Errorf("store down: %s", out)
	}
}

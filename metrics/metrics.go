// Package metrics exposes faxbridge's counters and gauges to Prometheus.
// Counters are fed by hooks the other packages call (SMTP results, job
// events, callbacks); the job gauges are read from the job store at scrape
// time, so every instance sharing one database reports the same backlog.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faxbridge/faxbridge"
)

// Metrics holds faxbridge's metrics in a registry of its own (no global
// state), served by Handler.
type Metrics struct {
	reg       *prometheus.Registry
	smtp      *prometheus.CounterVec
	events    *prometheus.CounterVec
	callbacks *prometheus.CounterVec
	accept    *prometheus.HistogramVec
	dups      *prometheus.CounterVec
}

// New registers every metric; store feeds the job gauges (nil for none).
func New(store faxbridge.JobStore) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		smtp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faxbridge_smtp_messages_total",
			Help: "Messages answered at the end of DATA, by listener and reply code (250 = accepted).",
		}, []string{"listener", "code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faxbridge_job_events_total",
			Help: "Job events: submitted, provider_error (temporary, ambiguous, account), outcome (by status), report (sent, retry, abandoned); inbound: received (the fax arrived), mailed (it reached the route's mailbox), failed (a failed reception, or a fax that could not be fetched or mailed).",
		}, []string{"event", "value"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faxbridge_callbacks_total",
			Help: "Status callbacks by HTTP answer (200 applied, 403 bad signature, 404 unknown fax, ...).",
		}, []string{"code"}),
		dups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faxbridge_duplicate_faxes_total",
			Help: "Faxes the provider has for a job beyond the one it follows, by where they were seen (callback, listing, answer): each may have been sent twice. Alert on any increase.",
		}, []string{"source"}),
		accept: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "faxbridge_smtp_data_seconds",
			Help:    "Time from DATA to the reply, by listener: parsing, building, storing and committing.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"listener"}),
	}
	// Every source shows 0 from the start: an alert on any increase sees
	// the first extra fax, which a series born at 1 would hide.
	for _, source := range []string{"answer", "callback", "listing"} {
		m.dups.WithLabelValues(source)
	}
	m.reg.MustRegister(m.smtp, m.events, m.callbacks, m.accept, m.dups,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if store != nil {
		m.reg.MustRegister(&jobCollector{store: store})
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// SMTPResult counts one DATA reply.
func (m *Metrics) SMTPResult(listener string, code int, took time.Duration) {
	m.smtp.WithLabelValues(listener, strconv.Itoa(code)).Inc()
	m.accept.WithLabelValues(listener).Observe(took.Seconds())
}

// JobEvent counts one job event.
func (m *Metrics) JobEvent(event, value string) {
	if event == "duplicate_fax" {
		m.dups.WithLabelValues(value).Inc()
		return
	}
	m.events.WithLabelValues(event, value).Inc()
}

// Callback counts one status callback by its HTTP answer.
func (m *Metrics) Callback(code int) { m.callbacks.WithLabelValues(strconv.Itoa(code)).Inc() }

var (
	jobsDesc    = prometheus.NewDesc("faxbridge_jobs_active", "Jobs with work left, by state.", []string{"state"}, nil)
	reportsDesc = prometheus.NewDesc("faxbridge_reports_pending", "Finished jobs whose report is not delivered yet.", nil, nil)
	upDesc      = prometheus.NewDesc("faxbridge_job_store_up", "Whether the job store answered the last scrape.", nil, nil)
)

// jobCollector counts the backlog in the store at scrape time (counts
// only: a scrape never reads the jobs themselves).
type jobCollector struct{ store faxbridge.JobStore }

func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- reportsDesc
	ch <- upDesc
}

func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountActive(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	byState := map[faxbridge.State]int{faxbridge.StateQueued: 0, faxbridge.StateSubmitting: 0, faxbridge.StateSending: 0, faxbridge.StateDone: 0}
	for st, n := range counts.ByState {
		byState[st] = n
	}
	for st, n := range byState {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), string(st))
	}
	ch <- prometheus.MustNewConstMetric(reportsDesc, prometheus.GaugeValue, float64(counts.ReportsPending))
}

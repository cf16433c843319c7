// Package metrics is the server's Prometheus series, served on a listener
// of their own (LIVECHAT_METRICS_ADDR), never on the public one. Counters
// are cheap atomics on the hot path; what has a count elsewhere (sockets,
// the bus, backlogs) is read when Prometheus scrapes.
package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"net/http"
)

const ns = "livechat"

// Metrics are the series the server updates as it goes. A nil *Metrics
// records nothing.
type Metrics struct {
	reg        *prometheus.Registry
	framesIn   *prometheus.CounterVec
	framesOut  *prometheus.CounterVec
	errors     *prometheus.CounterVec
	send       prometheus.Histogram
	queries    *prometheus.HistogramVec
	slaAlerts  *prometheus.CounterVec
	slowClosed prometheus.Counter
}

// New registers the series, with the Go runtime's and the process's.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ws_frames_in_total",
			Help: "Client frames received, by event type (unknown: not a client event)."}, []string{"type"}),
		framesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ws_frames_out_total",
			Help: "Server frames queued to sockets, by event type."}, []string{"type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "errors_total",
			Help: "Errors answered, by transport (ws, http) and code."}, []string{"transport", "code"}),
		send: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "ws_send_seconds",
			Help:    "From a send_message frame's arrival to the new_message handed to the room's sockets and the sender's message_sent.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		queries: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "db_query_seconds",
			Help:    "Database statements, by operation (SELECT, INSERT, UPDATE, DELETE, …).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"op"}),
		slaAlerts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "sla_alerts_total",
			Help: "SLA alerts this instance raised, by severity."}, []string{"severity"}),
		slowClosed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ws_slow_consumers_total",
			Help: "Sockets closed because they fell behind their send queue."}),
	}
	for _, sev := range []string{"warning", "critical"} {
		m.slaAlerts.WithLabelValues(sev) // shown at 0 before the first
	}
	reg.MustRegister(m.framesIn, m.framesOut, m.errors, m.send, m.queries, m.slaAlerts, m.slowClosed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// FrameIn counts a client frame of type typ.
func (m *Metrics) FrameIn(typ string) {
	if m != nil {
		m.framesIn.WithLabelValues(typ).Inc()
	}
}

// FramesOut counts n server frames of type typ queued to sockets.
func (m *Metrics) FramesOut(typ string, n int) {
	if m != nil && n > 0 {
		m.framesOut.WithLabelValues(typ).Add(float64(n))
	}
}

// Error counts an error answered.
func (m *Metrics) Error(transport, code string) {
	if m != nil {
		m.errors.WithLabelValues(transport, code).Inc()
	}
}

// Send observes a send's latency.
func (m *Metrics) Send(d time.Duration) {
	if m != nil {
		m.send.Observe(d.Seconds())
	}
}

// Query observes a database statement.
func (m *Metrics) Query(op string, d time.Duration) {
	if m != nil {
		m.queries.WithLabelValues(op).Observe(d.Seconds())
	}
}

// SLAAlert counts an alert raised.
func (m *Metrics) SLAAlert(severity string) {
	if m != nil {
		m.slaAlerts.WithLabelValues(severity).Inc()
	}
}

// SlowConsumer counts a socket closed for falling behind.
func (m *Metrics) SlowConsumer() {
	if m != nil {
		m.slowClosed.Inc()
	}
}

// Gauge registers a series read at each scrape.
func (m *Metrics) Gauge(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, f))
}

// Counter registers a counter read at each scrape (a count kept elsewhere).
func (m *Metrics) Counter(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, f))
}

// Backlog is the inbox's and the outbox's rows, pending and dead.
type Backlog struct {
	InboxPending, InboxDead, OutboxPending, OutboxDead int
}

// Backlogs registers the backlog series, read at each scrape with read
// (bounded to 2 s; a failed read reports the last known figures).
func (m *Metrics) Backlogs(read func(context.Context) (Backlog, error), log *slog.Logger) {
	m.reg.MustRegister(&backlogCollector{read: read, log: log,
		desc: prometheus.NewDesc(ns+"_backlog_rows", "Inbox and outbox rows waiting (pending) or quarantined (dead).", []string{"queue", "state"}, nil)})
}

type backlogCollector struct {
	read func(context.Context) (Backlog, error)
	log  *slog.Logger
	desc *prometheus.Desc
	last Backlog
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if b, err := c.read(ctx); err != nil {
		c.log.Warn("metrics: backlog", "err", err)
	} else {
		c.last = b
	}
	for _, v := range []struct {
		queue, state string
		n            int
	}{{"inbox", "pending", c.last.InboxPending}, {"inbox", "dead", c.last.InboxDead},
		{"outbox", "pending", c.last.OutboxPending}, {"outbox", "dead", c.last.OutboxDead}} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v.n), v.queue, v.state)
	}
}

// Handler serves the series in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

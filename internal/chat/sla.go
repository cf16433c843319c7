package chat

import (
	"context"
	"fmt"
	"math"
	"time"
)

// SLA metrics, under the original's names (sla_alert.metric).
const (
	MetricQueueWait     = "queue_wait_seconds"     // from the start until a claim
	MetricFirstResponse = "first_response_seconds" // from the claim until the operator's first message
	MetricResolution    = "resolution_seconds"     // from the start until the close
)

// SLA severities: warning at SLA.WarningAt of the threshold, critical at
// the threshold (a breach).
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// SLA are the service levels: a threshold per metric (zero turns one off)
// and the fraction of it at which a warning is raised.
type SLA struct {
	QueueWait, FirstResponse, Resolution time.Duration
	WarningAt                            float64
}

// SLAAlert is one alert: a session, a metric and a severity, raised once.
type SLAAlert struct {
	SessionID  int64
	LineUserID string
	Metric     string
	Severity   string
	Value      time.Duration // the interval when it was raised
	Threshold  time.Duration
	RaisedAt   time.Time
}

// slaLookback is how far back a closed or answered session is still
// checked: an interval that crossed a threshold and ended between two
// checks is raised at the next one.
const slaLookback = 10 * time.Minute

// CheckSLA raises the alerts due now: for every open session (and those
// closed within slaLookback), each metric's interval so far (or as it
// ended) against its threshold. A critical alert at the threshold; a
// warning from WarningAt of it, unless it is past the threshold already.
// Each alert is stored once (the store's unique key): the instance whose
// insert wins announces it, so of several instances checking at once, and
// across restarts, every alert goes out exactly once. It returns what it
// raised.
func (s *Service) CheckSLA(ctx context.Context, sla SLA) ([]SLAAlert, error) {
	now := s.now()
	sessions, err := s.store.SLASessions(ctx, now.Add(-slaLookback))
	if err != nil {
		return nil, fmt.Errorf("sla: %w", err)
	}
	var due []SLAAlert
	for _, sess := range sessions {
		due = append(due, sla.due(sess, now)...)
	}
	if len(due) == 0 {
		return nil, nil
	}
	raised, err := s.store.RaiseSLAAlerts(ctx, due)
	for _, a := range raised {
		s.log.InfoContext(ctx, "sla alert", "session_id", a.SessionID, "metric", a.Metric, "severity", a.Severity,
			"value_s", a.Value.Seconds(), "threshold_s", a.Threshold.Seconds())
		s.notify.SLAAlert(ctx, a)
	}
	if err != nil {
		return raised, fmt.Errorf("sla: %w", err)
	}
	return raised, nil
}

// due is what sess has crossed by now, per metric: at most one severity
// each, the highest.
func (sla SLA) due(sess Session, now time.Time) []SLAAlert {
	var out []SLAAlert
	check := func(metric string, threshold time.Duration, from time.Time, to *time.Time) {
		if threshold <= 0 {
			return
		}
		end := now
		if to != nil {
			end = *to
		}
		v := end.Sub(from)
		sev := ""
		switch {
		case v >= threshold:
			sev = SeverityCritical
		case sla.WarningAt > 0 && float64(v) >= sla.WarningAt*float64(threshold):
			sev = SeverityWarning
		default:
			return
		}
		out = append(out, SLAAlert{SessionID: sess.ID, LineUserID: sess.LineUserID, Metric: metric, Severity: sev,
			Value: v, Threshold: threshold, RaisedAt: now})
	}
	// Queue wait runs until the claim, or the close of a session never claimed.
	queueEnd := sess.ClaimedAt
	if queueEnd == nil && sess.Status == StatusClosed {
		queueEnd = sess.ClosedAt
	}
	check(MetricQueueWait, sla.QueueWait, sess.StartedAt, queueEnd)
	if sess.ClaimedAt != nil {
		end := sess.FirstResponseAt
		if end == nil && sess.Status == StatusClosed {
			end = sess.ClosedAt
		}
		check(MetricFirstResponse, sla.FirstResponse, *sess.ClaimedAt, end)
	}
	var closed *time.Time
	if sess.Status == StatusClosed {
		closed = sess.ClosedAt
	}
	check(MetricResolution, sla.Resolution, sess.StartedAt, closed)
	return out
}

// Message is the alert's readable summary.
func (a SLAAlert) Message() string {
	word := "warning"
	if a.Severity == SeverityCritical {
		word = "breach"
	}
	return fmt.Sprintf("SLA %s: %s %.1fs of %.0fs", word, a.Metric, math.Round(a.Value.Seconds()*10)/10, a.Threshold.Seconds())
}

// RunSLA checks every interval until ctx ends.
func (s *Service) RunSLA(ctx context.Context, every time.Duration, sla SLA) {
	s.runEvery(ctx, every, func() {
		if _, err := s.CheckSLA(ctx, sla); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sla check", "err", err)
		}
	})
}

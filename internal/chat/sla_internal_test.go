package chat

import (
	"slices"
	"testing"
	"time"
)

// What a session has crossed, per metric: the highest severity only, an
// interval that ended counted as it ended, one still running up to now.
func TestSLADue(t *testing.T) {
	sla := SLA{QueueWait: 5 * time.Minute, FirstResponse: 2 * time.Minute, Resolution: 30 * time.Minute, WarningAt: 0.8}
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := start.Add(d); return &t }
	closed := StatusClosed
	for _, tc := range []struct {
		name string
		sess Session
		now  time.Duration
		want []string
	}{
		{"waiting 3m", Session{Status: StatusWaiting}, 3 * time.Minute, nil},
		{"waiting 4m", Session{Status: StatusWaiting}, 4 * time.Minute, []string{"queue_wait_seconds/warning"}},
		{"waiting 25m", Session{Status: StatusWaiting}, 25 * time.Minute, []string{"queue_wait_seconds/critical", "resolution_seconds/warning"}},
		{"claimed at 6m, a minute later: the wait ended past its SLA", Session{Status: StatusActive, ClaimedAt: at(6 * time.Minute)}, 7 * time.Minute,
			[]string{"queue_wait_seconds/critical"}},
		{"claimed at 1m, unanswered 2m", Session{Status: StatusActive, ClaimedAt: at(time.Minute)}, 3 * time.Minute,
			[]string{"first_response_seconds/critical"}},
		{"answered after 90 s", Session{Status: StatusActive, ClaimedAt: at(time.Minute), FirstResponseAt: at(150 * time.Second)}, 10 * time.Minute, nil},
		{"closed waiting at 7m, never claimed", Session{Status: closed, ClosedAt: at(7 * time.Minute)}, 8 * time.Minute,
			[]string{"queue_wait_seconds/critical"}},
		{"closed at 31m", Session{Status: closed, ClaimedAt: at(time.Minute), FirstResponseAt: at(80 * time.Second), ClosedAt: at(31 * time.Minute)}, 35 * time.Minute,
			[]string{"resolution_seconds/critical"}},
	} {
		tc.sess.StartedAt = start
		var got []string
		for _, a := range sla.due(tc.sess, start.Add(tc.now)) {
			got = append(got, a.Metric+"/"+a.Severity)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: due %v, want %v", tc.name, got, tc.want)
		}
	}
	off := SLA{QueueWait: 5 * time.Minute}
	if got := off.due(Session{Status: StatusWaiting, StartedAt: start}, start.Add(time.Hour)); len(got) != 1 || got[0].Metric != MetricQueueWait {
		t.Errorf("with only the queue SLA: %+v", got)
	}
	if m := (SLAAlert{Metric: MetricQueueWait, Severity: SeverityCritical, Value: 312500 * time.Millisecond, Threshold: 5 * time.Minute}).Message(); m != "SLA breach: queue_wait_seconds 312.5s of 300s" {
		t.Errorf("message %q", m)
	}
}

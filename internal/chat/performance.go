package chat

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Window is a span in which an operator had a socket on an instance.
type Window struct {
	OperatorID int64
	From, To   time.Time
}

// OperatorPerformance is one operator's row of GET
// /api/v1/admin/analytics/operator-performance, the SKN App's fields: over
// the sessions it claimed in the window, their number and mean first
// response (first response − claim, of those answered), resolution (close
// − start, of those closed) and queue wait (claim − start), in seconds;
// and the time it had a socket open on any instance in the window, in
// seconds and as a share of the window's elapsed time.
type OperatorPerformance struct {
	OperatorID          int64   `json:"operator_id"`
	Username            string  `json:"username"`
	DisplayName         string  `json:"display_name"`
	TotalSessions       int     `json:"total_sessions"`
	AvgFirstResponse    float64 `json:"avg_first_response_seconds"`
	AvgResolution       float64 `json:"avg_resolution_seconds"`
	AvgQueueWait        float64 `json:"avg_queue_wait_seconds"`
	AvailabilitySeconds float64 `json:"availability_seconds"`
	AvailabilityPercent float64 `json:"availability_percent"`
}

// OperatorPerformance computes the rows of one operator (operatorID; 0:
// every active operator, and any inactive one with sessions or time in the
// window) over the last days business days, today included. An unknown
// operator is ErrNotFound.
func (s *Service) OperatorPerformance(ctx context.Context, operatorID int64, days int) ([]OperatorPerformance, error) {
	var ops []Operator
	if operatorID != 0 {
		op, err := s.store.Operator(ctx, operatorID)
		if err != nil {
			return nil, fmt.Errorf("operator performance: %w", err)
		}
		ops = []Operator{op}
	} else {
		var err error
		if ops, err = s.store.ListOperators(ctx); err != nil {
			return nil, fmt.Errorf("operator performance: %w", err)
		}
	}
	now := s.now()
	from := s.midnight(now).AddDate(0, 0, -(days - 1))
	sessions, err := s.store.ClaimedSince(ctx, operatorID, from)
	if err != nil {
		return nil, fmt.Errorf("operator performance: %w", err)
	}
	windows, err := s.store.AvailabilityWindows(ctx, operatorID, from, now)
	if err != nil {
		return nil, fmt.Errorf("operator performance: %w", err)
	}
	return computePerformance(ops, operatorID != 0, sessions, windows, from, now), nil
}

// computePerformance is the pure part of OperatorPerformance; one keeps
// the operator asked for, even inactive and idle.
func computePerformance(ops []Operator, one bool, sessions []Session, windows []Window, from, now time.Time) []OperatorPerformance {
	type acc struct {
		n              int
		frt, res, wait mean
		spans          []Window
	}
	by := map[int64]*acc{}
	get := func(id int64) *acc {
		a := by[id]
		if a == nil {
			a = &acc{}
			by[id] = a
		}
		return a
	}
	for _, s := range sessions {
		if s.OperatorID == nil || s.ClaimedAt == nil || s.ClaimedAt.Before(from) || s.ClaimedAt.After(now) {
			continue
		}
		a := get(*s.OperatorID)
		a.n++
		a.wait.add(s.ClaimedAt.Sub(s.StartedAt))
		if s.FirstResponseAt != nil {
			a.frt.add(s.FirstResponseAt.Sub(*s.ClaimedAt))
		}
		if s.Status == StatusClosed && s.ClosedAt != nil {
			a.res.add(s.ClosedAt.Sub(s.StartedAt))
		}
	}
	for _, w := range windows {
		a := get(w.OperatorID)
		a.spans = append(a.spans, w)
	}
	elapsed := now.Sub(from)
	out := []OperatorPerformance{}
	for _, op := range ops {
		a := by[op.ID]
		if a == nil && !one && !op.Active {
			continue
		}
		if a == nil {
			a = &acc{}
		}
		online := covered(a.spans, from, now)
		row := OperatorPerformance{
			OperatorID: op.ID, Username: op.Username, DisplayName: op.DisplayName,
			TotalSessions: a.n, AvgFirstResponse: a.frt.seconds(), AvgResolution: a.res.seconds(), AvgQueueWait: a.wait.seconds(),
			AvailabilitySeconds: round(online.Seconds(), 1),
		}
		if elapsed > 0 {
			row.AvailabilityPercent = round(math.Min(100, online.Seconds()/elapsed.Seconds()*100), 1)
		}
		out = append(out, row)
	}
	return out
}

// covered is how much of [from, to] the spans cover (overlaps once).
func covered(spans []Window, from, to time.Time) time.Duration {
	slices.SortFunc(spans, func(a, b Window) int { return a.From.Compare(b.From) })
	var total time.Duration
	var end time.Time // of what is counted so far
	for _, w := range spans {
		lo, hi := maxTime(w.From, from, end), minTime(w.To, to)
		if hi.After(lo) {
			total += hi.Sub(lo)
			end = hi
		}
	}
	return total
}

func maxTime(ts ...time.Time) time.Time {
	m := ts[0]
	for _, t := range ts[1:] {
		if t.After(m) {
			m = t
		}
	}
	return m
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

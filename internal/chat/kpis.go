package chat

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// KPIs are the live analytics: the SKN App's set under its names
// (analytics_update, GET /api/v1/admin/analytics/live-kpis), and ours.
// Definitions (now is when they are computed; "today" starts at midnight
// in the business timezone):
//   - Waiting, Active: sessions in that status now;
//   - AvgFirstResponse: mean of first response − claim, over the sessions
//     claimed in the last hour that have a first response, in seconds;
//   - AvgQueueWait: mean of claim − start over the sessions claimed in the
//     last hour;
//   - AvgResolution: mean of close − start over the sessions closed today;
//   - CSATAverage: mean score of the ratings given in the last 24 hours (0
//     without any), CSATPercentage = CSATAverage / 5 × 100;
//   - FCRRate: of the sessions closed in the last 7 days, the share (%)
//     whose customer started no new session within 24 hours after the close
//     (the original's code; its docstring's CSAT condition is not used);
//   - AbandonmentRate: SYSTEM_TIMEOUT closes in the last 7 days ÷ (those +
//     sessions claimed in the last 7 days) × 100;
//   - SLABreaches24h: critical sla_alerts raised in the last 24 hours;
//   - SessionsToday: sessions started today;
//   - HumanModeUsers: customers in HUMAN mode now;
//   - OnlineOperators: operators with a connected socket on any instance.
//
// Rates and means are 0 when nothing is counted; seconds and percentages
// have one decimal, the CSAT average two.
type KPIs struct {
	Waiting, Active, OnlineOperators, SessionsToday, HumanModeUsers, SLABreaches24h int
	AvgFirstResponse, AvgResolution, AvgQueueWait                                   float64
	CSATAverage, CSATPercentage, FCRRate, AbandonmentRate                           float64
	At                                                                              time.Time
}

// KPIData is what the KPIs are computed from (Store.KPIData).
type KPIData struct {
	Sessions  []Session // started or closed in the window
	Scores    []int     // CSAT scores of the last 24 hours
	HumanMode int
}

// KPI windows.
const (
	kpiResponseWindow = time.Hour
	kpiRateWindow     = 7 * 24 * time.Hour
	kpiFCRFollowUp    = 24 * time.Hour
	kpiCSATWindow     = 24 * time.Hour
)

// KPIs computes the live KPIs; online is the number of connected operators.
func (s *Service) KPIs(ctx context.Context, online int) (KPIs, error) {
	now := s.now()
	local := now.In(s.loc)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, s.loc).UTC()
	st, err := s.store.SessionStats(ctx, midnight)
	if err != nil {
		return KPIs{}, fmt.Errorf("kpis: %w", err)
	}
	since := now.Add(-kpiRateWindow)
	if midnight.Before(since) {
		since = midnight
	}
	d, err := s.store.KPIData(ctx, since, now.Add(-kpiCSATWindow))
	if err != nil {
		return KPIs{}, fmt.Errorf("kpis: %w", err)
	}
	breaches, err := s.store.SLABreaches(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return KPIs{}, fmt.Errorf("kpis: %w", err)
	}
	k := computeKPIs(d, now, midnight)
	k.Waiting, k.Active, k.SessionsToday, k.OnlineOperators, k.SLABreaches24h = st.Waiting, st.Active, st.Today, online, breaches
	return k, nil
}

// computeKPIs is the pure part of KPIs.
func computeKPIs(d KPIData, now, midnight time.Time) KPIs {
	k := KPIs{At: now, HumanModeUsers: d.HumanMode}
	var frt, wait, res mean
	weekAgo := now.Add(-kpiRateWindow)
	hourAgo := now.Add(-kpiResponseWindow)
	for _, s := range d.Sessions {
		if s.ClaimedAt != nil && !s.ClaimedAt.Before(hourAgo) {
			wait.add(s.ClaimedAt.Sub(s.StartedAt))
			if s.FirstResponseAt != nil {
				frt.add(s.FirstResponseAt.Sub(*s.ClaimedAt))
			}
		}
		if s.Status == StatusClosed && s.ClosedAt != nil && !s.ClosedAt.Before(midnight) {
			res.add(s.ClosedAt.Sub(s.StartedAt))
		}
	}
	k.AvgFirstResponse, k.AvgQueueWait, k.AvgResolution = frt.seconds(), wait.seconds(), res.seconds()
	k.FCRRate, k.AbandonmentRate = rates(d.Sessions, func(t time.Time) bool { return !t.Before(weekAgo) })
	if n := len(d.Scores); n > 0 {
		sum := 0
		for _, v := range d.Scores {
			sum += v
		}
		avg := float64(sum) / float64(n)
		k.CSATAverage = round(avg, 2)
		k.CSATPercentage = round(avg/5*100, 1)
	}
	return k
}

// rates are the FCR and abandonment rates (%) of the closes and claims in
// a window (in): the closes whose customer started no new session within
// kpiFCRFollowUp, of all the closes; the SYSTEM_TIMEOUT closes, of those
// and the claims.
func rates(sessions []Session, in func(time.Time) bool) (fcr, abandonment float64) {
	starts := map[string][]time.Time{} // by customer, for the follow-ups
	for _, s := range sessions {
		starts[s.LineUserID] = append(starts[s.LineUserID], s.StartedAt)
	}
	var closed, first, abandoned, claimed int
	for _, s := range sessions {
		if s.ClaimedAt != nil && in(*s.ClaimedAt) {
			claimed++
		}
		if s.Status != StatusClosed || s.ClosedAt == nil || !in(*s.ClosedAt) {
			continue
		}
		closed++
		at := *s.ClosedAt
		if !slices.ContainsFunc(starts[s.LineUserID], func(t time.Time) bool { return t.After(at) && !t.After(at.Add(kpiFCRFollowUp)) }) {
			first++
		}
		if s.ClosedBy != nil && *s.ClosedBy == ClosedBySystemTimeout {
			abandoned++
		}
	}
	return percent(first, closed), percent(abandoned, abandoned+claimed)
}

type mean struct {
	sum time.Duration
	n   int
}

func (m *mean) add(d time.Duration) { m.sum += d; m.n++ }

func (m mean) seconds() float64 {
	if m.n == 0 {
		return 0
	}
	return round(m.sum.Seconds()/float64(m.n), 1)
}

func percent(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return round(float64(part)/float64(whole)*100, 1)
}

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// QueueETA estimates, in whole minutes (at least 1), how long a customer at
// position of total waiting will wait, by Little's law: the sessions
// claimed in the last hour waited W on average with about total waiting,
// so one is served every W / total, and position are ahead or being
// served. Without a claim in the last hour it is unknown (false).
func (s *Service) QueueETA(ctx context.Context, position, total int) (int, bool, error) {
	if position < 1 || total < position {
		return 0, false, nil
	}
	waits, err := s.store.QueueWaits(ctx, s.now().Add(-kpiResponseWindow))
	if err != nil {
		return 0, false, fmt.Errorf("queue eta: %w", err)
	}
	if len(waits) == 0 {
		return 0, false, nil
	}
	var m mean
	for _, w := range waits {
		m.add(w)
	}
	eta := m.sum.Minutes() / float64(m.n) * float64(position) / float64(total)
	return max(1, int(math.Ceil(eta))), true, nil
}

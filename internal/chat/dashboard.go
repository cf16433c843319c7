package chat

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Rating is a CSAT score and when it was given.
type Rating struct {
	Score int
	At    time.Time
}

// MessageStamp is a message's customer, direction and time.
type MessageStamp struct {
	LineUserID string
	Incoming   bool
	At         time.Time
}

// DashboardData is what the dashboard is computed from (Store.DashboardData).
type DashboardData struct {
	Sessions []Session
	Ratings  []Rating
	Messages []MessageStamp
}

// Trend is a figure today against yesterday (business days).
type Trend struct {
	Current      float64 `json:"current"`
	Previous     float64 `json:"previous"`
	Delta        float64 `json:"delta"`
	DeltaPercent float64 `json:"delta_percent"` // 0 when previous is 0
}

// DayCount is one day's number (YYYY-MM-DD in the business timezone).
type DayCount struct {
	Day      string `json:"day"`
	Sessions int    `json:"sessions"`
}

// PeakHour is the messages of one weekday (0 Sunday) and hour, business time.
type PeakHour struct {
	DayOfWeek    int `json:"day_of_week"`
	Hour         int `json:"hour"`
	MessageCount int `json:"message_count"`
}

// Percentiles are p50, p90 and p99 in seconds (linear interpolation).
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// Dashboard is GET /api/v1/admin/analytics/dashboard's answer, the SKN
// App's shape.
type Dashboard struct {
	Days          int              `json:"days"`
	Trends        map[string]Trend `json:"trends"`
	SessionVolume []DayCount       `json:"session_volume"`
	PeakHours     []PeakHour       `json:"peak_hours"`
	Funnel        struct {
		BotEntries   int `json:"bot_entries"`
		HumanHandoff int `json:"human_handoff"`
		Resolved     int `json:"resolved"`
	} `json:"funnel"`
	Percentiles struct {
		FirstResponse Percentiles `json:"first_response"`
		Resolution    Percentiles `json:"resolution"`
	} `json:"percentiles"`
}

// HourCount is the messages of one hour of the day (business time).
type HourCount struct {
	Hour     int `json:"hour"`
	Incoming int `json:"incoming"`
	Outgoing int `json:"outgoing"`
	Total    int `json:"total"`
}

// Dashboard computes the dashboard over the last days business days
// (today included): trends of today against yesterday, sessions per day
// (zero-filled), messages by weekday and hour, the funnel (customers who
// wrote, sessions started and claimed, sessions closed) and the
// percentiles of first response and resolution, all in the window.
func (s *Service) Dashboard(ctx context.Context, days int) (Dashboard, error) {
	now := s.now()
	today := s.midnight(now)
	from := today.AddDate(0, 0, -(days - 1))
	since := from
	if y := today.AddDate(0, 0, -1); y.Before(since) {
		since = y // the trends compare with yesterday
	}
	d, err := s.store.DashboardData(ctx, since)
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: %w", err)
	}
	return computeDashboard(d, days, from, today, now, s.loc), nil
}

// HourlyStats counts the messages of the last days business days by hour
// of the day.
func (s *Service) HourlyStats(ctx context.Context, days int) ([]HourCount, error) {
	now := s.now()
	from := s.midnight(now).AddDate(0, 0, -(days - 1))
	d, err := s.store.DashboardData(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("hourly stats: %w", err)
	}
	out := make([]HourCount, 24)
	for h := range out {
		out[h].Hour = h
	}
	for _, m := range d.Messages {
		if m.At.Before(from) || m.At.After(now) {
			continue
		}
		h := &out[m.At.In(s.loc).Hour()]
		if m.Incoming {
			h.Incoming++
		} else {
			h.Outgoing++
		}
		h.Total++
	}
	return out, nil
}

// midnight is the start of t's business day, in UTC.
func (s *Service) midnight(t time.Time) time.Time {
	l := t.In(s.loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, s.loc).UTC()
}

func computeDashboard(d DashboardData, days int, from, today, now time.Time, loc *time.Location) Dashboard {
	out := Dashboard{Days: days, Trends: map[string]Trend{}, SessionVolume: []DayCount{}, PeakHours: []PeakHour{}}
	yesterday := today.AddDate(0, 0, -1)
	cur, prev := windowKPIs(d, today, now), windowKPIs(d, yesterday, today)
	for name, v := range map[string][2]float64{
		"sessions_today":             {cur.started, prev.started},
		"avg_first_response_seconds": {cur.frt.seconds(), prev.frt.seconds()},
		"avg_resolution_seconds":     {cur.res.seconds(), prev.res.seconds()},
		"csat_percentage":            {cur.csatPercent(), prev.csatPercent()},
		"fcr_rate":                   {cur.fcr, prev.fcr},
		"abandonment_rate":           {cur.abandon, prev.abandon},
	} {
		t := Trend{Current: v[0], Previous: v[1], Delta: round(v[0]-v[1], 1)}
		if v[1] != 0 {
			t.DeltaPercent = round((v[0]-v[1])/v[1]*100, 1)
		}
		out.Trends[name] = t
	}
	perDay := map[string]int{}
	var frts, ress []float64
	for _, s := range d.Sessions {
		if !s.StartedAt.Before(from) {
			perDay[s.StartedAt.In(loc).Format(time.DateOnly)]++
			if s.ClaimedAt != nil {
				out.Funnel.HumanHandoff++
			}
		}
		if s.ClaimedAt != nil && s.FirstResponseAt != nil && !s.ClaimedAt.Before(from) {
			frts = append(frts, s.FirstResponseAt.Sub(*s.ClaimedAt).Seconds())
		}
		if s.Status == StatusClosed && s.ClosedAt != nil && !s.ClosedAt.Before(from) {
			out.Funnel.Resolved++
			ress = append(ress, s.ClosedAt.Sub(s.StartedAt).Seconds())
		}
	}
	for day := from; day.Before(now); day = day.AddDate(0, 0, 1) {
		key := day.In(loc).Format(time.DateOnly)
		out.SessionVolume = append(out.SessionVolume, DayCount{Day: key, Sessions: perDay[key]})
	}
	peaks := map[[2]int]int{}
	writers := map[string]bool{}
	for _, m := range d.Messages {
		if m.At.Before(from) {
			continue
		}
		l := m.At.In(loc)
		peaks[[2]int{int(l.Weekday()), l.Hour()}]++
		if m.Incoming {
			writers[m.LineUserID] = true
		}
	}
	for k, n := range peaks {
		out.PeakHours = append(out.PeakHours, PeakHour{DayOfWeek: k[0], Hour: k[1], MessageCount: n})
	}
	slices.SortFunc(out.PeakHours, func(a, b PeakHour) int {
		if a.MessageCount != b.MessageCount {
			return b.MessageCount - a.MessageCount
		}
		return a.DayOfWeek*24 + a.Hour - (b.DayOfWeek*24 + b.Hour)
	})
	out.Funnel.BotEntries = len(writers)
	out.Percentiles.FirstResponse = percentiles(frts)
	out.Percentiles.Resolution = percentiles(ress)
	return out
}

// dayKPIs are one window's figures for the trends.
type dayKPIs struct {
	started       float64
	frt, res      mean
	scores, rated int
	fcr, abandon  float64
}

func (k dayKPIs) csatPercent() float64 {
	if k.rated == 0 {
		return 0
	}
	return round(float64(k.scores)/float64(k.rated)/5*100, 1)
}

// windowKPIs is the figures of [from, to): sessions started, first
// responses of the claims, resolutions of the closes, ratings, and the
// FCR and abandonment rates of the closes in it.
func windowKPIs(d DashboardData, from, to time.Time) dayKPIs {
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	var k dayKPIs
	for _, s := range d.Sessions {
		if in(s.StartedAt) {
			k.started++
		}
		if s.ClaimedAt != nil && in(*s.ClaimedAt) && s.FirstResponseAt != nil {
			k.frt.add(s.FirstResponseAt.Sub(*s.ClaimedAt))
		}
		if s.Status == StatusClosed && s.ClosedAt != nil && in(*s.ClosedAt) {
			k.res.add(s.ClosedAt.Sub(s.StartedAt))
		}
	}
	for _, r := range d.Ratings {
		if in(r.At) {
			k.scores += r.Score
			k.rated++
		}
	}
	k.fcr, k.abandon = rates(d.Sessions, in)
	return k
}

// percentiles of vs with linear interpolation between closest ranks.
func percentiles(vs []float64) Percentiles {
	if len(vs) == 0 {
		return Percentiles{}
	}
	slices.Sort(vs)
	at := func(p float64) float64 {
		pos := p * float64(len(vs)-1)
		lo := int(math.Floor(pos))
		hi := min(lo+1, len(vs)-1)
		return round(vs[lo]+(vs[hi]-vs[lo])*(pos-float64(lo)), 1)
	}
	return Percentiles{P50: at(.5), P90: at(.9), P99: at(.99)}
}

package rest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"livechat/internal/hours"
)

// HoursStore persists the business hours; *store.DB implements it. The
// webhook worker reads them from the store on every handoff, so a change
// applies to the next out-of-hours decision.
type HoursStore interface {
	// BusinessHours loads the schedule.
	BusinessHours(ctx context.Context) (hours.Schedule, error)
	// SetBusinessHours replaces the whole schedule; an invalid one is
	// chat.ErrInvalid.
	SetBusinessHours(ctx context.Context, s hours.Schedule, now time.Time) error
}

// weekdays are the wire names of the days, Monday first as people write
// weeks, with the time.Weekday each stands for.
var weekdays = [7]struct {
	name string
	day  time.Weekday
}{
	{"mon", time.Monday}, {"tue", time.Tuesday}, {"wed", time.Wednesday}, {"thu", time.Thursday},
	{"fri", time.Friday}, {"sat", time.Saturday}, {"sun", time.Sunday},
}

// rangeJSON is one opening period, "HH:MM" to "HH:MM" (close may be 24:00).
type rangeJSON struct {
	Open  string `json:"open"`
	Close string `json:"close"`
}

// weekJSON is the ranges of each day, every day present (an empty list is
// closed), in week order.
type weekJSON struct {
	Mon []rangeJSON `json:"mon"`
	Tue []rangeJSON `json:"tue"`
	Wed []rangeJSON `json:"wed"`
	Thu []rangeJSON `json:"thu"`
	Fri []rangeJSON `json:"fri"`
	Sat []rangeJSON `json:"sat"`
	Sun []rangeJSON `json:"sun"`
}

// hoursJSON is the schedule as GET and PUT answer it: open_now and
// next_opening (UTC; absent while open, or when the schedule never opens)
// are computed at the time of the request.
type hoursJSON struct {
	Timezone    string     `json:"timezone"`
	Days        weekJSON   `json:"days"`
	OpenNow     bool       `json:"open_now"`
	NextOpening *time.Time `json:"next_opening,omitempty"`
}

func hoursView(s hours.Schedule, now time.Time) hoursJSON {
	v := hoursJSON{Timezone: s.Location.String(), OpenNow: s.IsOpen(now)}
	days := [7]*[]rangeJSON{
		time.Sunday: &v.Days.Sun, time.Monday: &v.Days.Mon, time.Tuesday: &v.Days.Tue, time.Wednesday: &v.Days.Wed,
		time.Thursday: &v.Days.Thu, time.Friday: &v.Days.Fri, time.Saturday: &v.Days.Sat,
	}
	for d, rs := range s.Days {
		out := make([]rangeJSON, 0, len(rs))
		for _, r := range rs {
			out = append(out, rangeJSON{Open: hours.FormatClock(r.Opens), Close: hours.FormatClock(r.Closes)})
		}
		*days[d] = out
	}
	if !v.OpenNow {
		if next, ok := s.NextOpening(now); ok {
			u := next.UTC()
			v.NextOpening = &u
		}
	}
	return v
}

// hoursRequest is the body of a PUT: the whole schedule. Every day must be
// given (an empty list for closed), so that a client cannot close days by
// leaving them out.
type hoursRequest struct {
	Timezone *string                  `json:"timezone"`
	Days     map[string]*[]rangeInput `json:"days"`
}

type rangeInput struct {
	Open  *string `json:"open"`
	Close *string `json:"close"`
}

// schedule validates the request into a schedule; errors name the field,
// e.g. "days.mon[1].open".
func (q hoursRequest) schedule() (hours.Schedule, error) {
	var s hours.Schedule
	if q.Timezone == nil || *q.Timezone == "" {
		return s, invalid("timezone", "timezone is required: an IANA name such as Asia/Bangkok")
	}
	if err := identifier("timezone", *q.Timezone); err != nil {
		return s, err
	}
	// LoadLocation maps "" and "UTC" to UTC and "Local" to the host's zone;
	// only names that mean the same everywhere are stored.
	loc, err := time.LoadLocation(*q.Timezone)
	if err != nil || loc == time.Local {
		return s, invalid("timezone", fmt.Sprintf("timezone %q is not an IANA time zone name such as Asia/Bangkok", *q.Timezone))
	}
	s.Location = loc
	if q.Days == nil {
		return s, invalid("days", "days is required: an object with mon, tue, wed, thu, fri, sat and sun")
	}
	known := map[string]bool{}
	for _, wd := range weekdays {
		known[wd.name] = true
	}
	names := make([]string, 0, len(q.Days))
	for name := range q.Days {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !known[name] {
			return s, invalid("days."+name, fmt.Sprintf("unknown day %q: use mon, tue, wed, thu, fri, sat and sun", name))
		}
	}
	for _, wd := range weekdays {
		field := "days." + wd.name
		rs, present := q.Days[wd.name]
		if !present {
			return s, invalid(field, field+" is required (an empty list when closed all day)")
		}
		if rs == nil {
			return s, invalid(field, field+" must be a list of {open, close} ranges (an empty list when closed all day)")
		}
		day, err := dayRanges(field, *rs)
		if err != nil {
			return s, err
		}
		s.Days[wd.day] = day
	}
	if err := s.Validate(); err != nil { // dayRanges checked the same; a safety net
		return hours.Schedule{}, invalid("days", err.Error())
	}
	return s, nil
}

// dayRanges checks one day's ranges and returns them sorted by opening.
func dayRanges(field string, in []rangeInput) ([]hours.Range, error) {
	out := make([]hours.Range, 0, len(in))
	for i, r := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		opens, err := clockField(f+".open", r.Open)
		if err != nil {
			return nil, err
		}
		closes, err := clockField(f+".close", r.Close)
		if err != nil {
			return nil, err
		}
		if opens >= closes {
			return nil, invalid(f, fmt.Sprintf("%s must open before it closes (%s-%s); split overnight hours at 24:00",
				f, hours.FormatClock(opens), hours.FormatClock(closes)))
		}
		out = append(out, hours.Range{Opens: opens, Closes: closes})
	}
	slices.SortStableFunc(out, func(a, b hours.Range) int { return a.Opens - b.Opens })
	for i := 1; i < len(out); i++ {
		if out[i-1].Closes > out[i].Opens {
			return nil, invalid(field, fmt.Sprintf("%s: ranges %s and %s overlap", field, out[i-1], out[i]))
		}
	}
	return out, nil
}

func clockField(field string, v *string) (int, error) {
	if v == nil {
		return 0, invalid(field, field+" is required: HH:MM")
	}
	m, err := hours.ParseClock(*v)
	if err != nil {
		return 0, invalid(field, fmt.Sprintf("%s %q must be HH:MM from 00:00 to 24:00", field, *v))
	}
	return m, nil
}

// businessHours answers the schedule and whether it is open now (any operator).
func (s *server) businessHours(w http.ResponseWriter, r *http.Request) {
	sched, err := s.Hours.BusinessHours(r.Context())
	if err != nil {
		s.fail(w, r, fmt.Errorf("load business hours: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, hoursView(sched, s.Clock.Now()))
}

// setBusinessHours replaces the schedule (admin only) and answers it as
// stored.
func (s *server) setBusinessHours(w http.ResponseWriter, r *http.Request) {
	var req hoursRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	sched, err := req.schedule()
	if err != nil {
		writeError(w, err)
		return
	}
	now := s.Clock.Now()
	if err := s.Hours.SetBusinessHours(r.Context(), sched, now); err != nil {
		s.fail(w, r, fmt.Errorf("set business hours: %w", err))
		return
	}
	stored, err := s.Hours.BusinessHours(r.Context())
	if err != nil {
		s.fail(w, r, fmt.Errorf("reload business hours: %w", err))
		return
	}
	s.Log.InfoContext(r.Context(), "business hours set", "hours", stored.String(), "by", actor(r).ID)
	writeJSON(w, http.StatusOK, hoursView(stored, now))
}

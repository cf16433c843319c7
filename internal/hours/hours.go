// Package hours is the business-hours schedule: opening ranges per weekday in
// one timezone. It answers "are we open?" and "when do we open next?" for the
// out-of-hours reply, and parses the compact text form that config uses.
package hours

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// DefaultTimezone is the zone of the default schedule.
const DefaultTimezone = "Asia/Bangkok"

// MinutesPerDay is the largest Closes: a range may run to 24:00.
const MinutesPerDay = 24 * 60

// Range is one opening period of a day, in minutes after local midnight:
// open from Opens (inclusive) to Closes (exclusive). Closes may be 24:00; an
// overnight period is two ranges (22:00-24:00 and 00:00-06:00 next day).
type Range struct {
	Opens, Closes int
}

// Schedule is the weekly business hours in Location. Days is indexed by
// time.Weekday (0 = Sunday); a day without ranges is closed. Ranges of a
// day are sorted and do not overlap (Validate).
type Schedule struct {
	Location *time.Location
	Days     [7][]Range
}

// ErrInvalid marks a schedule or spec that cannot be used.
var ErrInvalid = errors.New("hours: invalid schedule")

// Default is Monday to Friday 08:00-17:00, Asia/Bangkok (the original's seed).
func Default() Schedule {
	loc, err := time.LoadLocation(DefaultTimezone)
	if err != nil {
		// No tzdata on this machine; the zone has had no DST since 1920.
		loc = time.FixedZone(DefaultTimezone, 7*3600)
	}
	var s Schedule
	s.Location = loc
	for d := time.Monday; d <= time.Friday; d++ {
		s.Days[d] = []Range{{Opens: 8 * 60, Closes: 17 * 60}}
	}
	return s
}

// Validate checks the location and that every range lies within its day,
// is not empty, and is sorted and disjoint from the day's other ranges.
func (s Schedule) Validate() error {
	if s.Location == nil {
		return fmt.Errorf("%w: no timezone", ErrInvalid)
	}
	for d, rs := range s.Days {
		for i, r := range rs {
			if r.Opens < 0 || r.Closes > MinutesPerDay || r.Opens >= r.Closes {
				return fmt.Errorf("%w: %s %s: a range must open before it closes, within 00:00-24:00", ErrInvalid, dayNames[d], r)
			}
			if i > 0 && rs[i-1].Closes > r.Opens {
				return fmt.Errorf("%w: %s: ranges %s and %s overlap or are out of order", ErrInvalid, dayNames[d], rs[i-1], r)
			}
		}
	}
	return nil
}

// normalize sorts each day's ranges by opening time.
func (s *Schedule) normalize() {
	for d := range s.Days {
		slices.SortFunc(s.Days[d], func(a, b Range) int { return a.Opens - b.Opens })
	}
}

// Closed reports whether the schedule never opens.
func (s Schedule) Closed() bool {
	for _, rs := range s.Days {
		if len(rs) > 0 {
			return false
		}
	}
	return true
}

// IsOpen reports whether t falls in an opening range, in the schedule's zone.
func (s Schedule) IsOpen(t time.Time) bool {
	next, ok := s.NextOpening(t)
	return ok && next.Equal(t)
}

// NextOpening is the first instant at or after t when the business is open:
// t itself while open, else the start of the next range. ok is false when
// the schedule has no range at all. Wall times are resolved in the
// schedule's zone with time.Date, so DST gaps and 24:00 behave as the
// calendar does.
func (s Schedule) NextOpening(t time.Time) (next time.Time, ok bool) {
	if s.Location == nil || s.Closed() {
		return time.Time{}, false
	}
	local := t.In(s.Location)
	// Start the day before: a range that closes at 24:00 ends "tomorrow",
	// and a DST shift can move a range's end past midnight. Eight days
	// ahead reaches the same weekday of next week.
	for i := -1; i <= 8; i++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+i, 0, 0, 0, 0, s.Location)
		for _, r := range s.Days[day.Weekday()] {
			opens := at(day, r.Opens)
			closes := at(day, r.Closes)
			if !t.Before(closes) {
				continue
			}
			if !t.Before(opens) {
				return t, true
			}
			return opens, true
		}
	}
	return time.Time{}, false // unreachable with at least one range
}

// at is the wall time minutes after day's midnight.
func at(day time.Time, minutes int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), minutes/60, minutes%60, 0, 0, day.Location())
}

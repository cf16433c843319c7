package hours_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"livechat/internal/hours"
)

// FuzzParse feeds LIVECHAT_BUSINESS_HOURS specs to Parse. A spec is refused
// with a clear ErrInvalid, or accepted as a schedule that keeps the
// invariants Schedule documents and that String writes back in a form
// Parse reads as the same schedule.
func FuzzParse(f *testing.F) {
	for _, spec := range []string{
		// The README's example.
		"mon-fri 08:00-12:00,13:00-17:00; sat 09:00-12:00; tz=Asia/Bangkok",
		// The package's tests.
		"mon-fri 08:00-12:00, 13:00-17:00; fri-sun 22:00-24:00; sat,sun 00:00-02:00; tz=UTC",
		"wed 09:00-10:00; tz=UTC",
		"sun 09:00-10:00; tz=Europe/Berlin",
		"closed",
		"closed; tz=Asia/Bangkok",
		"Mon-Fri 08:00-17:00; SAT 09:00-12:00",
		"mon 00:00-24:00",
		"mon 08:00-17:00; tue 08:00-17:00; wed 08:00-17:00; thu 08:00-17:00; fri 08:00-17:00; tz=Asia/Bangkok",
		"",
		"mon",
		"funday 08:00-17:00",
		"mon 8:00-17:00",
		"mon 08:00-24:01",
		"mon 17:00-08:00",
		"mon 08:00-08:00",
		"mon 08:00",
		"mon 08:00-12:00; mon 11:00-13:00",
		"mon 08:60-09:00",
		"tz=Mars/Olympus; mon 08:00-17:00",
		// The store's tests.
		"mon-fri 08:00-12:00,13:00-17:00; sat 09:00-12:00; sun 22:00-24:00; tz=Europe/Berlin",
		"closed; tz=UTC",
	} {
		f.Add(spec)
	}
	bkk, err := time.LoadLocation(hours.DefaultTimezone)
	if err != nil {
		f.Fatal(err)
	}
	// Fixed instants, so an input's outcome never depends on the wall clock:
	// a Friday in Bangkok, and both DST changes of 2026 in Europe and the US.
	instants := []time.Time{
		time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC),
		time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC),
		time.Date(2026, 3, 8, 6, 30, 0, 0, time.UTC),
		time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := hours.Parse(spec, bkk)
		if err != nil {
			if !errors.Is(err, hours.ErrInvalid) || err.Error() == hours.ErrInvalid.Error() {
				t.Fatalf("Parse(%q) = %v: want ErrInvalid with a reason", spec, err)
			}
			return
		}
		checkSchedule(t, spec, s)
		checkFromSpec(t, spec, s, bkk)
		text := s.String()
		again, err := hours.Parse(text, nil) // String names the zone: loc must not matter
		if err != nil {
			t.Fatalf("Parse(%q) accepted; its String %q does not parse: %v", spec, text, err)
		}
		if !sameSchedule(s, again) {
			t.Fatalf("Parse(%q) = %q; parsed back: %q", spec, text, again.String())
		}
		if again.String() != text {
			t.Fatalf("String is not stable: %q, then %q", text, again.String())
		}
		for _, at := range instants {
			next, ok := s.NextOpening(at)
			if ok == s.Closed() {
				t.Fatalf("%q: NextOpening(%v) ok = %v on a schedule with Closed() = %v", text, at, ok, s.Closed())
			}
			if !ok {
				continue
			}
			if next.Before(at) || !s.IsOpen(next) {
				t.Fatalf("%q: NextOpening(%v) = %v, before it or not open", text, at, next)
			}
		}
	})
}

// checkSchedule checks what Schedule documents of itself, independently of
// Validate: a zone that loads by its name (the store keeps it by name), and
// per day ranges within 00:00-24:00 that open before they close, sorted and
// disjoint.
func checkSchedule(t *testing.T, spec string, s hours.Schedule) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatalf("Parse(%q) accepted a schedule Validate refuses: %v", spec, err)
	}
	if s.Location == nil || s.Location == time.Local {
		t.Fatalf("Parse(%q): zone %v is not an IANA zone", spec, s.Location)
	}
	if _, err := time.LoadLocation(s.Location.String()); err != nil {
		t.Fatalf("Parse(%q): zone %q does not load by name: %v", spec, s.Location, err)
	}
	for d, rs := range s.Days {
		for i, r := range rs {
			if r.Opens < 0 || r.Closes > hours.MinutesPerDay || r.Opens >= r.Closes {
				t.Fatalf("Parse(%q): %v: range %v", spec, time.Weekday(d), r)
			}
			if i > 0 && rs[i-1].Closes > r.Opens {
				t.Fatalf("Parse(%q): %v: %v and %v overlap or are out of order", spec, time.Weekday(d), rs[i-1], r)
			}
		}
	}
}

// checkFromSpec checks that what Parse accepted is what the spec says: the
// zone is loc or one the spec names, and every opening and closing time is
// written in the spec as HH:MM (Parse must not read "+5" as 05).
func checkFromSpec(t *testing.T, spec string, s hours.Schedule, loc *time.Location) {
	t.Helper()
	if s.Location != loc && !strings.Contains(spec, s.Location.String()) {
		t.Fatalf("Parse(%q): zone %q is neither the default nor named in the spec", spec, s.Location)
	}
	for d, rs := range s.Days {
		for _, r := range rs {
			for _, m := range []int{r.Opens, r.Closes} {
				if !strings.Contains(spec, hours.FormatClock(m)) {
					t.Fatalf("Parse(%q): %v opens or closes at %s, which the spec does not say", spec, time.Weekday(d), hours.FormatClock(m))
				}
			}
		}
	}
}

// sameSchedule compares zones by name (LoadLocation returns a fresh value
// each time) and the ranges of every day.
func sameSchedule(a, b hours.Schedule) bool {
	if a.Location.String() != b.Location.String() {
		return false
	}
	for d := range a.Days {
		if !slices.Equal(a.Days[d], b.Days[d]) {
			return false
		}
	}
	return true
}

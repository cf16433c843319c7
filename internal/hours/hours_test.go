package hours_test

import (
	"errors"
	"testing"
	"time"

	"livechat/internal/hours"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func mustParse(t *testing.T, spec string) hours.Schedule {
	t.Helper()
	s, err := hours.Parse(spec, nil)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	return s
}

// utc builds an instant from a UTC wall time (Bangkok is UTC+7).
func utc(y int, mo time.Month, d, h, m int) time.Time {
	return time.Date(y, mo, d, h, m, 0, 0, time.UTC)
}

func TestDefaultIsOpenAcrossDaysAndZones(t *testing.T) {
	s := hours.Default()
	if got := s.String(); got != "mon 08:00-17:00; tue 08:00-17:00; wed 08:00-17:00; thu 08:00-17:00; fri 08:00-17:00; tz=Asia/Bangkok" {
		t.Fatalf("Default = %q", got)
	}
	// 2026-11-27 is a Friday, 2026-11-28 a Saturday.
	cases := []struct {
		name string
		at   time.Time
		open bool
		next time.Time
	}{
		{"friday 10:00 bkk", utc(2026, 11, 27, 3, 0), true, utc(2026, 11, 27, 3, 0)},
		{"friday 08:00 bkk, opening instant", utc(2026, 11, 27, 1, 0), true, utc(2026, 11, 27, 1, 0)},
		{"friday 07:59 bkk", utc(2026, 11, 27, 0, 59), false, utc(2026, 11, 27, 1, 0)},
		{"friday 17:00 bkk, closing instant", utc(2026, 11, 27, 10, 0), false, utc(2026, 11, 30, 1, 0)},
		// Thursday 23:30 UTC is already Friday 06:30 in Bangkok.
		{"thursday utc is friday bkk", utc(2026, 11, 26, 23, 30), false, utc(2026, 11, 27, 1, 0)},
		// Friday 20:00 UTC is Saturday 03:00 in Bangkok: next is Monday 08:00.
		{"saturday bkk", utc(2026, 11, 27, 20, 0), false, utc(2026, 11, 30, 1, 0)},
		{"sunday 23:59 bkk", utc(2026, 11, 29, 16, 59), false, utc(2026, 11, 30, 1, 0)},
		{"monday 16:59 bkk", utc(2026, 11, 30, 9, 59), true, utc(2026, 11, 30, 9, 59)},
		// The same instant given in another zone means the same thing.
		{"instant in new york", time.Date(2026, 11, 26, 22, 0, 0, 0, mustLoad(t, "America/New_York")), true, utc(2026, 11, 27, 3, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.IsOpen(tc.at); got != tc.open {
				t.Errorf("IsOpen(%v) = %v, want %v", tc.at, got, tc.open)
			}
			next, ok := s.NextOpening(tc.at)
			if !ok || !next.Equal(tc.next) {
				t.Errorf("NextOpening(%v) = %v, %v; want %v", tc.at, next.UTC(), ok, tc.next)
			}
		})
	}
}

func TestSplitShiftsOvernightAndWrap(t *testing.T) {
	s := mustParse(t, "mon-fri 08:00-12:00, 13:00-17:00; fri-sun 22:00-24:00; sat,sun 00:00-02:00; tz=UTC")
	cases := []struct {
		at   time.Time
		open bool
		next time.Time
	}{
		{utc(2026, 11, 30, 12, 30), false, utc(2026, 11, 30, 13, 0)}, // Monday lunch
		{utc(2026, 11, 30, 12, 0), false, utc(2026, 11, 30, 13, 0)},
		{utc(2026, 11, 30, 11, 59), true, utc(2026, 11, 30, 11, 59)},
		{utc(2026, 11, 27, 23, 0), true, utc(2026, 11, 27, 23, 0)}, // Friday night
		{utc(2026, 11, 28, 1, 0), true, utc(2026, 11, 28, 1, 0)},   // past midnight into Saturday
		{utc(2026, 11, 28, 2, 0), false, utc(2026, 11, 28, 22, 0)}, // Saturday 02:00: next the evening
		{utc(2026, 11, 30, 1, 0), false, utc(2026, 11, 30, 8, 0)},  // Monday night is not covered
		{utc(2026, 11, 29, 23, 59), true, utc(2026, 11, 29, 23, 59)},
	}
	for _, tc := range cases {
		if got := s.IsOpen(tc.at); got != tc.open {
			t.Errorf("IsOpen(%v %v) = %v, want %v", tc.at.Weekday(), tc.at, got, tc.open)
		}
		if next, ok := s.NextOpening(tc.at); !ok || !next.Equal(tc.next) {
			t.Errorf("NextOpening(%v %v) = %v, %v; want %v", tc.at.Weekday(), tc.at, next, ok, tc.next)
		}
	}
}

func TestNextOpeningWeeklyAndDST(t *testing.T) {
	// Open only on Wednesdays: from a Wednesday evening, next week.
	s := mustParse(t, "wed 09:00-10:00; tz=UTC")
	if next, _ := s.NextOpening(utc(2026, 11, 25, 10, 0)); !next.Equal(utc(2026, 12, 2, 9, 0)) {
		t.Errorf("NextOpening = %v, want next Wednesday", next)
	}
	// Berlin leaves DST on Sunday 2026-10-25: 09:00 local is 08:00 UTC after, 07:00 UTC before.
	s = mustParse(t, "sun 09:00-10:00; tz=Europe/Berlin")
	if next, _ := s.NextOpening(utc(2026, 10, 24, 12, 0)); !next.Equal(utc(2026, 10, 25, 8, 0)) {
		t.Errorf("NextOpening across DST = %v, want 2026-10-25 08:00 UTC", next)
	}
	if !s.IsOpen(utc(2026, 10, 25, 8, 30)) || s.IsOpen(utc(2026, 10, 25, 7, 30)) {
		t.Error("IsOpen ignores the DST shift")
	}
}

func TestClosedSchedule(t *testing.T) {
	s := mustParse(t, "closed")
	if s.IsOpen(utc(2026, 11, 27, 3, 0)) {
		t.Error("closed schedule is open")
	}
	if _, ok := s.NextOpening(utc(2026, 11, 27, 3, 0)); ok {
		t.Error("closed schedule has a next opening")
	}
	if got := s.String(); got != "closed; tz=Asia/Bangkok" {
		t.Errorf("String = %q", got)
	}
	if again := mustParse(t, s.String()); !again.Closed() {
		t.Error("round trip opened it")
	}
}

func TestParseRoundTripAndDefaults(t *testing.T) {
	s := mustParse(t, "Mon-Fri 08:00-17:00; SAT 09:00-12:00")
	if s.Location.String() != "Asia/Bangkok" {
		t.Errorf("default zone = %v", s.Location)
	}
	again := mustParse(t, s.String())
	if again.String() != s.String() {
		t.Errorf("round trip: %q != %q", again.String(), s.String())
	}
	withLoc, err := hours.Parse("mon 00:00-24:00", time.UTC)
	if err != nil || withLoc.Location != time.UTC || !withLoc.IsOpen(utc(2026, 11, 30, 23, 59)) {
		t.Errorf("Parse with loc: %v %v", withLoc, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{
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
		"mon 08:00-+9:00", // a sign is not a digit
		"tz=Mars/Olympus; mon 08:00-17:00",
		"tz=; mon 08:00-17:00",      // LoadLocation reads "" as UTC
		"tz=Local; mon 08:00-17:00", // the host's zone, not an IANA name
	} {
		if _, err := hours.Parse(spec, nil); !errors.Is(err, hours.ErrInvalid) {
			t.Errorf("Parse(%q) error = %v, want ErrInvalid", spec, err)
		}
	}
}

func TestValidate(t *testing.T) {
	s := hours.Default()
	s.Days[time.Monday] = []hours.Range{{Opens: 13 * 60, Closes: 17 * 60}, {Opens: 8 * 60, Closes: 12 * 60}}
	if err := s.Validate(); !errors.Is(err, hours.ErrInvalid) {
		t.Errorf("unsorted ranges: %v", err)
	}
	s = hours.Default()
	s.Location = nil
	if err := s.Validate(); !errors.Is(err, hours.ErrInvalid) {
		t.Errorf("no location: %v", err)
	}
}

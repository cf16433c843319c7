package hours

import (
	"fmt"
	"strings"
	"time"
)

// dayNames are the spec's weekday names, indexed by time.Weekday.
var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Parse reads the text form of a schedule, e.g.
//
//	mon-fri 08:00-12:00,13:00-17:00; sat 09:00-12:00; tz=Asia/Bangkok
//
// Items are separated by ";". An item is "tz=<IANA zone>" or a day list
// followed by one or more ranges separated by ",". A day list is a day
// (sun mon tue wed thu fri sat), a span "mon-fri" (it may wrap: "fri-mon"),
// or several of those joined by ",": "mon,wed,fri". A range is HH:MM-HH:MM;
// it may close at 24:00. Days not listed are closed; the spec "closed" means
// never open. Without tz= the zone is loc (nil: Asia/Bangkok).
func Parse(spec string, loc *time.Location) (Schedule, error) {
	var s Schedule
	s.Location = loc
	if s.Location == nil {
		s.Location = Default().Location
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return Schedule{}, fmt.Errorf("%w: empty spec (write \"closed\" for never open)", ErrInvalid)
	}
	for item := range strings.SplitSeq(spec, ";") {
		item = strings.TrimSpace(item)
		if item == "" || strings.EqualFold(item, "closed") {
			continue
		}
		if zone, ok := cutPrefixFold(item, "tz="); ok {
			l, ok := loadZone(strings.TrimSpace(zone))
			if !ok {
				return Schedule{}, fmt.Errorf("%w: unknown timezone %q", ErrInvalid, zone)
			}
			s.Location = l
			continue
		}
		// The day list ends where the first time begins.
		cut := strings.IndexAny(item, "0123456789")
		if cut <= 0 {
			return Schedule{}, fmt.Errorf("%w: %q: want days and ranges, like \"mon-fri 08:00-17:00\"", ErrInvalid, item)
		}
		days, ranges := strings.ReplaceAll(item[:cut], " ", ""), item[cut:]
		ds, err := parseDays(days)
		if err != nil {
			return Schedule{}, err
		}
		var rs []Range
		for r := range strings.SplitSeq(ranges, ",") {
			rg, err := parseRange(strings.TrimSpace(r))
			if err != nil {
				return Schedule{}, err
			}
			rs = append(rs, rg)
		}
		for _, d := range ds {
			s.Days[d] = append(s.Days[d], rs...)
		}
	}
	s.normalize()
	if err := s.Validate(); err != nil {
		return Schedule{}, err
	}
	return s, nil
}

// loadZone loads an IANA zone. time.LoadLocation also takes "" (as UTC)
// and "Local" (the host's zone, which the store refuses): neither names one.
func loadZone(name string) (*time.Location, bool) {
	if name == "" || name == "Local" {
		return nil, false
	}
	l, err := time.LoadLocation(name)
	return l, err == nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

func parseDays(list string) ([]time.Weekday, error) {
	var out []time.Weekday
	for part := range strings.SplitSeq(strings.ToLower(list), ",") {
		from, to, span := strings.Cut(strings.TrimSpace(part), "-")
		a, err := parseDay(from)
		if err != nil {
			return nil, err
		}
		b := a
		if span {
			if b, err = parseDay(to); err != nil {
				return nil, err
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			out = append(out, d)
			if d == b {
				break
			}
		}
	}
	return out, nil
}

func parseDay(s string) (time.Weekday, error) {
	for d, name := range dayNames {
		if s == name {
			return time.Weekday(d), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown day %q (use sun mon tue wed thu fri sat)", ErrInvalid, s)
}

func parseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Range{}, fmt.Errorf("%w: range %q: want HH:MM-HH:MM", ErrInvalid, s)
	}
	opens, err := ParseClock(a)
	if err != nil {
		return Range{}, err
	}
	closes, err := ParseClock(b)
	if err != nil {
		return Range{}, err
	}
	if opens >= closes {
		return Range{}, fmt.Errorf("%w: range %q must open before it closes (split overnight hours at 24:00)", ErrInvalid, s)
	}
	return Range{Opens: opens, Closes: closes}, nil
}

// ParseClock reads "HH:MM" (00:00 to 24:00) as minutes after midnight.
func ParseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	hh, mm, ok := strings.Cut(s, ":")
	h, okH := twoDigits(hh)
	m, okM := twoDigits(mm)
	if !ok || !okH || !okM || m > 59 || h*60+m > MinutesPerDay {
		return 0, fmt.Errorf("%w: time %q: want HH:MM between 00:00 and 24:00", ErrInvalid, s)
	}
	return h*60 + m, nil
}

// twoDigits reads exactly two ASCII digits; strconv.Atoi would also take a
// sign ("+5").
func twoDigits(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// FormatClock writes minutes after midnight as "HH:MM".
func FormatClock(minutes int) string {
	return fmt.Sprintf("%02d:%02d", minutes/60, minutes%60)
}

func (r Range) String() string { return FormatClock(r.Opens) + "-" + FormatClock(r.Closes) }

// String is the schedule in Parse's form, one item per open day:
// "mon 08:00-17:00; tue 08:00-17:00; tz=Asia/Bangkok".
func (s Schedule) String() string {
	var items []string
	// Monday first, as people write weeks.
	for i := 1; i <= 7; i++ {
		d := i % 7
		if len(s.Days[d]) == 0 {
			continue
		}
		rs := make([]string, len(s.Days[d]))
		for j, r := range s.Days[d] {
			rs[j] = r.String()
		}
		items = append(items, dayNames[d]+" "+strings.Join(rs, ","))
	}
	if len(items) == 0 {
		items = append(items, "closed")
	}
	if s.Location != nil {
		items = append(items, "tz="+s.Location.String())
	}
	return strings.Join(items, "; ")
}

package rest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/hours"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

var _ rest.HoursStore = (*store.DB)(nil)

const hoursPath = lc + "business-hours"

// withHours wires the store's business hours into the API.
func withHours(db *store.DB) func(*rest.Deps) {
	return func(d *rest.Deps) { d.Hours = db }
}

// week is a full PUT/GET days object: every day closed unless given.
func week(days map[string][]map[string]string) map[string]any {
	out := map[string]any{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		rs := days[d]
		if rs == nil {
			rs = []map[string]string{}
		}
		out[d] = rs
	}
	return out
}

func span(open, close string) map[string]string {
	return map[string]string{"open": open, "close": close}
}

// daysJSON renders the days object of an answer compactly, in week order.
func daysJSON(t testing.TB, m map[string]any) string {
	t.Helper()
	days, ok := m["days"].(map[string]any)
	if !ok {
		t.Fatalf("days is %T: %v", m["days"], m)
	}
	if len(days) != 7 {
		t.Errorf("days has %d keys, want 7: %v", len(days), days)
	}
	out := ""
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		out += d + ":"
		rs := list(t, days, d)
		for i, r := range rs {
			if i > 0 {
				out += ","
			}
			out += r["open"].(string) + "-" + r["close"].(string)
		}
		out += " "
	}
	return out
}

func TestBusinessHoursAccess(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withHours(db))
		body := map[string]any{"timezone": "UTC", "days": week(nil)}

		e.call(t, "GET", hoursPath, "", nil).expectError(t, 401, "auth_missing_token")
		e.call(t, "PUT", hoursPath, "", body).expectError(t, 401, "auth_missing_token")
		e.call(t, "GET", hoursPath, "not-a-token", nil).expectError(t, 401, "auth_invalid_token")

		for _, role := range []chat.Role{chat.RoleAgent, chat.RoleSupervisor} {
			tok := e.token(t, e.operator(t, string(role), role))
			e.call(t, "GET", hoursPath, tok, nil).expect(t, 200)
			m := e.call(t, "PUT", hoursPath, tok, body).expectError(t, 403, "forbidden")
			if m["message"] != "Only an admin can set business hours" {
				t.Errorf("403 message %q", m["message"])
			}
		}
		// The refused PUTs changed nothing: still the seeded schedule.
		s, err := db.BusinessHours(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.String(), hours.Default().String(); got != want {
			t.Errorf("after refused PUTs: %q, want %q", got, want)
		}
	})
}

func TestBusinessHoursOpenNow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withHours(db))
		agentOp := e.operator(t, "agent", chat.RoleAgent)
		agent := e.token(t, agentOp)

		// t0 is Wednesday 2026-11-25 10:00 in Bangkok: the seeded Mon-Fri
		// 08:00-17:00 is open, and there is no next opening to announce.
		m := e.call(t, "GET", hoursPath, agent, nil).expect(t, 200)
		if m["timezone"] != "Asia/Bangkok" || m["open_now"] != true {
			t.Errorf("at t0: %s", e.call(t, "GET", hoursPath, agent, nil).Body)
		}
		if _, ok := m["next_opening"]; ok {
			t.Errorf("next_opening while open: %v", m["next_opening"])
		}
		if got, want := daysJSON(t, m), "mon:08:00-17:00 tue:08:00-17:00 wed:08:00-17:00 thu:08:00-17:00 fri:08:00-17:00 sat: sun: "; got != want {
			t.Errorf("days %q, want %q", got, want)
		}

		for _, c := range []struct {
			advance time.Duration
			open    bool
			next    string
		}{
			{7 * time.Hour, false, "2026-11-26T01:00:00Z"},  // Wed 17:00 BKK, closing time: Thu 08:00 BKK
			{15 * time.Hour, true, ""},                      // Thu 08:00 BKK, opening time
			{57 * time.Hour, false, "2026-11-30T01:00:00Z"}, // Sat 17:00 BKK: Mon 08:00 BKK
		} {
			e.clock.Advance(c.advance)
			agent = e.token(t, agentOp) // tokens live an hour
			m := e.call(t, "GET", hoursPath, agent, nil).expect(t, 200)
			next, _ := m["next_opening"].(string)
			if m["open_now"] != c.open || next != c.next {
				t.Errorf("at %s: open_now %v next_opening %q, want %v %q", e.clock.Now().UTC().Format(time.RFC3339), m["open_now"], next, c.open, c.next)
			}
		}
	})
}

func TestBusinessHoursPut(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withHours(db))
		adminOp, agentOp := e.operator(t, "root", chat.RoleAdmin), e.operator(t, "agent", chat.RoleAgent)
		admin, agent := e.token(t, adminOp), e.token(t, agentOp)

		// Ranges given out of order come back sorted; touching ranges are
		// fine; a day may run to 24:00.
		body := map[string]any{"timezone": "America/New_York", "days": week(map[string][]map[string]string{
			"mon": {span("13:00", "17:00"), span("09:00", "13:00")},
			"tue": {span("22:00", "24:00")},
			"wed": {span("00:00", "06:00"), span("09:30", "12:00")},
			"sun": {span("10:00", "11:00")},
		})}
		m := e.call(t, "PUT", hoursPath, admin, body).expect(t, 200)
		want := "mon:09:00-13:00,13:00-17:00 tue:22:00-24:00 wed:00:00-06:00,09:30-12:00 thu: fri: sat: sun:10:00-11:00 "
		if got := daysJSON(t, m); got != want || m["timezone"] != "America/New_York" {
			t.Errorf("PUT answered %s %q, want America/New_York %q", m["timezone"], got, want)
		}
		// t0 is Tuesday 22:00 in New York: open, in the late range.
		if m["open_now"] != true {
			t.Errorf("open_now %v at Tue 22:00 New York", m["open_now"])
		}

		// Every operator reads what the admin stored, and so does the
		// webhook worker, which asks the store.
		g := e.call(t, "GET", hoursPath, agent, nil).expect(t, 200)
		if got := daysJSON(t, g); got != want || g["timezone"] != "America/New_York" {
			t.Errorf("GET after PUT: %s %q", g["timezone"], got)
		}
		s, err := db.BusinessHours(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String(); got != "mon 09:00-13:00,13:00-17:00; tue 22:00-24:00; wed 00:00-06:00,09:30-12:00; sun 10:00-11:00; tz=America/New_York" {
			t.Errorf("stored %q", got)
		}

		// Wed 06:00 New York: closed until 09:30 (14:30 UTC, EST is UTC-5).
		e.clock.Advance(8 * time.Hour)
		admin, agent = e.token(t, adminOp), e.token(t, agentOp) // tokens live an hour
		g = e.call(t, "GET", hoursPath, agent, nil).expect(t, 200)
		if g["open_now"] != false || g["next_opening"] != "2026-11-25T14:30:00Z" {
			t.Errorf("Wed 06:00 New York: open_now %v next_opening %v", g["open_now"], g["next_opening"])
		}

		// Closed all week: never open, no next opening.
		m = e.call(t, "PUT", hoursPath, admin, map[string]any{"timezone": "UTC", "days": week(nil)}).expect(t, 200)
		if m["open_now"] != false || m["timezone"] != "UTC" {
			t.Errorf("closed week: %v", m)
		}
		if _, ok := m["next_opening"]; ok {
			t.Errorf("closed week has next_opening %v", m["next_opening"])
		}
		if got := daysJSON(t, m); got != "mon: tue: wed: thu: fri: sat: sun: " {
			t.Errorf("closed week days %q", got)
		}
	})
}

func TestBusinessHoursPutInvalid(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withHours(db))
		admin := e.token(t, e.operator(t, "root", chat.RoleAdmin))

		withDays := func(days map[string]any) map[string]any {
			return map[string]any{"timezone": "Asia/Bangkok", "days": days}
		}
		monday := func(rs ...any) map[string]any {
			d := week(nil)
			d["mon"] = rs
			return withDays(d)
		}
		without := func(day string) map[string]any {
			d := week(nil)
			delete(d, day)
			return withDays(d)
		}
		extra := func(k string, v any) map[string]any {
			d := week(nil)
			d[k] = v
			return withDays(d)
		}
		for _, c := range []struct {
			name  string
			body  any
			field string
		}{
			{"no timezone", map[string]any{"days": week(nil)}, "timezone"},
			{"empty timezone", map[string]any{"timezone": "", "days": week(nil)}, "timezone"},
			{"unknown timezone", map[string]any{"timezone": "Mars/Olympus_Mons", "days": week(nil)}, "timezone"},
			{"host timezone", map[string]any{"timezone": "Local", "days": week(nil)}, "timezone"},
			{"timezone not a string", map[string]any{"timezone": 7, "days": week(nil)}, "timezone"},
			{"no days", map[string]any{"timezone": "UTC"}, "days"},
			{"a day missing", without("sun"), "days.sun"},
			{"unknown day", extra("funday", []any{}), "days.funday"},
			{"day null", extra("tue", nil), "days.tue"},
			{"hour 25", monday(span("08:00", "25:00")), "days.mon[0].close"},
			{"past 24:00", monday(span("08:00", "24:01")), "days.mon[0].close"},
			{"one-digit hour", monday(span("8:00", "17:00")), "days.mon[0].open"},
			{"minute 60", monday(span("08:60", "17:00")), "days.mon[0].open"},
			{"not a time", monday(span("noon", "17:00")), "days.mon[0].open"},
			{"open missing", monday(map[string]string{"close": "17:00"}), "days.mon[0].open"},
			{"close missing", monday(span("08:00", "12:00"), map[string]string{"open": "13:00"}), "days.mon[1].close"},
			{"open after close", monday(span("17:00", "08:00")), "days.mon[0]"},
			{"empty range", monday(span("08:00", "08:00")), "days.mon[0]"},
			{"opens at 24:00", monday(span("24:00", "24:00")), "days.mon[0]"},
			{"overlap", monday(span("08:00", "12:00"), span("11:00", "17:00")), "days.mon"},
			{"overlap out of order", monday(span("13:00", "17:00"), span("08:00", "13:30")), "days.mon"},
			{"duplicate", monday(span("08:00", "12:00"), span("08:00", "12:00")), "days.mon"},
			{"range unknown field", monday(map[string]string{"open": "08:00", "close": "12:00", "note": "x"}), "note"},
			{"read-only open_now", map[string]any{"timezone": "UTC", "days": week(nil), "open_now": true}, "open_now"},
		} {
			t.Run(c.name, func(t *testing.T) {
				e.call(t, "PUT", hoursPath, admin, c.body).expectError(t, 400, "validation_error", c.field)
			})
		}
		e.call(t, "PUT", hoursPath, admin, `{"timezone":`).expectError(t, 400, "validation_error")
		e.call(t, "PUT", hoursPath, admin, nil).expectError(t, 400, "validation_error")

		// Nothing invalid was stored.
		s, err := db.BusinessHours(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.String(), hours.Default().String(); got != want {
			t.Errorf("after invalid PUTs: %q, want %q", got, want)
		}
	})
}

func TestBusinessHoursNotWired(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		admin := e.token(t, e.operator(t, "root", chat.RoleAdmin))
		e.call(t, "GET", hoursPath, admin, nil).expectError(t, 404, "not_found")
		e.call(t, "PUT", hoursPath, admin, map[string]any{"timezone": "UTC", "days": week(nil)}).expectError(t, 404, "not_found")
	})
}

// The answer has every key the dashboard reads, and no nulls.
func TestBusinessHoursShape(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withHours(db))
		op := e.operator(t, "agent", chat.RoleAgent)
		e.clock.Advance(12 * time.Hour) // Wed 22:00 Bangkok, closed: next_opening present
		agent := e.token(t, op)
		r := e.call(t, "GET", hoursPath, agent, nil)
		r.expect(t, 200)
		var v struct {
			Timezone    string                         `json:"timezone"`
			Days        map[string][]map[string]string `json:"days"`
			OpenNow     *bool                          `json:"open_now"`
			NextOpening *time.Time                     `json:"next_opening"`
		}
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatal(err)
		}
		if v.Timezone == "" || len(v.Days) != 7 || v.OpenNow == nil || *v.OpenNow || v.NextOpening == nil {
			t.Errorf("shape: %s", r.Body)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
		}
	})
}

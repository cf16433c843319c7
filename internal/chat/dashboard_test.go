package chat_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/outbound"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// The dashboard over two business days in Bangkok, by hand:
//
//	yesterday (Tue 24, 09:00 ICT): A queued, claimed after 10 min, answered in 60 s, closed at 40 min, rated 5
//	today (Wed 25, 09:00 ICT): B queued, claimed at 5 min, answered in 120 s, closed at 20 min, rated 3;
//	                            C queued at 30 min, waiting
//
// trends today against yesterday: sessions 2 vs 1, first response 120 vs
// 60, resolution 1200 vs 2400, CSAT 60 vs 100 %, FCR 100 vs 100; volume
// 1 then 2; funnel 3 customers wrote, 2 sessions claimed, 2 closed;
// percentiles of [60, 120] and [1200, 2400]; peak hours Wed 9 (3
// messages) then Tue 9 (2); by hour, 09: 3 in, 2 out.
func TestDashboardOverTwoDays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bkk, _ := time.LoadLocation("Asia/Bangkok")
		clk := clock.NewFake(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC))
		svc := chat.NewService(db, clk, outbound.NewRecorder(), slog.New(slog.DiscardHandler), bkk)
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		queue := func(c chat.Customer) {
			_, err := svc.CustomerMessage(ctx, chat.Message{LineUserID: c.LineUserID, Content: "agent"})
			must(err)
			_, _, _, _, err = svc.RequestHuman(ctx, c.LineUserID)
			must(err)
		}
		serve := func(c chat.Customer, wait, answer, close time.Duration, score int) {
			clk.Advance(wait)
			_, err := svc.Claim(ctx, op, c.LineUserID)
			must(err)
			clk.Advance(answer)
			_, err = svc.SendMessage(ctx, chat.SendRequest{Actor: op, LineUserID: c.LineUserID, Text: "hi"})
			must(err)
			clk.Advance(close)
			s, err := svc.Close(ctx, op, c.LineUserID)
			must(err)
			_, err = svc.RateSession(ctx, s.ID, c.LineUserID, score)
			must(err)
		}
		a, b, c := storetest.Customer(t, db), storetest.Customer(t, db), storetest.Customer(t, db)
		queue(a)
		serve(a, 10*time.Minute, time.Minute, 29*time.Minute, 5)
		clk.Advance(24*time.Hour - 40*time.Minute)
		queue(b)
		serve(b, 5*time.Minute, 2*time.Minute, 13*time.Minute, 3)
		clk.Advance(10 * time.Minute)
		queue(c)
		clk.Advance(10 * time.Minute)

		d, err := svc.Dashboard(ctx, 2)
		must(err)
		for name, want := range map[string]chat.Trend{
			"sessions_today":             {Current: 2, Previous: 1, Delta: 1, DeltaPercent: 100},
			"avg_first_response_seconds": {Current: 120, Previous: 60, Delta: 60, DeltaPercent: 100},
			"avg_resolution_seconds":     {Current: 1200, Previous: 2400, Delta: -1200, DeltaPercent: -50},
			"csat_percentage":            {Current: 60, Previous: 100, Delta: -40, DeltaPercent: -40},
			"fcr_rate":                   {Current: 100, Previous: 100},
			"abandonment_rate":           {},
		} {
			if got := d.Trends[name]; got != want {
				t.Errorf("trend %s: %+v, want %+v", name, got, want)
			}
		}
		if v := d.SessionVolume; len(v) != 2 || v[0] != (chat.DayCount{Day: "2026-11-24", Sessions: 1}) || v[1] != (chat.DayCount{Day: "2026-11-25", Sessions: 2}) {
			t.Errorf("volume %+v", v)
		}
		if f := d.Funnel; f.BotEntries != 3 || f.HumanHandoff != 2 || f.Resolved != 2 {
			t.Errorf("funnel %+v", f)
		}
		if p := d.Percentiles.FirstResponse; p != (chat.Percentiles{P50: 90, P90: 114, P99: 119.4}) {
			t.Errorf("first response percentiles %+v", p)
		}
		if p := d.Percentiles.Resolution; p != (chat.Percentiles{P50: 1800, P90: 2280, P99: 2388}) {
			t.Errorf("resolution percentiles %+v", p)
		}
		if p := d.PeakHours; len(p) != 2 || p[0] != (chat.PeakHour{DayOfWeek: 3, Hour: 9, MessageCount: 3}) || p[1] != (chat.PeakHour{DayOfWeek: 2, Hour: 9, MessageCount: 2}) {
			t.Errorf("peak hours %+v", p)
		}
		hours, err := svc.HourlyStats(ctx, 2)
		must(err)
		if h := hours[9]; h != (chat.HourCount{Hour: 9, Incoming: 3, Outgoing: 2, Total: 5}) || len(hours) != 24 {
			t.Errorf("hourly %+v", hours)
		}
	})
}

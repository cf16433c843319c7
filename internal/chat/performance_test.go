package chat_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/outbound"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// Operator performance over two business days in Bangkok, by hand (ICT):
//
//	Tue 24 09:00 A queued; alice claims 09:10, answers 09:11, closes 09:40
//	Wed 25 09:00 B queued; alice claims 09:05, answers 09:07, closes 09:20
//	Wed 25 09:20 C queued; bob claims 09:30, no answer; now is Wed 10:00
//	alice online: Mon 23 22:00–Tue 01:00 (one), Tue 08:00–12:00 (one),
//	Tue 11:00–13:00 (two), Wed 08:50–09:40 (one)
//
// days=2 starts Tue 00:00, 34 h = 122,400 s before now. alice: 2 sessions,
// first response (60 + 120) / 2 = 90, resolution (2400 + 1200) / 2 = 1800,
// queue wait (600 + 300) / 2 = 450; online 1 h (clipped at Tue 00:00) + 5 h
// (the overlap once) + 50 min = 24,600 s, 20.1 %. bob: 1 session, queue
// wait 600, no first response nor close (0). days=1 starts Wed 00:00 (10 h):
// alice 1 session (B), online 3,000 s, 8.3 %. carol is disabled and idle:
// listed only when asked for.
func TestOperatorPerformance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bkk, _ := time.LoadLocation("Asia/Bangkok")
		ict := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, bkk) }
		clk := clock.NewFake(ict(24, 9, 0))
		svc := chat.NewService(db, clk, outbound.NewRecorder(), slog.New(slog.DiscardHandler), bkk)
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		carol := storetest.Operator(t, db, "carol", chat.RoleAgent)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(db.SetOperatorActive(ctx, carol.ID, false))
		queue := func() chat.Customer {
			c := storetest.Customer(t, db)
			_, _, _, _, err := svc.RequestHuman(ctx, c.LineUserID)
			must(err)
			return c
		}
		until := func(at time.Time) { clk.Advance(at.Sub(clk.Now())) }
		claim := func(op chat.Operator, c chat.Customer, at time.Time) {
			until(at)
			_, err := svc.Claim(ctx, op, c.LineUserID)
			must(err)
		}
		answer := func(op chat.Operator, c chat.Customer, at time.Time) {
			until(at)
			_, err := svc.SendMessage(ctx, chat.SendRequest{Actor: op, LineUserID: c.LineUserID, Text: "hi"})
			must(err)
		}
		closeAt := func(op chat.Operator, c chat.Customer, at time.Time) {
			until(at)
			_, err := svc.Close(ctx, op, c.LineUserID)
			must(err)
		}
		a := queue()
		claim(alice, a, ict(24, 9, 10))
		answer(alice, a, ict(24, 9, 11))
		closeAt(alice, a, ict(24, 9, 40))
		until(ict(25, 9, 0))
		b := queue()
		claim(alice, b, ict(25, 9, 5))
		answer(alice, b, ict(25, 9, 7))
		closeAt(alice, b, ict(25, 9, 20))
		c := queue()
		claim(bob, c, ict(25, 9, 30))
		until(ict(25, 10, 0))
		must(db.SeenOnline(ctx, "one", []chat.Window{
			{OperatorID: alice.ID, From: ict(23, 22, 0), To: ict(24, 1, 0)},
			{OperatorID: alice.ID, From: ict(24, 8, 0), To: ict(24, 10, 0)},
			{OperatorID: alice.ID, From: ict(25, 8, 50), To: ict(25, 9, 40)},
		}))
		must(db.SeenOnline(ctx, "one", []chat.Window{{OperatorID: alice.ID, From: ict(24, 8, 0), To: ict(24, 12, 0)}})) // renewed
		must(db.SeenOnline(ctx, "one", []chat.Window{{OperatorID: alice.ID, From: ict(24, 8, 0), To: ict(24, 11, 0)}})) // late: never back
		must(db.SeenOnline(ctx, "two", []chat.Window{{OperatorID: alice.ID, From: ict(24, 11, 0), To: ict(24, 13, 0)}}))

		rows, err := svc.OperatorPerformance(ctx, 0, 2)
		must(err)
		want := []chat.OperatorPerformance{
			{OperatorID: alice.ID, Username: "alice", DisplayName: alice.DisplayName, TotalSessions: 2, AvgFirstResponse: 90,
				AvgResolution: 1800, AvgQueueWait: 450, AvailabilitySeconds: 24600, AvailabilityPercent: 20.1},
			{OperatorID: bob.ID, Username: "bob", DisplayName: bob.DisplayName, TotalSessions: 1, AvgQueueWait: 600},
		}
		if len(rows) != len(want) {
			t.Fatalf("days=2: %+v, want %+v", rows, want)
		}
		for i := range want {
			if rows[i] != want[i] {
				t.Errorf("days=2 row %d: %+v, want %+v", i, rows[i], want[i])
			}
		}
		rows, err = svc.OperatorPerformance(ctx, alice.ID, 1)
		must(err)
		if len(rows) != 1 || rows[0].TotalSessions != 1 || rows[0].AvgFirstResponse != 120 || rows[0].AvgResolution != 1200 ||
			rows[0].AvgQueueWait != 300 || rows[0].AvailabilitySeconds != 3000 || rows[0].AvailabilityPercent != 8.3 {
			t.Fatalf("alice, days=1: %+v", rows)
		}
		rows, err = svc.OperatorPerformance(ctx, carol.ID, 7)
		must(err)
		if len(rows) != 1 || rows[0] != (chat.OperatorPerformance{OperatorID: carol.ID, Username: "carol", DisplayName: carol.DisplayName}) {
			t.Fatalf("carol asked for: %+v", rows)
		}
		if _, err := svc.OperatorPerformance(ctx, carol.ID+100, 7); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("unknown operator: %v, want ErrNotFound", err)
		}
		// Windows that ended over 31 days ago go; the others stay.
		n, err := db.PurgeAvailability(ctx, ict(24, 11, 0))
		must(err)
		if n != 1 {
			t.Fatalf("purged %d windows ended before Tue 11:00, want 1 (Mon 22:00–Tue 01:00; 08:00's ends at 12:00)", n)
		}
	})
}

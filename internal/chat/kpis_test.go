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

// The live KPIs over a seeded day, on both databases, computed at 00:30
// in Bangkok (17:30 UTC): "today" starts at Bangkok's midnight, which a UTC
// day would put 17 hours earlier. Times below are UTC on 2026-11-24.
//
//	S5 customer D: 08:00 queued, 09:05 closed SYSTEM_TIMEOUT by the sweep
//	S1 customer A: 09:00 queued, 09:10 claimed, 09:11 answered, 09:40 closed, rated 5
//	S3 customer A: 12:00 queued again, still WAITING (so S1 is no first-contact resolution)
//	S2 customer B: 16:50 queued, 17:05 claimed, 17:07 answered, 17:20 closed, rated 3
//	S4 customer C: 17:10 queued, 17:12 claimed, unanswered, ACTIVE
//
// By hand: waiting 1, active 1; sessions today 1 (S4; a UTC day: 5);
// first response over the last hour's claims 120 s (S2); queue wait over
// them (900 + 120) / 2 = 510 s; resolution of today's closes 1800 s (S2;
// a UTC day: 2700, with S1 and S5); CSAT (5 + 3) / 2 = 4.00, 80.0 %; FCR 2 of 3 closes
// (S5 and S2; S1 was followed by S3) = 66.7 %; abandonment 1 of 1 + 3
// claimed = 25.0 %; HUMAN mode A and C; breaches 0, then 2 once the
// queue-wait SLA is checked (S3 waiting, S2 closed within the lookback).
func TestKPIsOverASeededDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bkk, err := time.LoadLocation("Asia/Bangkok")
		if err != nil {
			t.Fatal(err)
		}
		day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		clk := clock.NewFake(day.Add(8 * time.Hour))
		svc := chat.NewService(db, clk, outbound.NewRecorder(), slog.New(slog.DiscardHandler), bkk)
		at := func(hhmm string) {
			t.Helper()
			d, err := time.ParseDuration(hhmm[:2] + "h" + hhmm[3:] + "m")
			if err != nil {
				t.Fatal(err)
			}
			if d < clk.Now().Sub(day) {
				t.Fatalf("%s is in the past", hhmm)
			}
			clk.Advance(d - clk.Now().Sub(day))
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		a, b, c, d := storetest.Customer(t, db), storetest.Customer(t, db), storetest.Customer(t, db), storetest.Customer(t, db)
		queue := func(cust chat.Customer) chat.Session {
			t.Helper()
			s, _, _, _, err := svc.RequestHuman(ctx, cust.LineUserID)
			must(err)
			return s
		}
		answer := func(cust chat.Customer) {
			t.Helper()
			_, err := svc.SendMessage(ctx, chat.SendRequest{Actor: op, LineUserID: cust.LineUserID, Text: "hello"})
			must(err)
		}
		claim := func(cust chat.Customer) { t.Helper(); _, err := svc.Claim(ctx, op, cust.LineUserID); must(err) }
		closeAndRate := func(cust chat.Customer, score int) {
			t.Helper()
			s, err := svc.Close(ctx, op, cust.LineUserID)
			must(err)
			clk.Advance(time.Minute)
			_, err = svc.RateSession(ctx, s.ID, cust.LineUserID, score)
			must(err)
		}

		at("08:00")
		queue(d)
		at("09:00")
		queue(a)
		at("09:05")
		closed, err := svc.Sweep(ctx, chat.Timeouts{Waiting: time.Hour})
		if err != nil || len(closed) != 1 || closed[0].LineUserID != d.LineUserID {
			t.Fatalf("sweep: %+v, %v", closed, err)
		}
		at("09:10")
		claim(a)
		at("09:11")
		answer(a)
		at("09:40")
		closeAndRate(a, 5)
		at("12:00")
		queue(a)
		at("16:50")
		queue(b)
		at("17:05")
		claim(b)
		at("17:07")
		answer(b)
		at("17:10")
		queue(c)
		at("17:12")
		claim(c)
		at("17:20")
		closeAndRate(b, 3)
		at("17:30")

		want := chat.KPIs{
			Waiting: 1, Active: 1, OnlineOperators: 2, SessionsToday: 1, HumanModeUsers: 2,
			AvgFirstResponse: 120, AvgQueueWait: 510, AvgResolution: 1800,
			CSATAverage: 4, CSATPercentage: 80, FCRRate: 66.7, AbandonmentRate: 25,
			At: clk.Now().UTC(),
		}
		k, err := svc.KPIs(ctx, 2)
		must(err)
		if k != want {
			t.Fatalf("KPIs\n got %+v\nwant %+v", k, want)
		}
		if _, err := svc.CheckSLA(ctx, chat.SLA{QueueWait: 5 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		k, err = svc.KPIs(ctx, 2)
		must(err)
		if k.SLABreaches24h != 2 {
			t.Fatalf("breaches %d after the check, want 2 (S3 waiting, S2 closed)", k.SLABreaches24h)
		}
	})
}

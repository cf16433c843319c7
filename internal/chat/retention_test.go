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

// Retention erases the customers with nothing newer than it and no open
// session, everything of theirs; a customer still waiting, or who wrote
// lately, stays.
func TestRetentionErasesExpiredCustomers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := clock.NewFake(time.Now().Add(-60 * 24 * time.Hour))
		svc := chat.NewService(db, clk, outbound.NewRecorder(), slog.New(slog.DiscardHandler), time.UTC)
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		old, waiting, recent := storetest.Customer(t, db), storetest.Customer(t, db), storetest.Customer(t, db)
		for _, c := range []chat.Customer{old, waiting} {
			if _, err := svc.CustomerMessage(ctx, chat.Message{LineUserID: c.LineUserID, Content: "hello"}); err != nil {
				t.Fatal(err)
			}
			if _, _, _, _, err := svc.RequestHuman(ctx, c.LineUserID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.Claim(ctx, op, old.LineUserID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Close(ctx, op, old.LineUserID); err != nil {
			t.Fatal(err)
		}
		clk.Advance(59 * 24 * time.Hour)
		if _, err := svc.CustomerMessage(ctx, chat.Message{LineUserID: recent.LineUserID, Content: "hi"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Sweep(ctx, chat.Timeouts{Retention: 30 * 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Customer(ctx, old.LineUserID); err == nil {
			t.Fatal("the expired customer is still there")
		}
		for _, c := range []chat.Customer{waiting, recent} {
			if x, err := db.ExportCustomer(ctx, c.LineUserID); err != nil || len(x.Messages) != 1 {
				t.Fatalf("%s: %d messages, %v; want kept", c.LineUserID, len(x.Messages), err)
			}
		}
	})
}

package chat_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/outbound"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// closings records session_closed announcements.
type closings struct {
	chat.Notifier
	mu     sync.Mutex
	closed []chat.Session
}

func (c *closings) SessionClosed(_ context.Context, s chat.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = append(c.closed, s)
}

func (c *closings) SessionQueued(context.Context, chat.Session, chat.Customer, int, int) {}
func (c *closings) MessageUnsent(context.Context, chat.Message)                          {}
func (c *closings) ConversationTagged(context.Context, string, []chat.Tag)               {}
func (c *closings) SessionClaimed(context.Context, chat.Session)                         {}

func TestCloseByCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
		svc := chat.NewService(db, clk, outbound.NewRecorder(), slog.New(slog.DiscardHandler), time.UTC)
		n := &closings{}
		svc.SetNotifier(n)
		surveyed := 0
		svc.AfterClose = func(context.Context, chat.Session) { surveyed++ }
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)

		for _, claimed := range []bool{false, true} {
			c := storetest.Customer(t, db)
			if _, _, _, _, err := svc.RequestHuman(ctx, c.LineUserID); err != nil {
				t.Fatal(err)
			}
			if claimed {
				if _, err := svc.Claim(ctx, op, c.LineUserID); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(time.Minute)
			s, err := svc.CloseByCustomer(ctx, c.LineUserID, "unfollow")
			if err != nil || s == nil {
				t.Fatalf("claimed=%v: CloseByCustomer = %v, %v", claimed, s, err)
			}
			if s.Status != chat.StatusClosed || s.ClosedBy == nil || *s.ClosedBy != chat.ClosedByUser || s.ClosedByID != nil || !s.ClosedAt.Equal(clk.Now()) {
				t.Fatalf("claimed=%v: session = %+v", claimed, s)
			}
			if got, _ := db.Customer(ctx, c.LineUserID); got.ChatMode != chat.ModeBot {
				t.Fatalf("claimed=%v: chat mode %s, want BOT", claimed, got.ChatMode)
			}
			// Nothing open any more: a no-op.
			if s, err := svc.CloseByCustomer(ctx, c.LineUserID, "unfollow"); s != nil || err != nil {
				t.Fatalf("second close = %v, %v", s, err)
			}
		}
		if len(n.closed) != 2 {
			t.Fatalf("%d session_closed, want 2", len(n.closed))
		}
		if surveyed != 0 {
			t.Fatal("a customer's close ran the CSAT hook")
		}
		if s, err := svc.CloseByCustomer(ctx, storetest.LineUserID(), "unfollow"); s != nil || err != nil {
			t.Fatalf("unknown customer: %v, %v", s, err)
		}
	})
}

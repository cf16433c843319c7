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

// hangUp is a store whose caller gives up right after the claim commits,
// as a REST client that closes its connection would.
type hangUp struct {
	*store.DB
	cancel context.CancelFunc
}

func (h hangUp) ClaimSession(ctx context.Context, id, op int64, now time.Time) (chat.Session, error) {
	s, err := h.DB.ClaimSession(ctx, id, op, now)
	h.cancel()
	return s, err
}

// claims records whether each claim was announced with a live context.
type claims struct {
	chat.Notifier
	live []bool
}

func (c *claims) SessionQueued(context.Context, chat.Session, chat.Customer, int, int) {}
func (c *claims) MessageUnsent(context.Context, chat.Message)                          {}
func (c *claims) ConversationTagged(context.Context, string, []chat.Tag)               {}
func (c *claims) SessionClaimed(ctx context.Context, _ chat.Session) {
	c.live = append(c.live, ctx.Err() == nil)
}

func TestCommittedChangesAreAnnouncedAfterTheCallerLeaves(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := chat.NewService(hangUp{DB: db, cancel: cancel}, clock.NewFake(time.Unix(1_800_000_000, 0)), outbound.NewRecorder(), slog.New(slog.DiscardHandler), time.UTC)
	n := &claims{}
	svc.SetNotifier(n)
	op := storetest.Operator(t, db, "alice", chat.RoleAgent)
	cust := storetest.Customer(t, db)
	if _, _, _, _, err := svc.RequestHuman(context.Background(), cust.LineUserID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Claim(ctx, op, cust.LineUserID); err != nil {
		t.Fatal(err)
	}
	if len(n.live) != 1 || !n.live[0] {
		t.Fatalf("claim announced with a cancelled context: %v", n.live)
	}
}

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

// queued records session_queued announcements.
type queued struct {
	chat.Notifier
	mu       sync.Mutex
	sessions []chat.Session
}

func (q *queued) SessionQueued(_ context.Context, s chat.Session, _ chat.Customer, _, _ int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sessions = append(q.sessions, s)
}

// A backlog larger than a page of the repeat round gets every repeat due,
// not only the oldest page's.
func TestRealertReadsEveryPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer chat.SetRealertBatch(2)()
		ctx := context.Background()
		clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
		svc := chat.NewService(db, clk, outbound.NewRecorder(), slog.New(slog.DiscardHandler), time.UTC)
		for range 5 {
			if _, _, _, _, err := svc.RequestHuman(ctx, storetest.Customer(t, db).LineUserID); err != nil {
				t.Fatal(err)
			}
		}
		rec := &queued{}
		svc.SetNotifier(rec)
		clk.Advance(time.Minute)
		n, err := svc.RealertUnclaimed(ctx, time.Minute)
		if err != nil || n != 5 {
			t.Fatalf("repeats over pages of 2: %d, %v; want 5", n, err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		seen := map[int64]bool{}
		for _, s := range rec.sessions {
			seen[s.ID] = true
		}
		if len(rec.sessions) != 5 || len(seen) != 5 {
			t.Fatalf("announced %d repeats of %d sessions, want 5 of 5", len(rec.sessions), len(seen))
		}
	})
}

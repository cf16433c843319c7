package chat_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// countingEnqueuer is the outbox's side of the service: it counts.
type countingEnqueuer struct {
	mu sync.Mutex
	n  int
}

func (q *countingEnqueuer) Enqueue(context.Context, chat.Message, string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n++
	return nil
}

func (q *countingEnqueuer) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// A retry is acked with the original as it is now, failed or not, and
// nothing is stored, announced or delivered again; SameText (REST's
// Idempotency-Key) refuses another text.
func TestSendRetryAnswersTheOriginal(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newRaceEnv(t, db)
		c, _ := e.active(t, e.alice)
		send := func(text, tempID string, sameText bool) (chat.Message, []chat.Message, error) {
			var a acks
			m, err := e.svc.SendMessage(ctx, chat.SendRequest{Actor: e.alice, LineUserID: c.LineUserID, Text: text, TempID: tempID, Ack: a.ack, SameText: sameText})
			return m, a.all(), err
		}

		// Its delivery failed: the retry says so, and LINE is not asked again.
		e.out.FailNext(&chat.DeliveryError{Reason: "LINE is down", Retryable: true})
		first, _, err := send("hello", "t-1", false)
		if err != nil || first.DeliveryStatus != chat.DeliveryFailed {
			t.Fatalf("first send: %+v %v", first, err)
		}
		for _, text := range []string{"hello", "  hello  ", "another text"} {
			again, acked, err := send(text, "t-1", false)
			if err != nil || len(acked) != 1 || acked[0].ID != first.ID || again.ID != first.ID || again.Seq != first.Seq ||
				!again.CreatedAt.Equal(first.CreatedAt) || again.DeliveryStatus != chat.DeliveryFailed || again.Content != "hello" {
				t.Fatalf("retry with %q: %+v acked %+v %v; first %+v", text, again, acked, err, first)
			}
		}
		if stored, _ := e.notes.counts(); stored != 1 {
			t.Fatalf("%d announcements, want 1", stored)
		}
		if n := len(e.out.Delivered()); n != 0 {
			t.Fatalf("%d deliveries, want none (the first failed)", n)
		}

		// A strict key: the same text (as cleaned) replays, another is refused.
		key, _, err := send("hi there", "key-1", true)
		if err != nil {
			t.Fatal(err)
		}
		if again, _, err := send(" hi there\n", "key-1", true); err != nil || again.ID != key.ID {
			t.Fatalf("same text under a strict key: %+v %v", again, err)
		}
		_, acked, err := send("hi where", "key-1", true)
		if !errors.Is(err, chat.ErrIdempotencyKeyReused) || len(acked) != 0 {
			t.Fatalf("another text under a strict key: %v, acked %+v", err, acked)
		}
		if n := e.count(t, c.LineUserID, "key-1"); n != 1 {
			t.Fatalf("%d rows under key-1", n)
		}

		// With the outbox: a retry enqueues nothing.
		q := &countingEnqueuer{}
		e.svc.SetEnqueuer(q)
		pending, _, err := send("queued", "t-2", false)
		if err != nil || pending.DeliveryStatus != chat.DeliveryPending || q.count() != 1 {
			t.Fatalf("queued send: %+v %v, %d enqueued", pending, err, q.count())
		}
		if again, _, err := send("queued", "t-2", false); err != nil || again.ID != pending.ID || q.count() != 1 {
			t.Fatalf("queued retry: %+v %v, %d enqueued", again, err, q.count())
		}

		// After the session closed, a retry still gets its original.
		if _, err := e.svc.Close(ctx, e.alice, c.LineUserID); err != nil {
			t.Fatal(err)
		}
		if again, _, err := send("queued", "t-2", false); err != nil || again.ID != pending.ID {
			t.Fatalf("retry after close: %+v %v", again, err)
		}
		if _, _, err := send("queued", "t-3", false); !errors.Is(err, chat.ErrSessionNotFound) {
			t.Fatalf("new send after close: %v", err)
		}
	})
}

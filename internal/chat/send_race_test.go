package chat_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// acks records what a send's Ack callback got.
type acks struct {
	mu  sync.Mutex
	got []chat.Message
}

func (a *acks) ack(m chat.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, m)
}

func (a *acks) all() []chat.Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]chat.Message(nil), a.got...)
}

func (e *raceEnv) count(t *testing.T, lineUserID, tempID string) int {
	t.Helper()
	var n int
	if err := e.db.Bun().NewRaw("SELECT count(*) FROM messages WHERE line_user_id = ? AND temp_id = ?", lineUserID, tempID).
		Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Two sends (here: several, several times) of one temp_id by one operator
// in one conversation, at the same time: one row, one announcement, one
// delivery, and every sender acked with that message.
func TestConcurrentSendsOfOneTempID(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newRaceEnv(t, db)
		c, _ := e.active(t, e.alice)
		const rounds, senders = 10, 4
		for round := range rounds {
			tempID := fmt.Sprintf("tmp-%d", round)
			var (
				a     acks
				start = make(chan struct{})
				wg    sync.WaitGroup
				errs  = make([]error, senders)
				got   = make([]chat.Message, senders)
			)
			for i := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					got[i], errs[i] = e.svc.SendMessage(context.Background(), chat.SendRequest{
						Actor: e.alice, LineUserID: c.LineUserID, Text: "hello", TempID: tempID, Ack: a.ack,
					})
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d, sender %d: %v", round, i, err)
				}
			}
			if n := e.count(t, c.LineUserID, tempID); n != 1 {
				t.Fatalf("round %d: %d messages stored with temp_id %s, want 1", round, n, tempID)
			}
			sent := a.all()
			if len(sent) != senders {
				t.Fatalf("round %d: %d acks, want %d", round, len(sent), senders)
			}
			for i := range senders {
				if s, m := sent[i], got[i]; s.ID != sent[0].ID || s.Seq != sent[0].Seq || !s.CreatedAt.Equal(sent[0].CreatedAt) ||
					s.TempID != tempID || m.ID != sent[0].ID {
					t.Fatalf("round %d: acks %+v, answers %+v: not one message", round, sent, got)
				}
			}
		}
		if stored, _ := e.notes.counts(); stored != rounds {
			t.Fatalf("%d new_message announcements, want %d", stored, rounds)
		}
		if n := len(e.out.Delivered()); n != rounds {
			t.Fatalf("%d deliveries, want %d", n, rounds)
		}
	})
}

package store_test

import (
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// The unclaimed sessions are the WAITING ones started by the cutoff,
// oldest first; the n-th repeat is marked once, never twice nor after the
// claim, and a later n wins over an earlier one.
func TestQueueAlerts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		open := func(start time.Duration) chat.Session {
			s, _, err := db.EnsureWaitingSession(ctx, storetest.Customer(t, db).LineUserID, at(start))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		old, newer, fresh := open(0), open(time.Minute), open(5*time.Minute)
		claimed := open(30 * time.Second)
		mustClaim(t, db, claimed.ID, alice.ID, at(2*time.Minute))

		got, err := db.UnclaimedSessions(ctx, at(time.Minute), nil, 10)
		if err != nil || len(got) != 2 || got[0].ID != old.ID || got[1].ID != newer.ID {
			t.Fatalf("unclaimed by 1 min: %+v, %v; want %d then %d (not %d, claimed, nor %d, later)", got, err, old.ID, newer.ID, claimed.ID, fresh.ID)
		}
		if page, err := db.UnclaimedSessions(ctx, at(time.Minute), &got[0], 10); err != nil || len(page) != 1 || page[0].ID != newer.ID {
			t.Fatalf("unclaimed after %d: %+v, %v; want %d", old.ID, page, err, newer.ID)
		}
		mark := func(s chat.Session, n int, want bool) {
			t.Helper()
			if won, err := db.MarkQueueAlert(ctx, s.ID, n); err != nil || won != want {
				t.Fatalf("mark session %d repeat %d: %v, %v; want %v", s.ID, n, won, err, want)
			}
		}
		mark(old, 1, true)
		mark(old, 1, false) // the other instance
		mark(old, 3, true)  // repeats missed meanwhile: the latest
		mark(old, 2, false)
		mark(claimed, 1, false)
		if s, err := db.Session(ctx, old.ID); err != nil || s.QueueAlerts != 3 {
			t.Fatalf("old after its repeats: %+v, %v", s, err)
		}
	})
}

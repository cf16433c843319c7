package store_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// closedSession makes a customer with a session an operator claimed and closed.
func closedSession(t *testing.T, db *store.DB) (chat.Customer, chat.Session) {
	t.Helper()
	c := storetest.Customer(t, db)
	op := storetest.Operator(t, db, "op-"+c.LineUserID[1:9], chat.RoleAgent)
	s := mustEnsure(t, db, c.LineUserID, at(0))
	mustClaim(t, db, s.ID, op.ID, at(time.Minute))
	closed, err := db.CloseSession(t.Context(), s.ID, chat.StatusActive, nil, chat.ClosedByOperator, &op.ID, at(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return c, closed
}

func csatScoreColumn(t *testing.T, db *store.DB, sessionID int64) *int {
	t.Helper()
	var score *int
	if err := db.Bun().NewRaw("SELECT csat_score FROM chat_sessions WHERE id = ?", sessionID).Scan(t.Context(), &score); err != nil {
		t.Fatal(err)
	}
	return score
}

func countCSAT(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Bun().NewRaw("SELECT count(*) FROM csat_responses").Scan(t.Context(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecordCSATOncePerSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c, s := closedSession(t, db)
		r, err := db.RecordCSAT(t.Context(), s.ID, c.LineUserID, 4, at(3*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if r.SessionID != s.ID || r.LineUserID != c.LineUserID || r.Score != 4 || r.ID == 0 {
			t.Errorf("response = %+v", r)
		}
		eqTime(t, "created_at", r.CreatedAt, at(3*time.Minute))
		// The second postback changes nothing.
		_, err = db.RecordCSAT(t.Context(), s.ID, c.LineUserID, 1, at(4*time.Minute))
		wantErr(t, "second postback", err, chat.ErrConflict)
		if got, err := db.CSAT(t.Context(), s.ID); err != nil || got.Score != 4 {
			t.Fatalf("CSAT = %+v, %v; want score 4", got, err)
		}
		if n := countCSAT(t, db); n != 1 {
			t.Fatalf("%d csat rows, want 1", n)
		}
		if got := csatScoreColumn(t, db, s.ID); got == nil || *got != 4 {
			t.Fatalf("chat_sessions.csat_score = %v, want 4", got)
		}
	})
}

func TestRecordCSATConcurrentPostbacks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c, s := closedSession(t, db)
		var ok, conflict atomic.Int32
		parallel(10, func(i int) {
			_, err := db.RecordCSAT(t.Context(), s.ID, c.LineUserID, 1+i%5, at(3*time.Minute))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, chat.ErrConflict):
				conflict.Add(1)
			default:
				t.Error(err)
			}
		})
		if ok.Load() != 1 || conflict.Load() != 9 {
			t.Fatalf("%d recorded, %d conflicts; want 1 and 9", ok.Load(), conflict.Load())
		}
		r, err := db.CSAT(t.Context(), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := csatScoreColumn(t, db, s.ID); got == nil || *got != r.Score {
			t.Fatalf("csat_score = %v, want %d", got, r.Score)
		}
	})
}

func TestRecordCSATRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c, s := closedSession(t, db)
		other := storetest.Customer(t, db)
		_, err := db.RecordCSAT(t.Context(), s.ID, other.LineUserID, 5, at(0))
		wantErr(t, "someone else's session", err, chat.ErrNotFound)
		_, err = db.RecordCSAT(t.Context(), s.ID+1000, c.LineUserID, 5, at(0))
		wantErr(t, "unknown session", err, chat.ErrNotFound)
		for _, score := range []int{0, 6, -1} {
			_, err = db.RecordCSAT(t.Context(), s.ID, c.LineUserID, score, at(0))
			wantErr(t, "bad score", err, chat.ErrInvalid)
		}
		open := mustEnsure(t, db, other.LineUserID, at(0))
		_, err = db.RecordCSAT(t.Context(), open.ID, other.LineUserID, 5, at(0))
		wantErr(t, "open session", err, chat.ErrSessionState)
		if n := countCSAT(t, db); n != 0 {
			t.Fatalf("%d csat rows after refusals, want 0", n)
		}
		if got := csatScoreColumn(t, db, s.ID); got != nil {
			t.Fatalf("csat_score = %d after refusals", *got)
		}
		_, err = db.CSAT(t.Context(), s.ID)
		wantErr(t, "CSAT of unrated session", err, chat.ErrNotFound)
	})
}

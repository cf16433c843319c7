package store_test

import (
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestReadMarkers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		c := storetest.Customer(t, db)
		// seq 1..6: in, in, out, in, out, in
		for i, in := range []bool{true, true, false, true, false, true} {
			m := incoming(c.LineUserID, "q")
			if !in {
				m = outgoing(c.LineUserID, "a", &alice)
			}
			mustAppend(t, db, m, at(time.Duration(i)*time.Second))
		}

		steps := []struct {
			name      string
			markAlice int64 // < 0: no call
			wantAlice int
			wantBob   int
			wantErr   error
		}{
			{"no marker: every incoming message", -1, 4, 4, nil},
			{"read to 2", 2, 2, 4, nil},
			{"outgoing messages never count", 3, 2, 4, nil},
			{"backwards is ignored", 1, 2, 4, nil},
			{"same seq again", 3, 2, 4, nil},
			{"read all", 6, 0, 4, nil},
			{"zero does not reset", 0, 0, 4, nil},
			{"negative is invalid", -5, 0, 4, chat.ErrInvalid},
		}
		for _, st := range steps {
			if st.markAlice != -1 {
				wantErr(t, st.name, db.MarkRead(ctx, alice.ID, c.LineUserID, st.markAlice), st.wantErr)
			}
			a, err1 := db.Unread(ctx, alice.ID, c.LineUserID)
			b, err2 := db.Unread(ctx, bob.ID, c.LineUserID)
			if err1 != nil || err2 != nil || a != st.wantAlice || b != st.wantBob {
				t.Errorf("%s: unread alice %d (%v), bob %d (%v); want %d, %d", st.name, a, err1, b, err2, st.wantAlice, st.wantBob)
			}
		}

		mustAppend(t, db, incoming(c.LineUserID, "new"), at(time.Minute))
		if n, _ := db.Unread(ctx, alice.ID, c.LineUserID); n != 1 {
			t.Errorf("unread after a new message = %d, want 1", n)
		}

		wantErr(t, "MarkRead(unknown customer)", db.MarkRead(ctx, alice.ID, storetest.LineUserID(), 1), chat.ErrNotFound)
		wantErr(t, "MarkRead(unknown operator)", db.MarkRead(ctx, 1<<40, c.LineUserID, 1), chat.ErrNotFound)
		if n, err := db.Unread(ctx, alice.ID, storetest.LineUserID()); err != nil || n != 0 {
			t.Errorf("Unread(unknown customer) = %d, %v", n, err)
		}
	})
}

func TestMarkReadConcurrentNeverMovesBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		c := storetest.Customer(t, db)
		for i := range 30 {
			mustAppend(t, db, incoming(c.LineUserID, "q"), at(time.Duration(i)*time.Second))
		}
		errs := make([]error, 30)
		parallel(30, func(i int) { errs[i] = db.MarkRead(t.Context(), op.ID, c.LineUserID, int64(i+1)) })
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n, err := db.Unread(t.Context(), op.ID, c.LineUserID); err != nil || n != 0 {
			t.Errorf("Unread after racing markers = %d, %v; want 0 (marker at the max)", n, err)
		}
	})
}

// The many-operator variants agree with the single ones, in one statement each.
func TestReadMarkersOfSeveralOperators(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		carol := storetest.Operator(t, db, "carol", chat.RoleAgent)
		c := storetest.Customer(t, db)
		for i := range 4 {
			mustAppend(t, db, incoming(c.LineUserID, "q"), at(time.Duration(i)*time.Second))
		}
		if err := db.MarkRead(ctx, carol.ID, c.LineUserID, 4); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkReadBy(ctx, nil, c.LineUserID, 3); err != nil {
			t.Fatal(err)
		}
		// alice reads to 3; carol's marker does not move back.
		if err := db.MarkReadBy(ctx, []int64{alice.ID, carol.ID}, c.LineUserID, 3); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "negative seq", db.MarkReadBy(ctx, []int64{alice.ID}, c.LineUserID, -1), chat.ErrInvalid)
		got, err := db.UnreadBy(ctx, []int64{alice.ID, bob.ID, carol.ID}, c.LineUserID)
		if err != nil || len(got) != 3 || got[alice.ID] != 1 || got[bob.ID] != 4 || got[carol.ID] != 0 {
			t.Fatalf("unread = %v, %v; want alice 1, bob 4, carol 0", got, err)
		}
		for _, op := range []chat.Operator{alice, bob, carol} {
			if one, _ := db.Unread(ctx, op.ID, c.LineUserID); one != got[op.ID] {
				t.Errorf("%s: Unread %d, UnreadBy %d", op.Username, one, got[op.ID])
			}
		}
		if empty, err := db.UnreadBy(ctx, nil, c.LineUserID); err != nil || len(empty) != 0 {
			t.Fatalf("no operators: %v, %v", empty, err)
		}
	})
}

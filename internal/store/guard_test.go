package store_test

import (
	"reflect"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// A guarded append re-checks the session inside its transaction: refused
// appends store nothing, use no seq and leave the session's counters alone.
func TestAppendMessageGuard(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		c := storetest.Customer(t, db)
		var seq int64 // the customer's last_seq as it must be
		guarded := func(what string, op chat.Operator, g chat.AppendGuard, want error) {
			t.Helper()
			var before chat.Session
			if g.SessionID != 0 {
				before, _ = db.Session(ctx, g.SessionID)
			}
			m := outgoing(c.LineUserID, what, &op)
			err := db.AppendMessage(ctx, m, &g, at(time.Duration(seq+1)*time.Second))
			wantErr(t, what, err, want)
			if want == nil {
				seq++
				if m.Seq != seq || m.SessionID == nil || (g.SessionID != 0 && *m.SessionID != g.SessionID) {
					t.Fatalf("%s: stored %+v, want seq %d in session %d", what, m, seq, g.SessionID)
				}
			} else if m.ID != 0 || m.Seq != 0 {
				t.Fatalf("%s: refused, yet the message got id %d seq %d", what, m.ID, m.Seq)
			}
			if cust, _ := db.Customer(ctx, c.LineUserID); cust.LastSeq != seq {
				t.Fatalf("%s: last_seq %d, want %d (a refused append must not use a seq)", what, cust.LastSeq, seq)
			}
			if g.SessionID != 0 && want != nil {
				if after, _ := db.Session(ctx, g.SessionID); !reflect.DeepEqual(after, before) {
					t.Fatalf("%s: refused, yet the session changed: %+v, was %+v", what, after, before)
				}
			}
		}
		owner := func(op chat.Operator) *int64 { return &op.ID }

		// No open session, then a WAITING one: nothing to reply in.
		guarded("no session", alice, chat.AppendGuard{}, chat.ErrConflict)
		s := mustEnsure(t, db, c.LineUserID, at(0))
		guarded("waiting, any owner", alice, chat.AppendGuard{SessionID: s.ID}, chat.ErrConflict)
		guarded("waiting, as alice's", alice, chat.AppendGuard{SessionID: s.ID, Owner: owner(alice)}, chat.ErrConflict)

		// Claimed by alice: hers, not bob's.
		mustClaim(t, db, s.ID, alice.ID, at(time.Second))
		guarded("alice in her session", alice, chat.AppendGuard{SessionID: s.ID, Owner: owner(alice)}, nil)
		guarded("bob in alice's session", bob, chat.AppendGuard{SessionID: s.ID, Owner: owner(bob)}, chat.ErrConflict)
		guarded("another session id", alice, chat.AppendGuard{SessionID: s.ID + 1000, Owner: owner(alice)}, chat.ErrConflict)

		// Transferred to bob between alice's check and her write.
		if _, err := db.TransferSession(ctx, s.ID, alice.ID, bob.ID, nil, at(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		guarded("alice after the transfer", alice, chat.AppendGuard{SessionID: s.ID, Owner: owner(alice)}, chat.ErrConflict)
		guarded("bob after the transfer", bob, chat.AppendGuard{SessionID: s.ID, Owner: owner(bob)}, nil)
		guarded("a supervisor (any owner)", alice, chat.AppendGuard{SessionID: s.ID}, nil)

		// Closed: nobody's message goes in, not even with any owner.
		if _, err := db.CloseSession(ctx, s.ID, chat.StatusActive, nil, chat.ClosedByOperator, &bob.ID, at(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		guarded("bob after the close", bob, chat.AppendGuard{SessionID: s.ID, Owner: owner(bob)}, chat.ErrConflict)
		guarded("any owner after the close", bob, chat.AppendGuard{SessionID: s.ID}, chat.ErrConflict)
		guarded("any session after the close", bob, chat.AppendGuard{}, chat.ErrConflict)

		// A new session, claimed by bob: a guard for the old one still refuses.
		next := mustClaim(t, db, mustEnsure(t, db, c.LineUserID, at(4*time.Second)).ID, bob.ID, at(5*time.Second))
		guarded("the old session's guard", bob, chat.AppendGuard{SessionID: s.ID, Owner: owner(bob)}, chat.ErrConflict)
		guarded("bob in the new session", bob, chat.AppendGuard{SessionID: next.ID, Owner: owner(bob)}, nil)
		guarded("any session of bob's", bob, chat.AppendGuard{Owner: owner(bob)}, nil)

		// Unguarded appends (customer messages) are unaffected, and seqs
		// stayed gap-free through the refusals.
		m := mustAppend(t, db, incoming(c.LineUserID, "thanks"), at(time.Minute))
		seq++
		if m.Seq != seq || m.SessionID == nil || *m.SessionID != next.ID {
			t.Fatalf("customer message = %+v, want seq %d in session %d", m, seq, next.ID)
		}
		all, _, err := db.RecentMessages(ctx, c.LineUserID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range all {
			if m.Seq != int64(i+1) {
				t.Fatalf("seqs not 1..%d: %d at %d", seq, m.Seq, i)
			}
		}
		if int64(len(all)) != seq {
			t.Fatalf("%d messages stored, want %d", len(all), seq)
		}
		// Only the accepted ADMIN messages counted as activity.
		if got, _ := db.Session(ctx, s.ID); got.MessageCount != 3 {
			t.Errorf("first session's message_count = %d, want 3", got.MessageCount)
		}
	})
}

// A transfer that has updated the session but not yet committed when a
// guarded append reads the session: the append waits for it (Postgres: the
// FOR UPDATE read; SQLite: the write lock) and then sees the new owner.
func TestAppendMessageGuardWaitsForTransfer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		c := storetest.Customer(t, db)
		s := mustClaim(t, db, mustEnsure(t, db, c.LineUserID, at(0)).ID, alice.ID, at(time.Second))

		// The transfer's statement, in a transaction held open.
		tx, err := db.Bun().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var pid int64
		if db.Dialect() == store.Postgres {
			if err := tx.NewRaw("SELECT pg_backend_pid()").Scan(ctx, &pid); err != nil {
				t.Fatal(err)
			}
		}
		res, err := tx.NewRaw(`UPDATE chat_sessions SET operator_id = ?, transfer_count = transfer_count + 1
			WHERE id = ? AND status = 'ACTIVE' AND operator_id = ?`, bob.ID, s.ID, alice.ID).Exec(ctx)
		if n, _ := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("transfer in tx: %d rows, %v", n, err)
		}

		done := make(chan error, 1)
		go func() {
			done <- db.AppendMessage(ctx, outgoing(c.LineUserID, "alice, racing", &alice),
				&chat.AppendGuard{SessionID: s.ID, Owner: &alice.ID}, at(2*time.Second))
		}()
		if db.Dialect() == store.Postgres {
			// Commit only once the append is blocked behind the transfer.
			deadline := time.Now().Add(10 * time.Second)
			for {
				var waiting int
				if err := db.Bun().NewRaw("SELECT count(*) FROM pg_stat_activity WHERE ? = ANY(pg_blocking_pids(pid))", pid).Scan(ctx, &waiting); err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("the append finished (%v) while the transfer was uncommitted", err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatal("the append never waited for the transfer")
				}
				time.Sleep(5 * time.Millisecond) // polls Postgres's lock table: there is no event to wait on
			}
		}
		// SQLite: the open write transaction keeps the append from starting at
		// all (immediate transactions), so it runs after the commit whenever it
		// gets there; the outcome asserted below is the same.
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "alice's append after the transfer committed", <-done, chat.ErrConflict)
		if cust, _ := db.Customer(ctx, c.LineUserID); cust.LastSeq != 0 {
			t.Fatalf("last_seq %d, want 0", cust.LastSeq)
		}
		if got, _ := db.Session(ctx, s.ID); got.MessageCount != 0 || *got.OperatorID != bob.ID {
			t.Fatalf("session after the refused append: %+v", got)
		}
	})
}

// CloseSession with an owner closes only a session that operator still owns.
func TestCloseSessionOwner(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		c := storetest.Customer(t, db)
		s := mustClaim(t, db, mustEnsure(t, db, c.LineUserID, at(0)).ID, alice.ID, at(time.Second))

		// Alice read the session as hers, then it was transferred to bob.
		moved, err := db.TransferSession(ctx, s.ID, alice.ID, bob.ID, nil, at(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.CloseSession(ctx, s.ID, chat.StatusActive, &alice.ID, chat.ClosedByOperator, &alice.ID, at(3*time.Second))
		wantErr(t, "alice closes bob's session", err, chat.ErrConflict)
		if got, _ := db.Session(ctx, s.ID); !reflect.DeepEqual(got, moved) {
			t.Fatalf("after the refused close: %+v, want unchanged %+v", got, moved)
		}
		if cust, _ := db.Customer(ctx, c.LineUserID); cust.ChatMode != chat.ModeHuman {
			t.Fatalf("a refused close handed the customer to the bot: %s", cust.ChatMode)
		}
		// A WAITING session has no owner: an owner never matches it.
		w := mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(0))
		_, err = db.CloseSession(ctx, w.ID, chat.StatusWaiting, &alice.ID, chat.ClosedByOperator, &alice.ID, at(3*time.Second))
		wantErr(t, "close an unowned WAITING session as alice's", err, chat.ErrConflict)
		_, err = db.CloseSession(ctx, 1<<40, chat.StatusActive, &alice.ID, chat.ClosedByOperator, &alice.ID, at(3*time.Second))
		wantErr(t, "close a missing session", err, chat.ErrNotFound)

		// The owner may; so may anyone with no owner given.
		closed, err := db.CloseSession(ctx, s.ID, chat.StatusActive, &bob.ID, chat.ClosedByOperator, &bob.ID, at(4*time.Second))
		if err != nil || closed.Status != chat.StatusClosed || *closed.ClosedByID != bob.ID {
			t.Fatalf("bob closes his session: %+v, %v", closed, err)
		}
		if _, err := db.CloseSession(ctx, w.ID, chat.StatusWaiting, nil, chat.ClosedByOperator, &alice.ID, at(5*time.Second)); err != nil {
			t.Fatalf("close WAITING with any owner: %v", err)
		}
	})
}

func TestRevokeOperatorRefreshTokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		revokedAt := at(time.Minute)
		for _, tok := range []chat.RefreshToken{
			{OperatorID: alice.ID, TokenHash: "a-live-1", ExpiresAt: at(24 * time.Hour)},
			{OperatorID: alice.ID, TokenHash: "a-live-2", ExpiresAt: at(24 * time.Hour)},
			{OperatorID: alice.ID, TokenHash: "a-expired", ExpiresAt: at(-time.Hour)},
			{OperatorID: alice.ID, TokenHash: "a-revoked", ExpiresAt: at(24 * time.Hour), RevokedAt: &revokedAt},
			{OperatorID: bob.ID, TokenHash: "b-live", ExpiresAt: at(24 * time.Hour)},
		} {
			if err := db.CreateRefreshToken(ctx, &tok); err != nil {
				t.Fatal(err)
			}
		}

		n, err := db.RevokeOperatorRefreshTokens(ctx, alice.ID, at(time.Hour))
		if err != nil || n != 3 {
			t.Fatalf("RevokeOperatorRefreshTokens = %d, %v; want 3", n, err)
		}
		for _, h := range []string{"a-live-1", "a-live-2", "a-expired"} {
			got, _ := db.RefreshTokenByHash(ctx, h)
			eqTimePtr(t, h+" RevokedAt", got.RevokedAt, at(time.Hour))
		}
		got, _ := db.RefreshTokenByHash(ctx, "a-revoked")
		eqTimePtr(t, "earlier revocation kept", got.RevokedAt, revokedAt)
		if got, _ := db.RefreshTokenByHash(ctx, "b-live"); got.RevokedAt != nil {
			t.Errorf("another operator's token was revoked: %+v", got)
		}
		// Revoked stays revoked; once-only revocation sees them as spent.
		wantErr(t, "revoke a mass-revoked token", db.RevokeRefreshToken(ctx, "a-live-1", at(2*time.Hour)), chat.ErrNotFound)

		if n, err := db.RevokeOperatorRefreshTokens(ctx, alice.ID, at(2*time.Hour)); err != nil || n != 0 {
			t.Errorf("second RevokeOperatorRefreshTokens = %d, %v; want 0", n, err)
		}
		if got, _ := db.RefreshTokenByHash(ctx, "a-live-2"); !got.RevokedAt.Equal(stored(at(time.Hour))) {
			t.Errorf("a second revocation moved revoked_at to %v", got.RevokedAt)
		}
		if n, err := db.RevokeOperatorRefreshTokens(ctx, 1<<40, at(time.Hour)); err != nil || n != 0 {
			t.Errorf("unknown operator: %d, %v; want 0, nil", n, err)
		}
	})
}

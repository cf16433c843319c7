package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// keyedSend is alice's message with a temp_id, guarded as the service
// guards an agent's.
func keyedSend(t *testing.T, db *store.DB, c chat.Customer, op *chat.Operator, tempID, text string, now time.Time) (chat.Message, error) {
	t.Helper()
	m := outgoing(c.LineUserID, text, op)
	m.TempID = tempID
	err := db.AppendMessage(t.Context(), m, &chat.AppendGuard{Owner: &op.ID}, now)
	return *m, err
}

// original is the message a refused duplicate carries; it fails unless err
// is one.
func original(t *testing.T, err error) chat.Message {
	t.Helper()
	var dup *chat.DuplicateSendError
	if !errors.As(err, &dup) || !errors.Is(err, chat.ErrDuplicateSend) || !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("error %v, want a *chat.DuplicateSendError", err)
	}
	return dup.Original
}

func lastSeq(t *testing.T, db *store.DB, lineUserID string) int64 {
	t.Helper()
	c, err := db.Customer(t.Context(), lineUserID)
	if err != nil {
		t.Fatal(err)
	}
	return c.LastSeq
}

func countMessages(t *testing.T, db *store.DB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Bun().NewRaw("SELECT count(*) FROM messages WHERE "+where, args...).Scan(t.Context(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A temp_id names one message per operator and conversation: appending it
// again stores nothing, uses no seq, and answers the stored message as it
// is now, also after its delivery failed and after the session closed.
func TestAppendRepeatedTempID(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		c := storetest.Customer(t, db)
		s := mustEnsure(t, db, c.LineUserID, at(0))
		mustClaim(t, db, s.ID, alice.ID, at(time.Second))

		first, err := keyedSend(t, db, c, &alice, "t-1", "hello", at(2*time.Second))
		wantErr(t, "first send", err, nil)
		again, err := keyedSend(t, db, c, &alice, "t-1", "hello", at(3*time.Second))
		orig := original(t, err)
		if again.ID != 0 || orig.ID != first.ID || orig.Seq != first.Seq || !orig.CreatedAt.Equal(first.CreatedAt) ||
			orig.TempID != "t-1" || orig.Content != "hello" || orig.OperatorID == nil || *orig.OperatorID != alice.ID {
			t.Fatalf("original %+v, first %+v", orig, first)
		}
		eqTime(t, "original created_at", orig.CreatedAt, at(2*time.Second))
		if got := lastSeq(t, db, c.LineUserID); got != first.Seq {
			t.Fatalf("last_seq %d after a refused duplicate, want %d", got, first.Seq)
		}
		sess, err := db.Session(ctx, s.ID)
		if err != nil || sess.MessageCount != 1 {
			t.Fatalf("session %+v %v: a duplicate counted as activity", sess, err)
		}

		// Whatever its delivery state: the original as it is now.
		if err := db.SetDelivery(ctx, first.ID, chat.DeliveryFailed, "LINE said no"); err != nil {
			t.Fatal(err)
		}
		_, err = keyedSend(t, db, c, &alice, "t-1", "hello", at(4*time.Second))
		if orig := original(t, err); orig.DeliveryStatus != chat.DeliveryFailed || orig.DeliveryError != "LINE said no" {
			t.Fatalf("original after failure %+v", orig)
		}

		// Independent: another temp_id, no temp_id (twice), another
		// operator's (bob, who does not own the session: the guard decides),
		// another conversation.
		if _, err := keyedSend(t, db, c, &alice, "t-2", "hello", at(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := keyedSend(t, db, c, &alice, "", "no temp_id", at(5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		_, err = keyedSend(t, db, c, &bob, "t-1", "hello", at(5*time.Second))
		wantErr(t, "bob's t-1", err, chat.ErrForbidden)
		sup := storetest.Operator(t, db, "sup", chat.RoleSupervisor)
		m := outgoing(c.LineUserID, "sup here", &sup)
		m.TempID = "t-1"
		wantErr(t, "supervisor's t-1", db.AppendMessage(ctx, m, &chat.AppendGuard{}, at(5*time.Second)), nil)
		other := storetest.Customer(t, db)
		os2 := mustEnsure(t, db, other.LineUserID, at(0))
		mustClaim(t, db, os2.ID, alice.ID, at(time.Second))
		if _, err := keyedSend(t, db, other, &alice, "t-1", "hello", at(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := countMessages(t, db, "line_user_id = ? AND temp_id = ?", c.LineUserID, "t-1"); n != 2 {
			t.Fatalf("%d messages with t-1 in the conversation, want alice's and sup's", n)
		}
		if got := lastSeq(t, db, c.LineUserID); got != first.Seq+4 {
			t.Fatalf("last_seq %d, want %d", got, first.Seq+4)
		}

		// Checked before the guard: a retry after the session closed gets
		// the original, not "no open session"; a new temp_id is refused.
		if _, err := db.CloseSession(ctx, s.ID, chat.StatusActive, nil, chat.ClosedBySystem, nil, at(6*time.Second)); err != nil {
			t.Fatal(err)
		}
		_, err = keyedSend(t, db, c, &alice, "t-1", "hello", at(7*time.Second))
		if orig := original(t, err); orig.ID != first.ID {
			t.Fatalf("retry after close answered %+v", orig)
		}
		_, err = keyedSend(t, db, c, &alice, "t-3", "hello", at(7*time.Second))
		wantErr(t, "new temp_id after close", err, chat.ErrSessionNotFound)
	})
}

// Concurrent sends of one temp_id by one operator in one conversation
// store exactly one row and all answer it; the distinct temp_ids sent at
// the same time (in the same SQLite batch, or racing for the customer's
// lock on Postgres) are all stored, with gap-free seqs.
func TestConcurrentAppendsOfOneTempID(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		c := storetest.Customer(t, db)
		s := mustEnsure(t, db, c.LineUserID, at(0))
		mustClaim(t, db, s.ID, alice.ID, at(time.Second))

		const rounds, same, distinct = 10, 8, 4
		for round := range rounds {
			key := fmt.Sprintf("same-%d", round)
			ids := make([]int64, same+distinct)
			errs := make([]error, same+distinct)
			parallel(same+distinct, func(i int) {
				tempID := key
				if i >= same {
					tempID = fmt.Sprintf("distinct-%d-%d", round, i)
				}
				m, err := keyedSend(t, db, c, &alice, tempID, "hello "+tempID, at(2*time.Second))
				var dup *chat.DuplicateSendError
				switch {
				case err == nil:
					ids[i] = m.ID
				case errors.As(err, &dup):
					ids[i] = dup.Original.ID
				default:
					errs[i] = err
				}
			})
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d, send %d: %v", round, i, err)
				}
			}
			for i := 1; i < same; i++ {
				if ids[i] != ids[0] {
					t.Fatalf("round %d: the sends of %s answered messages %v", round, key, ids[:same])
				}
			}
			if n := countMessages(t, db, "line_user_id = ? AND temp_id = ?", c.LineUserID, key); n != 1 {
				t.Fatalf("round %d: %d rows with temp_id %s, want 1", round, n, key)
			}
		}
		want := int64(rounds * (1 + distinct))
		if got := lastSeq(t, db, c.LineUserID); got != want {
			t.Fatalf("last_seq %d, want %d", got, want)
		}
		var seqs []int64
		if err := db.Bun().NewRaw("SELECT seq FROM messages WHERE line_user_id = ? ORDER BY seq", c.LineUserID).Scan(t.Context(), &seqs); err != nil {
			t.Fatal(err)
		}
		for i, s := range seqs {
			if s != int64(i+1) {
				t.Fatalf("seqs %v are not 1..%d", seqs, want)
			}
		}
		if len(seqs) != int(want) {
			t.Fatalf("%d messages, want %d", len(seqs), want)
		}
	})
}

// A database from before the unique index may hold messages that reuse a
// temp_id: the migration keeps it on the first and clears it on the later
// ones, instead of failing, and the index holds after it.
func TestMigrationClearsRepeatedTempIDs(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		c := storetest.Customer(t, db)
		other := storetest.Customer(t, db)

		// Back to the schema before 0006.
		for _, q := range []string{"DROP INDEX messages_temp_id_idx", "DELETE FROM schema_migrations WHERE version = 6"} {
			if _, err := db.Bun().ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		type row struct {
			lineUserID string
			operatorID *int64
			tempID     string
		}
		rows := []row{
			{c.LineUserID, &alice.ID, "dup"},     // 1: keeps it
			{c.LineUserID, &alice.ID, "dup"},     // 2: cleared
			{c.LineUserID, &bob.ID, "dup"},       // 3: bob's own: keeps it
			{c.LineUserID, &alice.ID, "dup"},     // 4: cleared
			{other.LineUserID, &alice.ID, "dup"}, // 5: another conversation: keeps it
			{c.LineUserID, &alice.ID, ""},        // 6, 7: no temp_id
			{c.LineUserID, &alice.ID, ""},
			{c.LineUserID, nil, "dup"}, // 8, 9: no operator (never written so; untouched)
			{c.LineUserID, nil, "dup"},
			{c.LineUserID, &alice.ID, "once"}, // 10
		}
		seq := map[string]int64{}
		var ids []int64
		for _, r := range rows {
			seq[r.lineUserID]++
			var id int64
			if err := db.Bun().NewRaw(`INSERT INTO messages (line_user_id, seq, direction, message_type, content, sender_role,
				operator_id, delivery_status, temp_id, created_at)
				VALUES (?, ?, 'OUTGOING', 'text', 'x', 'ADMIN', ?, 'sent', ?, ?) RETURNING id`,
				r.lineUserID, seq[r.lineUserID], r.operatorID, r.tempID, at(0)).Scan(ctx, &id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}

		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrate over repeated temp_ids: %v", err)
		}
		want := []string{"dup", "", "dup", "", "dup", "", "", "dup", "dup", "once"}
		for i, id := range ids {
			var got string
			if err := db.Bun().NewRaw("SELECT temp_id FROM messages WHERE id = ?", id).Scan(ctx, &got); err != nil {
				t.Fatal(err)
			}
			if got != want[i] {
				t.Errorf("row %d (%+v): temp_id %q, want %q", i+1, rows[i], got, want[i])
			}
		}
		var versions []int
		if err := db.Bun().NewRaw("SELECT version FROM schema_migrations WHERE version = 6").Scan(ctx, &versions); err != nil || len(versions) != 1 {
			t.Fatalf("schema_migrations 6: %v %v", versions, err)
		}
		_, err := db.Bun().ExecContext(ctx, `INSERT INTO messages (line_user_id, seq, direction, message_type, content, sender_role,
			operator_id, delivery_status, temp_id, created_at) VALUES (?, 100, 'OUTGOING', 'text', 'x', 'ADMIN', ?, 'sent', 'dup', ?)`,
			c.LineUserID, alice.ID, at(0))
		if !errors.Is(store.DBErr(err), chat.ErrConflict) {
			t.Fatalf("a repeated temp_id after the migration: %v, want a unique violation", err)
		}
	})
}

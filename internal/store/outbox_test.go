package store_test

import (
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestOutboxHeadsClaimsAndOutcomes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		a, b := storetest.Customer(t, db), storetest.Customer(t, db)
		for _, c := range []chat.Customer{a, b} {
			mustClaim(t, db, mustEnsure(t, db, c.LineUserID, at(0)).ID, op.ID, at(0))
		}
		// The service stores the retry key and temp id with the message.
		m1 := outgoing(a.LineUserID, "a1", &op)
		m1.RetryKey, m1.TempID = "key-a1", "t-a1"
		a1 := mustAppend(t, db, m1, at(time.Second))
		mustAppend(t, db, incoming(a.LineUserID, "customer"), at(2*time.Second))
		a2 := mustAppend(t, db, outgoing(a.LineUserID, "a2", &op), at(3*time.Second))
		b1 := mustAppend(t, db, outgoing(b.LineUserID, "b1", &op), at(4*time.Second))
		mustAppend(t, db, outgoing(b.LineUserID, "a bot reply is not the outbox's", nil), at(5*time.Second))

		// One head per conversation, longest waiting first; nothing before it is due.
		if due, err := db.DueDeliveries(ctx, at(0), 10); err != nil || len(due) != 0 {
			t.Fatalf("due before any was sent = %v, %v", due, err)
		}
		due, err := db.DueDeliveries(ctx, at(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != 2 || due[0] != a1.ID || due[1] != b1.ID {
			t.Fatalf("due = %v, want [%d %d]", due, a1.ID, b1.ID)
		}
		next, ok, err := db.NextDeliveryAt(ctx)
		if err != nil || !ok {
			t.Fatalf("NextDeliveryAt = %v, %v, %v", next, ok, err)
		}
		eqTime(t, "NextDeliveryAt", next, at(time.Second))

		// Of two claimers one wins; the claim counts and keeps the key.
		now := at(time.Minute)
		c1, err := db.ClaimDelivery(ctx, a1.ID, now, now.Add(time.Minute), "ignored")
		if err != nil || c1.Attempts != 1 || c1.RetryKey != "key-a1" || c1.TempID != "t-a1" || c1.Message.Content != "a1" {
			t.Fatalf("claim = %+v, %v", c1, err)
		}
		_, err = db.ClaimDelivery(ctx, a1.ID, now, now.Add(time.Minute), "ignored")
		wantErr(t, "second claim", err, chat.ErrConflict)
		// A claim fixes the key of a message that had none.
		cb, err := db.ClaimDelivery(ctx, b1.ID, now, now.Add(time.Minute), "key-b1")
		if err != nil || cb.RetryKey != "key-b1" {
			t.Fatalf("claim b1 = %+v, %v", cb, err)
		}
		if due, _ := db.DueDeliveries(ctx, now, 10); len(due) != 0 {
			t.Fatalf("locked heads are due: %v", due)
		}
		next, _, _ = db.NextDeliveryAt(ctx)
		eqTime(t, "NextDeliveryAt while locked", next, now.Add(time.Minute))

		// Retry: pending, unlocked, due later, with the reason shown.
		if err := db.RetryDelivery(ctx, a1.ID, 1, now.Add(2*time.Second), "LINE error 500; will retry"); err != nil {
			t.Fatal(err)
		}
		got, _ := db.Message(ctx, a1.ID)
		if got.DeliveryStatus != chat.DeliveryPending || got.DeliveryError != "LINE error 500; will retry" {
			t.Fatalf("after retry: %+v", got)
		}
		next, _, _ = db.NextDeliveryAt(ctx)
		eqTime(t, "NextDeliveryAt after retry", next, now.Add(2*time.Second))
		// A stale attempt cannot settle the message.
		wantErr(t, "stale finish", db.FinishDelivery(ctx, a1.ID, 0, chat.DeliverySent, ""), chat.ErrConflict)

		later := now.Add(2 * time.Second)
		c2, err := db.ClaimDelivery(ctx, a1.ID, later, later.Add(time.Minute), "ignored")
		if err != nil || c2.Attempts != 2 || c2.RetryKey != "key-a1" {
			t.Fatalf("second claim = %+v, %v", c2, err)
		}
		if err := db.FinishDelivery(ctx, a1.ID, 2, chat.DeliverySent, ""); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Message(ctx, a1.ID)
		if got.DeliveryStatus != chat.DeliverySent || got.DeliveryError != "" {
			t.Fatalf("after finish: %+v", got)
		}
		// a2 is the head of a now.
		due, _ = db.DueDeliveries(ctx, later, 10)
		if len(due) != 1 || due[0] != a2.ID {
			t.Fatalf("due after a1 = %v, want [%d]", due, a2.ID)
		}
		if err := db.FinishDelivery(ctx, b1.ID, 1, chat.DeliveryFailed, "LINE rejected the message"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "finish as pending", db.FinishDelivery(ctx, a2.ID, 0, chat.DeliveryPending, ""), chat.ErrInvalid)
		got, _ = db.Message(ctx, b1.ID)
		if got.DeliveryStatus != chat.DeliveryFailed || got.DeliveryError != "LINE rejected the message" {
			t.Fatalf("failed message: %+v", got)
		}
	})
}

// A message the store can write but not read back (its time) does not fail
// the list of due heads; its claim says ErrInvalid, and FailDelivery
// quarantines it at the maximum: failed, dead, listed, and no longer the
// head of its conversation.
func TestOutboxUnreadableRowIsFailedAndQuarantined(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		a, b := storetest.Customer(t, db), storetest.Customer(t, db)
		for _, c := range []chat.Customer{a, b} {
			mustClaim(t, db, mustEnsure(t, db, c.LineUserID, at(0)).ID, op.ID, at(0))
		}
		m := outgoing(a.LineUserID, "poison", &op)
		m.TempID = "t-p"
		p := mustAppend(t, db, m, at(time.Second))
		a2 := mustAppend(t, db, outgoing(a.LineUserID, "next", &op), at(2*time.Second))
		b1 := mustAppend(t, db, outgoing(b.LineUserID, "b1", &op), at(3*time.Second))
		corrupt := "UPDATE messages SET created_at = '10000-01-01 00:00:00+00:00' WHERE id = ?"
		if db.Dialect() == store.Postgres {
			corrupt = "UPDATE messages SET created_at = 'infinity', next_attempt_at = '-infinity' WHERE id = ?"
		}
		if _, err := db.Bun().ExecContext(ctx, corrupt, p.ID); err != nil {
			t.Fatal(err)
		}
		now := at(time.Minute)
		due, err := db.DueDeliveries(ctx, now, 10)
		if err != nil || len(due) != 2 {
			t.Fatalf("due = %v, %v; want the poison and b1", due, err)
		}
		_, err = db.ClaimDelivery(ctx, p.ID, now, now.Add(time.Minute), "k")
		wantErr(t, "claim the unreadable row", err, chat.ErrInvalid)
		if c, err := db.ClaimDelivery(ctx, b1.ID, now, now.Add(time.Minute), "k2"); err != nil || c.Message.Content != "b1" {
			t.Fatalf("claim b1 = %+v, %v", c, err)
		}
		d, err := db.FailDelivery(ctx, p.ID, 0, "unreadable", now.Add(time.Second), 2, now)
		if err != nil || d.Dead || d.MessageID != p.ID || d.TempID != "t-p" || d.LineUserID != a.LineUserID || d.OperatorID == nil || *d.OperatorID != op.ID {
			t.Fatalf("first failure = %+v, %v", d, err)
		}
		if due, _ := db.DueDeliveries(ctx, now, 10); len(due) != 0 {
			t.Fatalf("due while backing off = %v (a2 must wait behind the poison)", due)
		}
		later := now.Add(time.Second)
		_, err = db.ClaimDelivery(ctx, p.ID, later, later.Add(time.Minute), "k")
		wantErr(t, "claim again", err, chat.ErrInvalid)
		if d, err = db.FailDelivery(ctx, p.ID, 0, "unreadable", later.Add(2*time.Second), 2, later); err != nil || !d.Dead {
			t.Fatalf("second failure = %+v, %v", d, err)
		}
		if due, _ := db.DueDeliveries(ctx, later, 10); len(due) != 1 || due[0] != a2.ID {
			t.Fatalf("due after quarantine = %v, want [%d]", due, a2.ID)
		}
		dead, err := db.DeadDeliveries(ctx, 10)
		if err != nil || len(dead) != 1 || dead[0].ID != p.ID || dead[0].Reason != "unreadable" || dead[0].TempID != "t-p" {
			t.Fatalf("dead = %+v, %v", dead, err)
		}
		eqTime(t, "dead time", dead[0].At, later)
		var status string
		if err := db.Bun().NewRaw("SELECT delivery_status FROM messages WHERE id = ?", p.ID).Scan(ctx, &status); err != nil || status != "failed" {
			t.Fatalf("status = %q, %v", status, err)
		}
		_, err = db.FailDelivery(ctx, p.ID, 0, "again", later, 2, later)
		wantErr(t, "fail a dead row", err, chat.ErrConflict)
	})
}

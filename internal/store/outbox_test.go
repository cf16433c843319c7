package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/outbox"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestOutboxClaimsAndOutcomes(t *testing.T) {
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

		// Pending and unheld, in id order, due or not.
		ids, err := db.PendingDeliveries(ctx, at(0), 0, 10)
		if err != nil || !equalIDs(ids, a1.ID, a2.ID, b1.ID) {
			t.Fatalf("pending = %v, %v; want [%d %d %d]", ids, err, a1.ID, a2.ID, b1.ID)
		}
		if page, err := db.PendingDeliveries(ctx, at(0), a1.ID, 1); err != nil || !equalIDs(page, a2.ID) {
			t.Fatalf("the page after a1 = %v, %v; want [%d]", page, err, a2.ID)
		}
		ds, bad, err := db.LoadDeliveries(ctx, ids)
		if err != nil || len(bad) != 0 || len(ds) != 3 {
			t.Fatalf("load = %+v, %v, %v", ds, bad, err)
		}
		if d := ds[0]; d.Message.ID != a1.ID || d.RetryKey != "key-a1" || d.TempID != "t-a1" || d.Message.Content != "a1" ||
			d.Attempts != 0 || !d.NextAttemptAt.IsZero() || ds[2].RetryKey != "" {
			t.Fatalf("loaded = %+v", ds)
		}
		next, ok, err := db.NextDeliveryAt(ctx)
		if err != nil || !ok {
			t.Fatalf("NextDeliveryAt = %v, %v, %v", next, ok, err)
		}
		eqTime(t, "NextDeliveryAt", next, at(time.Second))

		now := at(time.Minute)
		// Not before it is due; not behind an earlier pending message.
		_, _, err = db.ClaimDelivery(ctx, a1.ID, at(0), at(time.Minute), "ignored")
		wantErr(t, "claim before it was sent", err, chat.ErrConflict)
		_, _, err = db.ClaimDelivery(ctx, a2.ID, now, now.Add(time.Minute), "ignored")
		wantErr(t, "claim behind a1", err, outbox.ErrNotHead)
		// Of two claimers one wins; the claim counts and keeps the key.
		attempt, key, err := db.ClaimDelivery(ctx, a1.ID, now, now.Add(time.Minute), "ignored")
		if err != nil || attempt != 1 || key != "key-a1" {
			t.Fatalf("claim = %d %q, %v", attempt, key, err)
		}
		_, _, err = db.ClaimDelivery(ctx, a1.ID, now, now.Add(time.Minute), "ignored")
		wantErr(t, "second claim", err, chat.ErrConflict)
		// A claim fixes the key of a message that had none.
		if _, key, err := db.ClaimDelivery(ctx, b1.ID, now, now.Add(time.Minute), "key-b1"); err != nil || key != "key-b1" {
			t.Fatalf("claim b1 = %q, %v", key, err)
		}
		if ids, _ := db.PendingDeliveries(ctx, now, 0, 10); !equalIDs(ids, a2.ID) {
			t.Fatalf("pending while a1 and b1 are held = %v", ids)
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
		ds, _, _ = db.LoadDeliveries(ctx, []int64{a1.ID})
		eqTime(t, "next attempt", ds[0].NextAttemptAt, now.Add(2*time.Second))
		next, _, _ = db.NextDeliveryAt(ctx)
		eqTime(t, "NextDeliveryAt after retry", next, now.Add(2*time.Second))
		// A stale attempt cannot settle the message.
		_, err = db.FinishDelivery(ctx, a1.ID, 0, chat.DeliverySent, "")
		wantErr(t, "stale finish", err, chat.ErrConflict)
		_, _, err = db.ClaimDelivery(ctx, a1.ID, now.Add(time.Second), now.Add(time.Minute), "ignored")
		wantErr(t, "claim before the retry is due", err, chat.ErrConflict)

		later := now.Add(2 * time.Second)
		attempt, key, err = db.ClaimDelivery(ctx, a1.ID, later, later.Add(time.Minute), "ignored")
		if err != nil || attempt != 2 || key != "key-a1" {
			t.Fatalf("second claim = %d %q, %v", attempt, key, err)
		}
		// Settling names the conversation's next pending message.
		if next, err := db.FinishDelivery(ctx, a1.ID, 2, chat.DeliverySent, ""); err != nil || next != a2.ID {
			t.Fatalf("finish a1 = %d, %v; want next %d", next, err, a2.ID)
		}
		got, _ = db.Message(ctx, a1.ID)
		if got.DeliveryStatus != chat.DeliverySent || got.DeliveryError != "" {
			t.Fatalf("after finish: %+v", got)
		}
		if _, _, err := db.ClaimDelivery(ctx, a2.ID, later, later.Add(time.Minute), "k"); err != nil {
			t.Fatalf("a2 after a1: %v", err)
		}
		if next, err := db.FinishDelivery(ctx, b1.ID, 1, chat.DeliveryFailed, "LINE rejected the message"); err != nil || next != 0 {
			t.Fatalf("finish b1 = %d, %v; want no next", next, err)
		}
		_, err = db.FinishDelivery(ctx, a2.ID, 1, chat.DeliveryPending, "")
		wantErr(t, "finish as pending", err, chat.ErrInvalid)
		got, _ = db.Message(ctx, b1.ID)
		if got.DeliveryStatus != chat.DeliveryFailed || got.DeliveryError != "LINE rejected the message" {
			t.Fatalf("failed message: %+v", got)
		}
	})
}

func equalIDs(got []int64, want ...int64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
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
		ids, err := db.PendingDeliveries(ctx, now, 0, 10)
		if err != nil || !equalIDs(ids, p.ID, a2.ID, b1.ID) {
			t.Fatalf("pending = %v, %v", ids, err)
		}
		ds, bad, err := db.LoadDeliveries(ctx, ids)
		if err != nil || len(ds) != 2 || ds[0].Message.ID != a2.ID || ds[1].Message.ID != b1.ID || len(bad) != 1 {
			t.Fatalf("load = %+v, %v, %v; want a2 and b1, the poison apart", ds, bad, err)
		}
		wantErr(t, "the unreadable row", bad[p.ID], chat.ErrInvalid)
		d, err := db.FailDelivery(ctx, p.ID, 0, "unreadable", now.Add(time.Second), 2, now)
		if err != nil || d.Dead || d.MessageID != p.ID || d.TempID != "t-p" || d.LineUserID != a.LineUserID || d.OperatorID == nil || *d.OperatorID != op.ID {
			t.Fatalf("first failure = %+v, %v", d, err)
		}
		_, _, err = db.ClaimDelivery(ctx, a2.ID, now, now.Add(time.Minute), "k")
		wantErr(t, "a2 behind the poison", err, outbox.ErrNotHead)
		later := now.Add(time.Second)
		if d, err = db.FailDelivery(ctx, p.ID, 0, "unreadable", later.Add(2*time.Second), 2, later); err != nil || !d.Dead {
			t.Fatalf("second failure = %+v, %v", d, err)
		}
		if ids, _ := db.PendingDeliveries(ctx, later, 0, 10); !equalIDs(ids, a2.ID, b1.ID) {
			t.Fatalf("pending after quarantine = %v, want [%d %d]", ids, a2.ID, b1.ID)
		}
		if _, _, err := db.ClaimDelivery(ctx, a2.ID, later, later.Add(time.Minute), "k"); err != nil {
			t.Fatalf("a2 after the quarantine: %v", err)
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

// A batch of claims and one of outcomes each run in one transaction and
// answer message by message: a refusal (not the head, already held, a
// stale attempt) does not spoil the others.
func TestOutboxBatchedClaimsAndFinishes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		a, b, c := storetest.Customer(t, db), storetest.Customer(t, db), storetest.Customer(t, db)
		for _, cu := range []chat.Customer{a, b, c} {
			mustClaim(t, db, mustEnsure(t, db, cu.LineUserID, at(0)).ID, op.ID, at(0))
		}
		a1 := mustAppend(t, db, outgoing(a.LineUserID, "a1", &op), at(time.Second))
		a2 := mustAppend(t, db, outgoing(a.LineUserID, "a2", &op), at(2*time.Second))
		b1 := mustAppend(t, db, outgoing(b.LineUserID, "b1", &op), at(3*time.Second))
		c1 := mustAppend(t, db, outgoing(c.LineUserID, "c1", &op), at(4*time.Second))
		now := at(time.Minute)
		if _, _, err := db.ClaimDelivery(ctx, c1.ID, now, now.Add(time.Minute), "key-c1"); err != nil {
			t.Fatal(err)
		}

		// Out of id order on purpose: the store orders the locks itself.
		got, err := db.ClaimDeliveries(ctx, []outbox.Claim{
			{MessageID: c1.ID, RetryKey: "again"}, {MessageID: b1.ID, RetryKey: "key-b1"},
			{MessageID: a2.ID, RetryKey: "key-a2"}, {MessageID: a1.ID, RetryKey: "key-a1"},
			{MessageID: b1.ID, RetryKey: "twice"},
		}, now, now.Add(time.Minute))
		if err != nil || len(got) != 5 {
			t.Fatalf("claims = %+v, %v", got, err)
		}
		wantErr(t, "c1, held already", got[0].Err, chat.ErrConflict)
		if got[1].Err != nil || got[1].Attempt != 1 || got[1].RetryKey != "key-b1" {
			t.Fatalf("b1 = %+v", got[1])
		}
		wantErr(t, "a2, behind a1", got[2].Err, outbox.ErrNotHead)
		if got[3].Err != nil || got[3].Attempt != 1 || got[3].RetryKey != "key-a1" {
			t.Fatalf("a1 = %+v", got[3])
		}
		wantErr(t, "b1 again in the same batch", got[4].Err, chat.ErrConflict)

		done, err := db.FinishDeliveries(ctx, []outbox.Finish{
			{MessageID: b1.ID, Attempt: 1, Status: chat.DeliveryFailed, Reason: "LINE rejected the message"},
			{MessageID: c1.ID, Attempt: 7, Status: chat.DeliverySent},
			{MessageID: a1.ID, Attempt: 1, Status: chat.DeliverySent},
		})
		if err != nil || len(done) != 3 {
			t.Fatalf("finishes = %+v, %v", done, err)
		}
		if done[0].Err != nil || done[0].Next != 0 || done[2].Err != nil || done[2].Next != a2.ID {
			t.Fatalf("finishes = %+v; want b1 with no next, a1 naming a2 (%d)", done, a2.ID)
		}
		wantErr(t, "c1, a stale attempt", done[1].Err, chat.ErrConflict)
		for id, want := range map[int64]chat.DeliveryStatus{a1.ID: chat.DeliverySent, b1.ID: chat.DeliveryFailed, c1.ID: chat.DeliveryPending, a2.ID: chat.DeliveryPending} {
			if m, err := db.Message(ctx, id); err != nil || m.DeliveryStatus != want {
				t.Fatalf("message %d = %q, %v; want %q", id, m.DeliveryStatus, err, want)
			}
		}
		// One bad outcome refuses the whole batch before anything is written.
		_, err = db.FinishDeliveries(ctx, []outbox.Finish{
			{MessageID: c1.ID, Attempt: 1, Status: chat.DeliverySent},
			{MessageID: a2.ID, Attempt: 1, Status: chat.DeliveryPending},
		})
		wantErr(t, "finish as pending", err, chat.ErrInvalid)
		if m, _ := db.Message(ctx, c1.ID); m.DeliveryStatus != chat.DeliveryPending {
			t.Fatalf("c1 after the refused batch: %q", m.DeliveryStatus)
		}
	})
}

// Instances that claim the same messages in opposite orders, at once, get
// each message exactly once and no database error: on Postgres, batches
// that lock rows in their own order deadlock (a statement per claim did,
// 40P01, before byID; the one-statement batch orders its locks too).
func TestOutboxConcurrentBatchedClaims(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		var ids []int64
		for i := range 24 {
			cu := storetest.Customer(t, db)
			mustClaim(t, db, mustEnsure(t, db, cu.LineUserID, at(0)).ID, op.ID, at(0))
			ids = append(ids, mustAppend(t, db, outgoing(cu.LineUserID, "hello", &op), at(time.Duration(i)*time.Millisecond)).ID)
		}
		now := at(time.Minute)
		const claimers = 4
		wins := make([][]int64, claimers)
		errs := make([]error, claimers)
		parallel(claimers, func(n int) {
			claims := make([]outbox.Claim, len(ids))
			for i, id := range ids {
				if n%2 == 1 {
					id = ids[len(ids)-1-i]
				}
				claims[i] = outbox.Claim{MessageID: id, RetryKey: fmt.Sprintf("k%d-%d", n, id)}
			}
			got, err := db.ClaimDeliveries(ctx, claims, now, now.Add(time.Minute))
			errs[n] = err
			for i, g := range got {
				if g.Err == nil {
					wins[n] = append(wins[n], claims[i].MessageID)
				} else if !errors.Is(g.Err, chat.ErrConflict) {
					errs[n] = g.Err
				}
			}
		})
		won := map[int64]int{}
		for n := range claimers {
			if errs[n] != nil {
				t.Fatalf("claimer %d: %v", n, errs[n])
			}
			for _, id := range wins[n] {
				won[id]++
			}
		}
		for _, id := range ids {
			if won[id] != 1 {
				t.Fatalf("message %d claimed %d times; want once (wins %v)", id, won[id], wins)
			}
		}
	})
}

package store_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func inboxEvent(id, lineUserID string) store.InboxEvent {
	return store.InboxEvent{
		WebhookEventID: id,
		EventType:      "message",
		SourceType:     "user",
		LineUserID:     lineUserID,
		Body:           json.RawMessage(fmt.Sprintf(`{"type":"message","webhookEventId":%q}`, id)),
		EventAt:        base,
	}
}

func mustAddInbox(t *testing.T, db *store.DB, now time.Time, evs ...store.InboxEvent) int {
	t.Helper()
	n, err := db.AddInboxEvents(t.Context(), evs, now)
	if err != nil {
		t.Fatalf("AddInboxEvents: %v", err)
	}
	return n
}

func dueIDs(t *testing.T, db *store.DB, now time.Time) []string {
	t.Helper()
	evs, err := db.DueInboxEvents(t.Context(), now, 100)
	if err != nil {
		t.Fatalf("DueInboxEvents: %v", err)
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.WebhookEventID
	}
	return ids
}

func eqIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestInboxDedupAndRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := storetest.LineUserID()
		if n := mustAddInbox(t, db, at(0), inboxEvent("E1", u), inboxEvent("E2", "")); n != 2 {
			t.Fatalf("added %d, want 2", n)
		}
		// A redelivery of E1 next to a new event: only the new one is added.
		if n := mustAddInbox(t, db, at(time.Minute), inboxEvent("E1", u), inboxEvent("E3", u)); n != 1 {
			t.Fatalf("redelivery added %d, want 1", n)
		}
		total, pending, err := db.CountInboxEvents(t.Context())
		if err != nil || total != 3 || pending != 3 {
			t.Fatalf("count = %d, %d, %v; want 3, 3", total, pending, err)
		}
		e, err := db.InboxEvent(t.Context(), "E1")
		if err != nil {
			t.Fatal(err)
		}
		eqTime(t, "received_at", e.ReceivedAt, at(0)) // the first delivery's
		eqTime(t, "event_at", e.EventAt, base)
		eqTime(t, "next_attempt_at", e.NextAttemptAt, at(0))
		if e.LineUserID != u || e.EventType != "message" || e.SourceType != "user" || e.Attempts != 0 || e.ProcessedAt != nil || e.LockedUntil != nil {
			t.Errorf("event = %+v", e)
		}
		var body map[string]any
		if err := json.Unmarshal(e.Body, &body); err != nil || body["webhookEventId"] != "E1" {
			t.Errorf("body = %s (%v)", e.Body, err)
		}
		if e2, _ := db.InboxEvent(t.Context(), "E2"); e2.LineUserID != "" {
			t.Errorf("group event line_user_id = %q", e2.LineUserID)
		}
		_, err = db.InboxEvent(t.Context(), "nope")
		wantErr(t, "unknown event", err, chat.ErrNotFound)
	})
}

func TestInboxBatchIsOneTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		bad := inboxEvent("", "") // refused by a CHECK
		_, err := db.AddInboxEvents(t.Context(), []store.InboxEvent{inboxEvent("E1", ""), bad}, at(0))
		if err == nil {
			t.Fatal("a batch with a bad event was stored")
		}
		if total, _, _ := db.CountInboxEvents(t.Context()); total != 0 {
			t.Fatalf("%d events stored from a failed batch, want 0", total)
		}
	})
}

func TestInboxOrderPerCustomerAndRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, b := storetest.LineUserID(), storetest.LineUserID()
		mustAddInbox(t, db, at(0), inboxEvent("A1", a), inboxEvent("B1", b), inboxEvent("A2", a), inboxEvent("G1", ""), inboxEvent("G2", ""))
		// One per customer, oldest first; non-user events are independent.
		eqIDs(t, "due", dueIDs(t, db, at(0)), "A1", "B1", "G1", "G2")

		e, _ := db.InboxEvent(t.Context(), "A1")
		claimed, err := db.ClaimInboxEvent(t.Context(), e.ID, at(0), at(time.Minute))
		if err != nil || !claimed {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		// Leased: neither due nor claimable, and A2 stays behind it.
		eqIDs(t, "due while leased", dueIDs(t, db, at(time.Second)), "B1", "G1", "G2")
		if again, _ := db.ClaimInboxEvent(t.Context(), e.ID, at(time.Second), at(time.Minute)); again {
			t.Fatal("a leased event was claimed twice")
		}
		if err := db.FailInboxEvent(t.Context(), e.ID, "boom", at(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		e, _ = db.InboxEvent(t.Context(), "A1")
		if e.Attempts != 1 || e.LastError != "boom" || e.LockedUntil != nil || e.ProcessedAt != nil {
			t.Fatalf("after fail: %+v", e)
		}
		// Waiting for its retry, A1 still holds A2 back.
		eqIDs(t, "due before retry", dueIDs(t, db, at(5*time.Second)), "B1", "G1", "G2")
		for _, id := range []string{"B1", "G1", "G2"} {
			x, _ := db.InboxEvent(t.Context(), id)
			if ok, err := db.ClaimInboxEvent(t.Context(), x.ID, at(0), at(time.Minute)); !ok || err != nil {
				t.Fatalf("claim %s: %v %v", id, ok, err)
			}
			if err := db.CompleteInboxEvent(t.Context(), x.ID, at(0)); err != nil {
				t.Fatal(err)
			}
		}
		next, ok, err := db.NextInboxAttempt(t.Context())
		if err != nil || !ok {
			t.Fatalf("NextInboxAttempt = %v, %v", ok, err)
		}
		eqTime(t, "next attempt", next, at(10*time.Second))
		eqIDs(t, "due at retry", dueIDs(t, db, at(10*time.Second)), "A1")

		if ok, _ := db.ClaimInboxEvent(t.Context(), e.ID, at(10*time.Second), at(time.Minute)); !ok {
			t.Fatal("retry not claimable")
		}
		if err := db.CompleteInboxEvent(t.Context(), e.ID, at(11*time.Second)); err != nil {
			t.Fatal(err)
		}
		e, _ = db.InboxEvent(t.Context(), "A1")
		if e.Attempts != 2 || e.LastError != "boom" || e.ProcessedAt == nil {
			t.Fatalf("after completion: %+v", e)
		}
		eqIDs(t, "due after A1", dueIDs(t, db, at(11*time.Second)), "A2")
		if ok, _ := db.ClaimInboxEvent(t.Context(), e.ID, at(12*time.Second), at(time.Minute)); ok {
			t.Fatal("a processed event was claimed")
		}
		wantErr(t, "fail a processed event", db.FailInboxEvent(t.Context(), e.ID, "late", at(time.Hour)), chat.ErrNotFound)
	})
}

func TestInboxExpiredLeaseIsTakenOver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		mustAddInbox(t, db, at(0), inboxEvent("E1", storetest.LineUserID()))
		e, _ := db.InboxEvent(t.Context(), "E1")
		if ok, _ := db.ClaimInboxEvent(t.Context(), e.ID, at(0), at(time.Minute)); !ok {
			t.Fatal("claim")
		}
		// The worker died: NextInboxAttempt points at the lease's end.
		next, ok, err := db.NextInboxAttempt(t.Context())
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		eqTime(t, "next attempt", next, at(time.Minute))
		eqIDs(t, "due after lease", dueIDs(t, db, at(time.Minute)), "E1")
		if ok, _ := db.ClaimInboxEvent(t.Context(), e.ID, at(time.Minute), at(2*time.Minute)); !ok {
			t.Fatal("an expired lease was not taken over")
		}
	})
}

func TestInboxConcurrentClaimsOneWinner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		mustAddInbox(t, db, at(0), inboxEvent("E1", storetest.LineUserID()))
		e, _ := db.InboxEvent(t.Context(), "E1")
		var wins atomic.Int32
		parallel(10, func(int) {
			ok, err := db.ClaimInboxEvent(t.Context(), e.ID, at(0), at(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
		if wins.Load() != 1 {
			t.Fatalf("%d claimers won, want 1", wins.Load())
		}
		if e, _ = db.InboxEvent(t.Context(), "E1"); e.Attempts != 1 {
			t.Fatalf("attempts = %d, want 1", e.Attempts)
		}
	})
}

func TestNextInboxAttemptEmpty(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if _, ok, err := db.NextInboxAttempt(t.Context()); ok || err != nil {
			t.Fatalf("NextInboxAttempt on empty inbox = %v, %v", ok, err)
		}
	})
}

func TestIncomingMessageByLineID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := storetest.Customer(t, db)
		other := storetest.Customer(t, db)
		m := incoming(c.LineUserID, "hi")
		m.Payload = json.RawMessage(`{"line_message_id":"4680000000001","webhook_event_id":"E1"}`)
		stored := mustAppend(t, db, m, at(0))
		mustAppend(t, db, incoming(c.LineUserID, "no payload"), at(time.Second))

		got, err := db.IncomingMessageByLineID(t.Context(), c.LineUserID, "4680000000001")
		if err != nil || got.ID != stored.ID {
			t.Fatalf("found %+v, %v; want message %d", got, err, stored.ID)
		}
		_, err = db.IncomingMessageByLineID(t.Context(), other.LineUserID, "4680000000001")
		wantErr(t, "other customer", err, chat.ErrNotFound)
		_, err = db.IncomingMessageByLineID(t.Context(), c.LineUserID, "4680000000002")
		wantErr(t, "unknown id", err, chat.ErrNotFound)
	})
}

func TestAbandonInboxEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := storetest.LineUserID()
		mustAddInbox(t, db, at(0), inboxEvent("A1", u), inboxEvent("A2", u))
		e, _ := db.InboxEvent(t.Context(), "A1")
		if ok, _ := db.ClaimInboxEvent(t.Context(), e.ID, at(0), at(time.Minute)); !ok {
			t.Fatal("claim")
		}
		if err := db.AbandonInboxEvent(t.Context(), e.ID, "gave up: bad data", at(time.Second)); err != nil {
			t.Fatal(err)
		}
		e, _ = db.InboxEvent(t.Context(), "A1")
		if e.ProcessedAt == nil || e.LastError != "gave up: bad data" || e.LockedUntil != nil {
			t.Fatalf("abandoned = %+v", e)
		}
		eqIDs(t, "due after abandoning", dueIDs(t, db, at(time.Second)), "A2")
		wantErr(t, "abandon twice", db.AbandonInboxEvent(t.Context(), e.ID, "again", at(time.Second)), chat.ErrNotFound)
	})
}

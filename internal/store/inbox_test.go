package store_test

import (
	"encoding/json"
	"fmt"
	"strings"
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
	n, err := db.AddInboxEvents(t.Context(), evs, nil, now)
	if err != nil {
		t.Fatalf("AddInboxEvents: %v", err)
	}
	return n
}

// dueIDs are the webhook event ids of the due events, in order.
func dueIDs(t *testing.T, db *store.DB, now time.Time) []string {
	t.Helper()
	ids, err := db.DueInboxIDs(t.Context(), now, 100)
	if err != nil {
		t.Fatalf("DueInboxIDs: %v", err)
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		if err := db.Bun().NewRaw("SELECT webhook_event_id FROM line_webhook_events WHERE id = ?", id).Scan(t.Context(), &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// claim claims the event with webhook event id wid and says whether it won.
func claim(t *testing.T, db *store.DB, wid string, now, until time.Time) bool {
	t.Helper()
	e, err := db.InboxEvent(t.Context(), wid)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := db.ClaimInboxEvent(t.Context(), e.ID, now, until)
	if err != nil {
		t.Fatalf("claim %s: %v", wid, err)
	}
	if ok && (got.ID != e.ID || got.WebhookEventID != wid || got.Attempts != e.Attempts+1) {
		t.Fatalf("claimed %+v, want %s with attempt %d", got, wid, e.Attempts+1)
	}
	return ok
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
		_, err := db.AddInboxEvents(t.Context(), []store.InboxEvent{inboxEvent("E1", ""), bad}, []store.RejectedEvent{{Reason: "r"}}, at(0))
		if err == nil {
			t.Fatal("a batch with a bad event was stored")
		}
		if total, _, _ := db.CountInboxEvents(t.Context()); total != 0 {
			t.Fatalf("%d events stored from a failed batch, want 0", total)
		}
		if rs, _ := db.RejectedInboxEvents(t.Context(), 10); len(rs) != 0 {
			t.Fatalf("%d rejects stored from a failed batch, want 0", len(rs))
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
		if !claim(t, db, "A1", at(0), at(time.Minute)) {
			t.Fatal("claim lost")
		}
		// Leased: neither due nor claimable, and A2 stays behind it.
		eqIDs(t, "due while leased", dueIDs(t, db, at(time.Second)), "B1", "G1", "G2")
		if claim(t, db, "A1", at(time.Second), at(time.Minute)) {
			t.Fatal("a leased event was claimed twice")
		}
		if dead, err := db.FailInboxEvent(t.Context(), e.ID, store.Failure{Reason: "boom", Next: at(10 * time.Second), Max: 1, Now: at(0)}); err != nil || dead {
			t.Fatal(dead, err) // not the event's fault: no quarantine, even at Max 1
		}
		e, _ = db.InboxEvent(t.Context(), "A1")
		if e.Attempts != 1 || e.Failures != 0 || e.LastError != "boom" || e.LockedUntil != nil || e.ProcessedAt != nil || e.DeadAt != nil {
			t.Fatalf("after fail: %+v", e)
		}
		// Waiting for its retry, A1 still holds A2 back.
		eqIDs(t, "due before retry", dueIDs(t, db, at(5*time.Second)), "B1", "G1", "G2")
		for _, id := range []string{"B1", "G1", "G2"} {
			x, _ := db.InboxEvent(t.Context(), id)
			if !claim(t, db, id, at(0), at(time.Minute)) {
				t.Fatalf("claim %s lost", id)
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

		if !claim(t, db, "A1", at(10*time.Second), at(time.Minute)) {
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
		if claim(t, db, "A1", at(12*time.Second), at(time.Minute)) {
			t.Fatal("a processed event was claimed")
		}
		_, err = db.FailInboxEvent(t.Context(), e.ID, store.Failure{Reason: "late", Next: at(time.Hour), Now: at(time.Hour)})
		wantErr(t, "fail a processed event", err, chat.ErrNotFound)
	})
}

func TestInboxExpiredLeaseIsTakenOver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		mustAddInbox(t, db, at(0), inboxEvent("E1", storetest.LineUserID()))
		if !claim(t, db, "E1", at(0), at(time.Minute)) {
			t.Fatal("claim")
		}
		// The worker died: NextInboxAttempt points at the lease's end.
		next, ok, err := db.NextInboxAttempt(t.Context())
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		eqTime(t, "next attempt", next, at(time.Minute))
		eqIDs(t, "due after lease", dueIDs(t, db, at(time.Minute)), "E1")
		if !claim(t, db, "E1", at(time.Minute), at(2*time.Minute)) {
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
			_, ok, err := db.ClaimInboxEvent(t.Context(), e.ID, at(0), at(time.Minute))
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

func TestInboxQuarantineAndRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		u := storetest.LineUserID()
		mustAddInbox(t, db, at(0), inboxEvent("A1", u), inboxEvent("A2", u))
		e, _ := db.InboxEvent(t.Context(), "A1")
		fail := func(n int, row bool) bool {
			t.Helper()
			if !claim(t, db, "A1", at(time.Duration(n)*time.Minute), at(time.Hour)) {
				t.Fatalf("attempt %d: claim lost", n)
			}
			dead, err := db.FailInboxEvent(t.Context(), e.ID, store.Failure{
				Reason: fmt.Sprintf("bad data %d", n), Next: at(time.Duration(n+1) * time.Minute), Row: row, Max: 3, Now: at(time.Duration(n) * time.Minute),
			})
			if err != nil {
				t.Fatal(err)
			}
			return dead
		}
		// Failures of the database do not count; the event's own do, up to 3.
		if fail(0, false) || fail(1, true) || fail(2, false) || fail(3, true) {
			t.Fatal("quarantined early")
		}
		eqIDs(t, "due while failing", dueIDs(t, db, at(10*time.Minute)), "A1")
		if !fail(4, true) {
			t.Fatal("not quarantined at the third failure of its own")
		}
		e, _ = db.InboxEvent(t.Context(), "A1")
		if e.DeadAt == nil || e.ProcessedAt == nil || e.Failures != 3 || e.Attempts != 5 || e.LastError != "bad data 4" || e.LockedUntil != nil {
			t.Fatalf("quarantined = %+v", e)
		}
		eqTime(t, "dead_at", *e.DeadAt, at(4*time.Minute))
		// Dead: not due, and A2 goes on.
		eqIDs(t, "due after quarantine", dueIDs(t, db, at(10*time.Minute)), "A2")
		dead, err := db.DeadInboxEvents(t.Context(), 10)
		if err != nil || len(dead) != 1 || dead[0].ID != e.ID || dead[0].WebhookEventID != "A1" || dead[0].Reason != "bad data 4" ||
			dead[0].LineUserID == nil || *dead[0].LineUserID != u || dead[0].Attempts != 5 {
			t.Fatalf("dead = %+v, %v", dead, err)
		}
		eqTime(t, "dead time", dead[0].At, at(4*time.Minute))

		// A retry puts it back, first of its customer again, with a fresh count.
		wantErr(t, "retry a live event", db.RetryInboxEvent(t.Context(), e.ID+1, at(11*time.Minute)), chat.ErrNotFound)
		if err := db.RetryInboxEvent(t.Context(), e.ID, at(11*time.Minute)); err != nil {
			t.Fatal(err)
		}
		eqIDs(t, "due after retry", dueIDs(t, db, at(11*time.Minute)), "A1")
		e, _ = db.InboxEvent(t.Context(), "A1")
		if e.DeadAt != nil || e.ProcessedAt != nil || e.Failures != 0 || e.Attempts != 5 {
			t.Fatalf("retried = %+v", e)
		}
		if dead, _ := db.DeadInboxEvents(t.Context(), 10); len(dead) != 0 {
			t.Fatalf("still listed dead: %+v", dead)
		}
		wantErr(t, "retry twice", db.RetryInboxEvent(t.Context(), e.ID, at(11*time.Minute)), chat.ErrNotFound)
	})
}

// The poison: a time the store can write but not read back. The
// batch is not failed by it; the claim of the row says it is unreadable
// (ErrInvalid), and the row can be failed and quarantined like any other.
func TestUnreadableInboxRowFailsAloneAndIsListed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, b := storetest.LineUserID(), storetest.LineUserID()
		poison := inboxEvent("P1", a)
		poison.EventAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		mustAddInbox(t, db, at(0), poison, inboxEvent("B1", b))
		if db.Dialect() == store.Postgres {
			// Postgres reads year 10000 back; it cannot read 'infinity' into a time.
			if _, err := db.Bun().ExecContext(t.Context(), "UPDATE line_webhook_events SET event_at = 'infinity' WHERE webhook_event_id = 'P1'"); err != nil {
				t.Fatal(err)
			}
		}
		eqIDs(t, "due", dueIDs(t, db, at(0)), "P1", "B1")
		ids, _ := db.DueInboxIDs(t.Context(), at(0), 10)
		got, ok, err := db.ClaimInboxEvent(t.Context(), ids[0], at(0), at(time.Minute))
		wantErr(t, "claim the unreadable row", err, chat.ErrInvalid)
		if !ok || got.ID != ids[0] || got.Attempts != 1 {
			t.Fatalf("claim = %+v, %v", got, ok)
		}
		if !claim(t, db, "B1", at(0), at(time.Minute)) {
			t.Fatal("the readable row was not claimed")
		}
		dead, err := db.FailInboxEvent(t.Context(), got.ID, store.Failure{Reason: err.Error(), Next: at(time.Second), Row: true, Max: 1, Now: at(0)})
		if err != nil || !dead {
			t.Fatalf("fail = %v, %v", dead, err)
		}
		letters, err := db.DeadInboxEvents(t.Context(), 10)
		if err != nil || len(letters) != 1 || letters[0].WebhookEventID != "P1" {
			t.Fatalf("dead = %+v, %v", letters, err)
		}
	})
}

func TestRejectedEventsAreCleanedAndDeduplicated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		big := strings.Repeat("x", store.MaxRejectedBody+100)
		r := store.RejectedEvent{WebhookEventID: "bad\x00id", EventType: "mess\x00age", Reason: "timestamp \xff is out of range", Body: "{\"a\":\"\x00\"}" + big}
		_, err := db.AddInboxEvents(t.Context(), nil, []store.RejectedEvent{r, r, {Reason: "no id"}, {Reason: "no id"}}, at(0))
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.RejectedInboxEvents(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%d rejects, want 3 (a redelivery of an id once, id-less ones each)", len(got))
		}
		var withID *store.RejectedEvent
		for i := range got {
			if got[i].WebhookEventID != "" {
				withID = &got[i]
			}
		}
		if withID == nil || withID.WebhookEventID != "badid" || withID.EventType != "message" ||
			withID.Reason != "timestamp  is out of range" || len(withID.Body) != store.MaxRejectedBody || strings.Contains(withID.Body, "\x00") {
			t.Fatalf("reject = %+v", withID)
		}
		eqTime(t, "received_at", withID.ReceivedAt, at(0))
	})
}

package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/webhook"
)

// rejects are the rejected events, by reason.
func (e *env) rejects() []store.RejectedEvent {
	e.t.Helper()
	rs, err := e.db.RejectedInboxEvents(context.Background(), 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// The poison: a validly signed event whose timestamp lies in the
// year 10000. It is answered 200, recorded as rejected with the reason,
// never queued, and every other customer's events keep flowing, also after
// a restart (a new worker on the same database).
func TestPoisonTimestampIsRejectedAndTheInboxFlows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b, c := storetest.LineUserID(), storetest.LineUserID(), storetest.LineUserID()
		poison := e.text(b, "from the future")
		poison["timestamp"] = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
		e.send(e.text(a, "before"), poison, e.text(c, "after"))
		if total, _ := e.inbox(); total != 2 {
			t.Fatalf("inbox holds %d events, want the 2 good ones", total)
		}
		rs := e.rejects()
		if len(rs) != 1 || rs[0].WebhookEventID != poison["webhookEventId"] || rs[0].EventType != "message" ||
			!strings.Contains(rs[0].Reason, "timestamp") || !strings.Contains(rs[0].Body, "from the future") {
			t.Fatalf("rejects = %+v", rs)
		}
		e.drain()
		if len(e.messages(a)) != 1 || len(e.messages(c)) != 1 {
			t.Fatal("the good events were not processed")
		}
		if n := e.count("customers", "line_user_id = ?", b); n != 0 {
			t.Fatal("the rejected event was processed")
		}
		// Later events, after a restart, still flow.
		e2 := newEnv(t, db)
		e2.send(e2.text(a, "later"))
		e2.drain()
		if ms := e2.messages(a); len(ms) != 2 || ms[1].Content != "later" {
			t.Fatalf("after the restart: %+v", ms)
		}
	})
}

// Every class of bad event in one batch: each good event is stored and
// processed, each bad one rejected with a reason naming the problem; the
// answer is 200; a redelivery of the batch records nothing twice.
func TestBadEventsAreRejectedOneByOneAndTheGoodOnesKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u, v := storetest.LineUserID(), storetest.LineUserID()
		nulUser := e.text(u+"\x00", "hi")
		badULID := e.text(u, "hi")
		badULID["webhookEventId"] = "E1\x00"
		badMsgID := e.text(u, "hi")
		badMsgID["message"].(map[string]any)["id"] = "m-1"
		noTime := e.text(u, "hi")
		delete(noTime, "timestamp")
		past := e.text(u, "hi")
		past["timestamp"] = 1
		future := e.text(u, "hi")
		future["timestamp"] = e.clock.Now().Add(48 * time.Hour).UnixMilli()
		badType := e.base("mess age", u)
		badURL := e.msg(u, map[string]any{"type": "image", "contentProvider": map[string]any{"type": "external", "originalContentUrl": "javascript:alert(1)"}})
		badCoords := e.msg(u, map[string]any{"type": "location", "latitude": 91, "longitude": 0})
		longPostback := e.postback(u, strings.Repeat("x", 301))
		noMessage := e.base("message", u)
		good1, good2 := e.text(u, "good one"), e.text(v, "good two")
		events := []map[string]any{good1, nulUser, badULID, badMsgID, noTime, past, future, badType, badURL, badCoords, longPostback, noMessage, good2}
		body, sig := signed(events...)
		// Events that are not objects at all, spliced into the same body.
		body = []byte(strings.Replace(string(body), `"events":[`, `"events":[42,"x",null,[1],`, 1))
		sig = webhook.Sign([]byte(secret), body)
		for range 2 { // the second time is LINE's redelivery
			if status, resp := e.post(body, sig); status != 200 {
				t.Fatalf("status %d %v, want 200", status, resp)
			}
		}
		if total, _ := e.inbox(); total != 2 {
			t.Fatalf("inbox holds %d events, want the 2 good ones", total)
		}
		rs := e.rejects()
		// 11 bad events and 4 non-objects; those with a webhookEventId once,
		// the 4 non-objects (no id) per delivery.
		if want := 11 + 2*4; len(rs) != want {
			for _, r := range rs {
				t.Logf("reject %q %q: %s", r.WebhookEventID, r.EventType, r.Reason)
			}
			t.Fatalf("%d rejects, want %d", len(rs), want)
		}
		reasons := map[string]string{}
		for _, r := range rs {
			if r.WebhookEventID != "" {
				reasons[r.WebhookEventID] = r.Reason
			}
			if strings.ContainsRune(r.Reason+r.Body+r.WebhookEventID, 0) {
				t.Fatalf("a NUL was stored: %+v", r)
			}
		}
		for ev, want := range map[string]string{
			nulUser["webhookEventId"].(string):      "source.userId",
			badMsgID["webhookEventId"].(string):     "message.id",
			noTime["webhookEventId"].(string):       "timestamp is missing",
			past["webhookEventId"].(string):         "timestamp 1 ",
			future["webhookEventId"].(string):       "timestamp",
			badType["webhookEventId"].(string):      "is not an event type",
			badURL["webhookEventId"].(string):       "URL",
			badCoords["webhookEventId"].(string):    "coordinates",
			longPostback["webhookEventId"].(string): "postback.data",
			noMessage["webhookEventId"].(string):    "without a message",
		} {
			if !strings.Contains(reasons[ev], want) {
				t.Errorf("event %s: reason %q, want it to mention %q", ev, reasons[ev], want)
			}
		}
		e.drain()
		if ms := e.messages(u); len(ms) != 1 || ms[0].Content != "good one" {
			t.Fatalf("messages of u = %+v", ms)
		}
		if ms := e.messages(v); len(ms) != 1 || ms[0].Content != "good two" {
			t.Fatalf("messages of v = %+v", ms)
		}
	})
}

func TestMalformedUserIDIsRejected(t *testing.T) {
	e := newEnv(t, sqlite(t))
	e.send(e.text("not-a-line-user", "hi"))
	if total, _ := e.inbox(); total != 0 {
		t.Fatalf("inbox holds %d events, want 0", total)
	}
	if rs := e.rejects(); len(rs) != 1 || !strings.Contains(rs[0].Reason, `source.userId "not-a-line-user"`) {
		t.Fatalf("rejects = %+v", rs)
	}
	e.drain()
	if n := e.count("customers", "1 = 1"); n != 0 {
		t.Fatal("a customer was created")
	}
}

// advanceAndDrain moves the clock past the next retry and processes.
func (e *env) advanceAndDrain(d time.Duration) {
	e.t.Helper()
	e.clock.Advance(d)
	e.drain()
}

// Invalid data is the event's own failure: retried with backoff, and after
// MaxFailures such attempts quarantined (dead, with the last error), after
// which the customer's later events go on. `inbox retry` puts it back.
func TestInvalidDataIsQuarantinedAfterMaxFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withOptions(webhook.Options{MaxFailures: 3}))
		u := storetest.LineUserID()
		bad, good := e.text(u, "bad"), e.text(u, "good")
		e.chat.failNextWith(3, fmt.Errorf("store: %w", chat.ErrInvalid))
		e.send(bad, good)
		e.drain() // failure 1, retry in 1s
		ev, _ := db.InboxEvent(context.Background(), bad["webhookEventId"].(string))
		if ev.Failures != 1 || ev.ProcessedAt != nil || ev.DeadAt != nil {
			t.Fatalf("after one failure: %+v", ev)
		}
		if ms := e.messages(u); len(ms) != 0 {
			t.Fatal("the later event overtook the failing one")
		}
		e.advanceAndDrain(time.Second)     // failure 2, retry in 2s
		e.advanceAndDrain(2 * time.Second) // failure 3: quarantined; good goes on
		ev, _ = db.InboxEvent(context.Background(), bad["webhookEventId"].(string))
		if ev.DeadAt == nil || ev.Failures != 3 || ev.Attempts != 3 || !strings.Contains(ev.LastError, "invalid input") {
			t.Fatalf("quarantined = %+v", ev)
		}
		if ms := e.messages(u); len(ms) != 1 || ms[0].Content != "good" {
			t.Fatalf("messages = %+v, want the later one", ms)
		}
		dead, err := db.DeadInboxEvents(context.Background(), 10)
		if err != nil || len(dead) != 1 || dead[0].ID != ev.ID {
			t.Fatalf("dead = %+v, %v", dead, err)
		}
		// Retried by an operator, it is processed (the injected failures are spent).
		if err := db.RetryInboxEvent(context.Background(), ev.ID, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.drain()
		if ms := e.messages(u); len(ms) != 2 || ms[1].Content != "bad" {
			t.Fatalf("after the retry: %+v", ms)
		}
	})
}

// Failures of the database or LINE say nothing about the event: however
// many there are, it is retried, never quarantined.
func TestStoreFailuresAreRetriedForever(t *testing.T) {
	e := newEnv(t, sqlite(t), withOptions(webhook.Options{MaxFailures: 2}))
	u := storetest.LineUserID()
	ev := e.text(u, "hello")
	e.chat.failNext(6) // not ErrInvalid: the database, say
	e.send(ev)
	e.drain()
	for i := range 5 {
		e.advanceAndDrain(time.Duration(1<<i) * time.Second)
	}
	got, _ := e.db.InboxEvent(context.Background(), ev["webhookEventId"].(string))
	if got.DeadAt != nil || got.Failures != 0 || got.Attempts != 6 || got.ProcessedAt != nil {
		t.Fatalf("after 6 store failures: %+v", got)
	}
	e.advanceAndDrain(32 * time.Second)
	if ms := e.messages(u); len(ms) != 1 {
		t.Fatalf("%d messages, want 1", len(ms))
	}
}

// A row that cannot be read back (stored before the door checked times,
// or changed since) fails alone: the batch it was fetched in goes on, it is
// retried, and quarantined at MaxFailures, across a restart.
func TestUnreadableRowFailsAloneAndIsQuarantined(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withOptions(webhook.Options{MaxFailures: 2}))
		a, b := storetest.LineUserID(), storetest.LineUserID()
		raw, _ := json.Marshal(e.text(a, "stored by an older server"))
		poison := store.InboxEvent{WebhookEventID: "01TESTPOISON00000000000000", EventType: "message", SourceType: "user",
			LineUserID: a, Body: raw, EventAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
		if _, err := db.AddInboxEvents(context.Background(), []store.InboxEvent{poison}, nil, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if db.Dialect() == store.Postgres {
			if _, err := db.Bun().ExecContext(context.Background(), "UPDATE line_webhook_events SET event_at = 'infinity'"); err != nil {
				t.Fatal(err)
			}
		}
		e.send(e.text(b, "fine"))
		e.drain()
		if ms := e.messages(b); len(ms) != 1 {
			t.Fatal("a readable event behind the unreadable one was not processed")
		}
		// A restart: a new worker on the same database.
		e2 := newEnv(t, db, withOptions(webhook.Options{MaxFailures: 2}))
		e2.advanceAndDrain(time.Second)
		// The row cannot be read as a whole; the quarantine list reads only
		// what the server wrote.
		dead, err := db.DeadInboxEvents(context.Background(), 10)
		if err != nil || len(dead) != 1 || dead[0].WebhookEventID != poison.WebhookEventID || dead[0].Attempts != 2 ||
			!strings.Contains(dead[0].Reason, "cannot be read back") {
			t.Fatalf("after two attempts: %+v, %v", dead, err)
		}
		e2.send(e2.text(b, "still fine"))
		e2.drain()
		if ms := e2.messages(b); len(ms) != 2 {
			t.Fatalf("%d messages of b, want 2", len(ms))
		}
	})
}

// Health tells when due events are not being attempted: no worker runs,
// or the one that does is stuck.
func TestWorkerHealth(t *testing.T) {
	e := newEnv(t, sqlite(t))
	if h := e.worker.Health(context.Background(), time.Minute); len(h) != 0 {
		t.Fatalf("empty inbox: %v", h)
	}
	e.send(e.text(storetest.LineUserID(), "hi"))
	e.clock.Advance(time.Minute)
	h := e.worker.Health(context.Background(), time.Minute)
	if len(h) != 1 || !strings.Contains(h[0], "has not been attempted for 1m0s") {
		t.Fatalf("an event due for a minute, never attempted: %v", h)
	}
	e.drain()
	if h := e.worker.Health(context.Background(), time.Minute); len(h) != 0 {
		t.Fatalf("after processing: %v", h)
	}
}

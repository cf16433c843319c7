package ws_test

import (
	"context"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/line/linefake"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// sameMessage fails unless the message_sent payloads got and want name the
// same message: id, seq, created_at and temp_id.
func sameMessage(t *testing.T, got, want map[string]any) {
	t.Helper()
	for _, k := range []string{"id", "seq", "created_at", "temp_id", "content", "line_user_id", "operator_id"} {
		if got[k] != want[k] {
			t.Fatalf("message_sent %s = %v, want %v:\ngot  %v\nwant %v", k, got[k], want[k], got, want)
		}
	}
}

// A send_message retried with its temp_id (from a new socket, as after a
// reconnect) gets the original's message_sent, with its delivery state as
// it is now; the room hears of it once and LINE gets it once.
func TestSendRetryGetsTheOriginalMessageSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		fake, ob, results := withOutbox(t, e)
		alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
		a1 := e.login(t, alice)
		cust := e.claimed(t, a1)
		a2 := e.login(t, alice) // a second tab in the room
		a2.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		a2.WaitFor("conversation_update")
		sup := e.login(t, storetest.Operator(t, e.db, "sue", chat.RoleSupervisor)) // watching
		sup.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		sup.WaitFor("conversation_update")
		settle(a1, a2, sup)

		a1.Send("send_message", map[string]any{"text": "hello", "temp_id": "t-1"})
		first := a1.Expect("message_sent").Map(t)
		if first["delivery_status"] != "pending" {
			t.Fatalf("message_sent = %v", first)
		}
		if r := nextResult(t, results); r.Status != chat.DeliverySent {
			t.Fatalf("delivery: %+v", r)
		}
		for _, c := range []*wstest.Client{a2, sup} {
			sameMessage(t, c.WaitFor("new_message").Map(t), first)
		}
		a1.WaitFor("message_ack")
		settle(a1, a2, sup)

		// The retry, from a new socket of alice's, and from the first one.
		a3 := e.login(t, alice)
		a3.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		a3.WaitFor("conversation_update")
		for _, c := range []*wstest.Client{a3, a1} {
			c.Send("send_message", map[string]any{"text": "hello", "temp_id": "t-1"})
			again := c.Expect("message_sent").Map(t)
			sameMessage(t, again, first)
			if again["delivery_status"] != "sent" {
				t.Fatalf("a retry's message_sent says %v, the message is sent", again["delivery_status"])
			}
		}
		for name, c := range map[string]*wstest.Client{"a1": a1, "a2": a2, "a3": a3, "sue": sup} {
			n := count(c.Sync())
			if n["new_message"]+n["conversation_update"]+n["message_sent"]+n["message_ack"]+n["message_failed"] != 0 {
				t.Fatalf("%s got %v after the retries, want nothing of the message", name, n)
			}
		}
		if err := ob.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := fake.Deliveries(); len(d) != 1 {
			t.Fatalf("LINE got %d pushes, want 1", len(d))
		}
		var n int
		if err := e.db.Bun().NewRaw("SELECT count(*) FROM messages WHERE temp_id = 't-1'").Scan(context.Background(), &n); err != nil || n != 1 {
			t.Fatalf("%d rows with t-1 (%v)", n, err)
		}

		// A failed message retried with its temp_id is answered failed:
		// sending it again takes a new temp_id.
		fake.FailNext(linefake.Push, linefake.Fault{Status: 400, Message: "Invalid reply"})
		a1.Send("send_message", map[string]any{"text": "are you there?", "temp_id": "t-2"})
		failed := a1.Expect("message_sent").Map(t)
		if r := nextResult(t, results); r.Status != chat.DeliveryFailed {
			t.Fatalf("delivery: %+v", r)
		}
		a1.WaitFor("message_failed")
		a1.Send("send_message", map[string]any{"text": "are you there?", "temp_id": "t-2"})
		again := a1.Expect("message_sent").Map(t)
		sameMessage(t, again, failed)
		if again["delivery_status"] != "failed" {
			t.Fatalf("the retry of a failed message says %v", again["delivery_status"])
		}
		a1.Send("send_message", map[string]any{"text": "are you there?", "temp_id": "t-3"})
		if resent := a1.Expect("message_sent").Map(t); resent["id"] == failed["id"] || resent["delivery_status"] != "pending" {
			t.Fatalf("a new temp_id answered %v", resent)
		}
	})
}

// Two tabs of one operator send one temp_id at the same time: both get the
// same message_sent, the room gets one new_message, LINE one push.
func TestConcurrentSendsOfOneTempIDOverTheSocket(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		fake, ob, results := withOutbox(t, e)
		alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
		a1 := e.login(t, alice)
		cust := e.claimed(t, a1)
		a2 := e.login(t, alice)
		a2.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		a2.WaitFor("conversation_update")
		sup := e.login(t, storetest.Operator(t, e.db, "sue", chat.RoleSupervisor))
		sup.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		sup.WaitFor("conversation_update")
		settle(a1, a2, sup)

		a1.Send("send_message", map[string]any{"text": "at once", "temp_id": "t-1"})
		a2.Send("send_message", map[string]any{"text": "at once", "temp_id": "t-1"})
		// Each tab gets its message_sent; the tab whose send was stored
		// gets no new_message, the other one (in the room too) gets it
		// once, before or after its own answer.
		var sent []map[string]any
		news := 0
		for _, c := range []*wstest.Client{a1, a2} {
			for {
				f := c.Next()
				if f.Type == "new_message" {
					news++
				}
				if f.Type == "message_sent" {
					sent = append(sent, f.Map(t))
					break
				}
			}
		}
		sameMessage(t, sent[1], sent[0])
		nextResult(t, results)
		if err := ob.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		sameMessage(t, sup.WaitFor("new_message").Map(t), sent[0])
		if n := count(sup.Sync())["new_message"]; n != 0 {
			t.Fatalf("the watcher got %d more new_message", n)
		}
		for _, c := range []*wstest.Client{a1, a2} {
			n := count(c.Sync())
			news += n["new_message"]
			if n["message_sent"] != 0 {
				t.Fatalf("a tab got %d more message_sent", n["message_sent"])
			}
		}
		if news != 1 {
			t.Fatalf("alice's two tabs got %d new_message, want 1 (the tab that did not store it)", news)
		}
		if d := fake.Deliveries(); len(d) != 1 {
			t.Fatalf("LINE got %d pushes, want 1", len(d))
		}
	})
}

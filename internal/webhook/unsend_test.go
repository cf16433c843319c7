package webhook_test

import (
	"encoding/json"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// A customer's unsend clears its message (content gone, payload down to
// its LINE id, seq kept) and tells the operators once; a retried unsend
// changes nothing, nor does the retried message event, nor an unsend of a
// message never stored; a malformed unsend is refused at the door.
func TestUnsendClearsTheMessage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := storetest.LineUserID()
		e.send(e.follow(u))
		first := e.text(u, "my card number is 4111")
		e.send(first, e.text(u, "and the rest"))
		e.drain()
		before := e.messages(u)
		if len(before) != 2 {
			t.Fatalf("messages: %+v", before)
		}
		lineID := first["message"].(map[string]any)["id"].(string)
		unsend := func(id string) map[string]any {
			ev := e.base("unsend", u)
			delete(ev, "replyToken")
			ev["unsend"] = map[string]any{"messageId": id}
			return ev
		}
		ev := unsend(lineID)
		e.send(ev)
		e.drain()
		after := e.messages(u)
		m := after[0]
		var payload map[string]any
		_ = json.Unmarshal(m.Payload, &payload)
		if m.ID != before[0].ID || m.Seq != before[0].Seq || m.Content != "" || m.UnsentAt == nil ||
			len(payload) != 1 || payload["line_message_id"] != lineID {
			t.Fatalf("unsent message: %+v (payload %s)", m, m.Payload)
		}
		if after[1].Content != "and the rest" || after[1].UnsentAt != nil {
			t.Fatalf("the other message: %+v", after[1])
		}
		if n := e.count("messages", "content LIKE ?", "%4111%"); n != 0 {
			t.Fatalf("%d messages still hold the unsent text", n)
		}
		if n := e.count("line_webhook_events", "body LIKE ?", "%4111%"); n != 0 {
			t.Fatalf("%d inbox events still hold the unsent text", n)
		}
		if n := e.count("line_webhook_events", "body LIKE ?", "%and the rest%"); n != 1 {
			t.Fatalf("the other message's inbox copy: %d, want kept", n)
		}
		e.notes.mu.Lock()
		notes := append([]chat.Message(nil), e.notes.unsent...)
		e.notes.mu.Unlock()
		if len(notes) != 1 || notes[0].ID != m.ID || notes[0].Seq != m.Seq {
			t.Fatalf("unsent notes: %+v", notes)
		}

		// The same unsend again (LINE redelivers), the original message
		// event again, and an unsend of a message never stored.
		first["webhookEventId"] = e.base("message", u)["webhookEventId"] // as a new event
		e.send(unsend(lineID), first, unsend("468000009999999999"))
		e.drain()
		if got := e.messages(u); len(got) != 2 || got[0].Content != "" || got[0].UnsentAt == nil {
			t.Fatalf("after the retries: %+v", got)
		}
		e.notes.mu.Lock()
		n := len(e.notes.unsent)
		e.notes.mu.Unlock()
		if n != 1 {
			t.Fatalf("%d unsent notes after the retries, want 1", n)
		}
		if n := e.count("line_webhook_events", "body LIKE ?", "%4111%"); n != 0 {
			t.Fatalf("%d inbox events hold the unsent text after the message event came again", n)
		}

		// An unsend before its message is stored (the message event
		// retried or quarantined, coming after it): the message is never
		// stored, and its raw copy is cut.
		late := e.text(u, "late secret 9753")
		e.send(unsend(late["message"].(map[string]any)["id"].(string)))
		e.drain()
		e.send(late)
		e.drain()
		if got := e.messages(u); len(got) != 2 {
			t.Fatalf("a message unsent before it was stored was stored: %+v", got)
		}
		if n := e.count("line_webhook_events", "body LIKE ?", "%9753%"); n != 0 {
			t.Fatalf("%d inbox events hold the text of a message unsent before it was stored", n)
		}
		if total, pending := e.inbox(); pending != 0 || total == 0 {
			t.Fatalf("inbox: %d events, %d pending", total, pending)
		}
		if dead := e.count("line_webhook_events", "dead_at IS NOT NULL"); dead != 0 {
			t.Fatalf("%d events dead", dead)
		}

		bad := e.base("unsend", u)
		bad["unsend"] = map[string]any{"messageId": "not an id"}
		e.send(bad)
		e.drain()
		if n := e.count("line_webhook_rejects", "event_type = ?", "unsend"); n != 1 {
			t.Fatalf("%d malformed unsends rejected, want 1", n)
		}
	})
}

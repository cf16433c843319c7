package rest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// ids lists the line_user_ids of an inbox page, in order.
func ids(t testing.TB, body map[string]any) []string {
	t.Helper()
	var out []string
	for _, c := range list(t, body, "conversations") {
		out = append(out, c["line_user_id"].(string))
	}
	return out
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestListConversations(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		alice := e.operator(t, "alice", chat.RoleAgent)
		bob := e.operator(t, "bob", chat.RoleAgent)
		tok := e.token(t, alice)

		// Oldest activity first: bot (2 messages), closed, waiting, active.
		bot := storetest.Customer(t, db)
		e.incoming(t, bot, "hello")
		e.incoming(t, bot, "anyone?")
		closed := e.active(t, alice)
		if _, err := e.svc.Close(ctx, alice, closed.LineUserID); err != nil {
			t.Fatal(err)
		}
		waiting := e.waiting(t)
		active := e.active(t, alice)

		body := e.call(t, "GET", lc+"conversations", tok, nil).expect(t, 200)
		if got, want := ids(t, body), []string{active.LineUserID, waiting.LineUserID, closed.LineUserID, bot.LineUserID}; !equal(got, want) {
			t.Fatalf("order %v, want %v", got, want)
		}
		if num(t, body["waiting_count"]) != 1 || num(t, body["active_count"]) != 1 {
			t.Errorf("counts waiting %v active %v", body["waiting_count"], body["active_count"])
		}
		if _, ok := body["next_cursor"]; ok {
			t.Errorf("next_cursor on the only page: %v", body["next_cursor"])
		}
		rows := list(t, body, "conversations")
		a := rows[0]
		if a["display_name"] != "Customer" || a["chat_mode"] != "HUMAN" || a["friend_status"] != "ACTIVE" || num(t, a["unread_count"]) != 1 {
			t.Errorf("active row %v", a)
		}
		s := a["session"].(map[string]any)
		if s["status"] != "ACTIVE" || num(t, s["operator_id"]) != alice.ID || s["line_user_id"] != active.LineUserID {
			t.Errorf("active session %v", s)
		}
		last := a["last_message"].(map[string]any)
		if last["content"] != "I need a human" || num(t, last["seq"]) != 1 || last["created_at"] == "" {
			t.Errorf("last_message %v", last)
		}
		if w := rows[1]["session"].(map[string]any); w["status"] != "WAITING" || w["operator_id"] != nil {
			t.Errorf("waiting session %v", w)
		}
		if c := rows[2]; c["chat_mode"] != "BOT" || c["session"].(map[string]any)["closed_by"] != "OPERATOR" {
			t.Errorf("closed row %v", c)
		}
		if b := rows[3]; b["session"] != nil || num(t, b["unread_count"]) != 2 || b["last_message"].(map[string]any)["content"] != "anyone?" {
			t.Errorf("bot row %v", b)
		}

		// Filters.
		for status, want := range map[string][]string{
			"WAITING": {waiting.LineUserID},
			"ACTIVE":  {active.LineUserID},
			"CLOSED":  {closed.LineUserID},
			"BOT":     {closed.LineUserID, bot.LineUserID},
		} {
			got := ids(t, e.call(t, "GET", lc+"conversations?status="+status, tok, nil).expect(t, 200))
			if !equal(got, want) {
				t.Errorf("status=%s: %v, want %v", status, got, want)
			}
		}

		// Pagination: pages of 3 then 1, nothing repeated or lost.
		p1 := e.call(t, "GET", lc+"conversations?limit=3", tok, nil).expect(t, 200)
		cursor, _ := p1["next_cursor"].(string)
		if cursor == "" || len(ids(t, p1)) != 3 {
			t.Fatalf("first page %v", p1)
		}
		p2 := e.call(t, "GET", lc+"conversations?limit=3&cursor="+cursor, tok, nil).expect(t, 200)
		if got := append(ids(t, p1), ids(t, p2)...); !equal(got, ids(t, body)) {
			t.Errorf("pages %v, want %v", got, ids(t, body))
		}
		if _, ok := p2["next_cursor"]; ok {
			t.Errorf("next_cursor on the last page")
		}

		// Unread follows the reader's own marker: opening the conversation
		// clears it for alice, not for bob.
		e.call(t, "GET", lc+"conversations/"+bot.LineUserID, tok, nil).expect(t, 200)
		e.incoming(t, bot, "still there?")
		unread := func(tok string) int64 {
			rows := list(t, e.call(t, "GET", lc+"conversations?status=BOT&limit=1", tok, nil).expect(t, 200), "conversations")
			if rows[0]["line_user_id"] != bot.LineUserID {
				t.Fatalf("bot is not the latest: %v", rows[0])
			}
			return num(t, rows[0]["unread_count"])
		}
		if got := unread(tok); got != 1 {
			t.Errorf("alice unread %d, want 1", got)
		}
		if got := unread(e.token(t, bob)); got != 3 {
			t.Errorf("bob unread %d, want 3", got)
		}

		// Bad input.
		e.call(t, "GET", lc+"conversations?status=OPEN", tok, nil).expectError(t, 400, "validation_error", "status")
		e.call(t, "GET", lc+"conversations?limit=0", tok, nil).expectError(t, 400, "validation_error", "limit")
		e.call(t, "GET", lc+"conversations?limit=101", tok, nil).expectError(t, 400, "validation_error", "limit")
		e.call(t, "GET", lc+"conversations?limit=ten", tok, nil).expectError(t, 400, "validation_error", "limit")
		e.call(t, "GET", lc+"conversations?cursor=%21%21", tok, nil).expectError(t, 400, "validation_error", "cursor")
	})
}

func TestConversationDetail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		alice := e.operator(t, "alice", chat.RoleAgent)
		c := e.active(t, alice)
		for i := 2; i <= 60; i++ {
			e.incoming(t, c, fmt.Sprintf("message %d", i))
		}
		tok := e.token(t, alice)
		if n, _ := db.Unread(ctx, alice.ID, c.LineUserID); n != 60 {
			t.Fatalf("unread before %d", n)
		}

		body := e.call(t, "GET", lc+"conversations/"+c.LineUserID, tok, nil).expect(t, 200)
		if body["line_user_id"] != c.LineUserID || body["display_name"] != "Customer" || body["chat_mode"] != "HUMAN" ||
			body["friend_status"] != "ACTIVE" || num(t, body["last_seq"]) != 60 {
			t.Errorf("detail %v", body)
		}
		if s := body["session"].(map[string]any); s["status"] != "ACTIVE" || num(t, s["operator_id"]) != alice.ID {
			t.Errorf("session %v", s)
		}
		msgs := list(t, body, "messages")
		if len(msgs) != 50 || num(t, msgs[0]["seq"]) != 11 || num(t, msgs[49]["seq"]) != 60 {
			t.Fatalf("%d messages, %v..%v", len(msgs), msgs[0]["seq"], msgs[len(msgs)-1]["seq"])
		}
		m := msgs[49]
		if m["content"] != "message 60" || m["direction"] != "INCOMING" || m["sender_role"] != "USER" || m["message_type"] != "text" ||
			m["line_user_id"] != c.LineUserID || num(t, m["session_id"]) == 0 || m["created_at"] != t0.Add(60*time.Minute).Format(time.RFC3339) {
			t.Errorf("message %v", m)
		}
		for _, k := range []string{"operator_id", "operator_name", "delivery_status", "payload", "temp_id"} {
			if _, ok := m[k]; ok {
				t.Errorf("incoming message has %s: %v", k, m)
			}
		}
		// Opening it marked it read.
		if n, _ := db.Unread(ctx, alice.ID, c.LineUserID); n != 0 {
			t.Errorf("unread after %d", n)
		}

		// A customer without a session or messages.
		quiet := storetest.Customer(t, db)
		q := e.call(t, "GET", lc+"conversations/"+quiet.LineUserID, tok, nil).expect(t, 200)
		if _, ok := q["session"]; ok || len(list(t, q, "messages")) != 0 || num(t, q["last_seq"]) != 0 {
			t.Errorf("quiet detail %v", q)
		}

		e.call(t, "GET", lc+"conversations/U123", tok, nil).expectError(t, 400, "validation_error", "line_user_id")
		e.call(t, "GET", lc+"conversations/"+storetest.LineUserID(), tok, nil).expectError(t, 404, "customer_not_found")
	})
}

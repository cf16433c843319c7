package ws_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// count returns how many frames of each type are in fs.
func count(fs []wstest.Frame) map[string]int {
	n := map[string]int{}
	for _, f := range fs {
		n[f.Type]++
	}
	return n
}

func only(t *testing.T, who string, fs []wstest.Frame, want map[string]int) []wstest.Frame {
	t.Helper()
	got := count(fs)
	for typ, n := range want {
		if got[typ] != n {
			t.Fatalf("%s got %d %s (frames %v), want %d", who, got[typ], typ, got, n)
		}
	}
	for typ := range got {
		if _, ok := want[typ]; !ok {
			t.Fatalf("%s got unexpected %s (frames %v)", who, typ, got)
		}
	}
	return fs
}

func find(t *testing.T, fs []wstest.Frame, typ string) map[string]any {
	t.Helper()
	for _, f := range fs {
		if f.Type == typ {
			return f.Map(t)
		}
	}
	t.Fatalf("no %s in %v", typ, count(fs))
	return nil
}

// ofType returns the frames of type typ, in order.
func ofType(fs []wstest.Frame, typ string) []wstest.Frame {
	var out []wstest.Frame
	for _, f := range fs {
		if f.Type == typ {
			out = append(out, f)
		}
	}
	return out
}

// TestTwoOperatorsTwoTabs is the core flow: join, claim with a loser, send
// with the ack, transfer, close; on SQLite and on Postgres.
func TestTwoOperatorsTwoTabs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		cust := e.waiting(t)
		uid := cust.LineUserID

		a1, a2 := e.login(t, alice), e.login(t, alice)
		b1, b2 := e.login(t, bob), e.login(t, bob)
		all := []*wstest.Client{a1, a2, b1, b2}
		for _, c := range all {
			c.Sync() // drain presence updates
		}

		// Joins: operator_joined only for an operator's first tab, only to others.
		a1.Send("join_room", map[string]any{"line_user_id": uid})
		cu := a1.Expect("conversation_update").Map(t)
		if cu["line_user_id"] != uid || cu["session"].(map[string]any)["status"] != "WAITING" {
			t.Fatalf("join view = %v", cu)
		}
		a2.Send("join_room", map[string]any{"line_user_id": uid})
		a2.Expect("conversation_update")
		a2.Sync()
		only(t, "a1 after a2 joined", a1.Sync(), map[string]int{})
		b1.Send("join_room", map[string]any{"line_user_id": uid})
		b1.Expect("conversation_update")
		only(t, "b1 after own join", b1.Sync(), map[string]int{}) // b1's handler has finished
		for _, c := range []*wstest.Client{a1, a2} {
			j := find(t, only(t, "alice tab after bob joined", c.Sync(), map[string]int{"operator_joined": 1}), "operator_joined")
			if j["admin_id"] != idStr(bob.ID) || j["room_id"] != "conversation:"+uid {
				t.Fatalf("operator_joined = %v", j)
			}
		}
		b2.Send("join_room", map[string]any{"line_user_id": uid})
		b2.Expect("conversation_update")
		b2.Sync()
		only(t, "a1 after b2 joined", a1.Sync(), map[string]int{})

		// Claim: A wins, B loses with a distinct code. The presence push
		// (bob's connect and alice's active chat) goes out within the second.
		a1.Send("claim_session", nil)
		handled := a1.Sync()
		e.clock.Advance(presenceInterval)
		for i, c := range all {
			fs := c.Sync()
			if c == a1 {
				fs = append(handled, fs...)
			}
			sc := find(t, only(t, fmt.Sprintf("client %d after claim", i), fs, map[string]int{"session_claimed": 1, "presence_update": 1}), "session_claimed")
			if sc["operator_id"] != float64(alice.ID) || sc["status"] != "ACTIVE" || sc["line_user_id"] != uid {
				t.Fatalf("session_claimed = %v", sc)
			}
		}
		b1.Send("claim_session", map[string]any{"line_user_id": uid})
		b1.ExpectError("session_already_claimed")

		// B may not send in A's session.
		b1.Send("send_message", map[string]any{"text": "me too", "temp_id": "b-1"})
		if p := b1.ExpectError("forbidden"); p["temp_id"] != "b-1" {
			t.Fatalf("error lacks temp_id: %v", p)
		}

		// Send: the sending tab gets message_sent; every other tab new_message, once.
		a1.Send("send_message", map[string]any{"text": "  Hello <b>&</b>\nline 2\x07  ", "temp_id": "a-1"})
		ms := a1.Expect("message_sent").Map(t)
		if ms["temp_id"] != "a-1" || ms["content"] != "Hello <b>&</b>\nline 2" || ms["direction"] != "OUTGOING" || ms["sender_role"] != "ADMIN" {
			t.Fatalf("message_sent = %v", ms)
		}
		if ms["seq"] != float64(1) || ms["operator_id"] != float64(alice.ID) {
			t.Fatalf("message_sent seq/operator = %v/%v", ms["seq"], ms["operator_id"])
		}
		// LINE took it: message_ack to every tab of the sender, nobody else.
		ack := find(t, only(t, "a1 after send", a1.Sync(), map[string]int{"message_ack": 1}), "message_ack")
		if ack["message_id"] != ms["id"] || ack["temp_id"] != "a-1" || ack["delivery_status"] != "sent" || ack["line_user_id"] != uid {
			t.Fatalf("message_ack = %v", ack)
		}
		for _, c := range []*wstest.Client{a2, b1, b2} {
			want := map[string]int{"new_message": 1}
			if c == a2 {
				want["message_ack"] = 1
			}
			nm := find(t, only(t, "room after send", c.Sync(), want), "new_message")
			if nm["id"] != ms["id"] || nm["seq"] != ms["seq"] {
				t.Fatalf("new_message %v differs from message_sent %v", nm, ms)
			}
		}
		if got := e.out.Delivered(); len(got) != 1 || got[0].Content != "Hello <b>&</b>\nline 2" {
			t.Fatalf("delivered %+v", got)
		}

		// Transfer A → B, B replies, A no longer may.
		a1.Send("transfer_session", map[string]any{"to_operator_id": bob.ID, "reason": "billing"})
		for _, c := range all {
			st := find(t, c.Sync(), "session_transferred")
			if st["from_operator_id"] != float64(alice.ID) || st["to_operator_id"] != float64(bob.ID) || st["reason"] != "billing" {
				t.Fatalf("session_transferred = %v", st)
			}
		}
		b2.Sync()
		b2.Send("send_message", map[string]any{"text": "Bob here"})
		if m := b2.Expect("message_sent").Map(t); m["seq"] != float64(2) {
			t.Fatalf("second message seq = %v", m["seq"])
		}
		b2.Sync()
		if fs := a2.Sync(); count(fs)["new_message"] != 1 {
			t.Fatalf("a2 did not see bob's message once: %v", count(fs))
		}
		a2.Send("send_message", map[string]any{"text": "still me?"})
		a2.ExpectError("forbidden")

		// B closes.
		b1.Send("close_session", nil)
		for _, c := range []*wstest.Client{b1, a1, a2, b2} { // the actor first: its handler has then finished
			sc := find(t, c.Sync(), "session_closed")
			if sc["closed_by"] != "OPERATOR" || sc["operator_id"] != float64(bob.ID) {
				t.Fatalf("session_closed = %v", sc)
			}
		}
		got, err := db.Customer(context.Background(), uid)
		if err != nil || got.ChatMode != chat.ModeBot {
			t.Fatalf("customer after close: %+v %v", got, err)
		}
		b1.Send("close_session", nil)
		b1.ExpectError("session_not_found")

		// Leaving: operator_left when an operator's last tab leaves.
		a1.Send("leave_room", nil)
		a1.Sync()
		only(t, "b1 after a1 left", b1.Sync(), map[string]int{})
		a2.Close()
		left := b1.WaitFor("operator_left").Map(t)
		if left["admin_id"] != idStr(alice.ID) {
			t.Fatalf("operator_left = %v", left)
		}
	})
}

// TestClaimRace: 50 operators claim the same session at once; one wins.
func TestClaimRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		uid := e.waiting(t).LineUserID
		const n = 50
		clients := make([]*wstest.Client, n)
		for i := range n {
			op := storetest.Operator(t, db, fmt.Sprintf("op%02d", i), chat.RoleAgent)
			clients[i] = e.login(t, op)
			clients[i].Send("join_room", map[string]any{"line_user_id": uid})
			clients[i].WaitFor("conversation_update")
		}
		var start sync.WaitGroup
		start.Add(1)
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				c.Send("claim_session", nil)
			}()
		}
		start.Done()
		wg.Wait()
		losers, other := 0, 0
		var sc map[string]any
		for _, c := range clients {
			for _, f := range c.Sync() {
				if f.Type == "session_claimed" {
					sc = f.Map(t)
				}
				if f.Type == "error" {
					if f.Map(t)["code"] == "session_already_claimed" {
						losers++
					} else {
						other++
					}
				}
			}
		}
		if losers != n-1 || other != 0 {
			t.Fatalf("%d losers and %d other errors, want %d and 0", losers, other, n-1)
		}
		if sc == nil { // the broadcast may trail the losers' replies
			sc = clients[0].WaitFor("session_claimed").Map(t)
		}
		s, err := db.OpenSession(context.Background(), uid)
		if err != nil || s.Status != chat.StatusActive || s.OperatorID == nil || float64(*s.OperatorID) != sc["operator_id"] {
			t.Fatalf("stored session %+v (%v), broadcast %v", s, err, sc)
		}
	})
}

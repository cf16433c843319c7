package ws_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"livechat/internal/bus"
	"livechat/internal/bus/redistest"
	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// Two instances on one database and one Redis (a redis-server of the
// test's own). A message reaches the sender's other tab on its instance
// and a watcher on the other instance, once each; with Redis stopped, the
// sender's instance goes on: the send is acknowledged and its other tab
// gets new_message (issue 9: it never did, as local delivery went through
// Redis).
func TestLocalDeliveryWithRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	db := sqlite(t)
	open := func(instance string) *env {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rb, err := bus.NewRedis(ctx, srv.URL, "livechat:test:ws", slog.New(slog.DiscardHandler), bus.RedisOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return newEnvOn(t, db, db, rb, func(o *ws.Options) { o.InstanceID = instance })
	}
	e1, e2 := open("one"), open("two")
	alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
	uid := e1.waiting(t).LineUserID

	a1, a2 := e1.login(t, alice), e1.login(t, alice)
	b1 := e2.login(t, bob)
	for _, c := range []*wstest.Client{a1, a2, b1} {
		c.Send("join_room", map[string]any{"line_user_id": uid})
		c.WaitFor("conversation_update")
	}
	a1.Send("claim_session", nil)
	a1.WaitFor("session_claimed")

	send := func(text, tempID string) float64 {
		t.Helper()
		a1.Send("send_message", map[string]any{"text": text, "temp_id": tempID})
		seq := a1.WaitFor("message_sent").Map(t)["seq"].(float64)
		nm := a2.WaitFor("new_message").Map(t)
		if nm["content"] != text || nm["seq"] != seq {
			t.Fatalf("a2's new_message = %v, want %q seq %v", nm, text, seq)
		}
		return seq
	}
	seq := send("with Redis up", "t-1")
	if nm := b1.WaitFor("new_message").Map(t); nm["content"] != "with Redis up" || nm["seq"] != seq {
		t.Fatalf("b1's new_message = %v", nm)
	}

	srv.Stop()
	send("with Redis down", "t-2")
	send("still down", "t-3")
	for _, f := range a2.Sync() {
		if f.Type == "new_message" || f.Type == "error" {
			t.Fatalf("a2 got %s %s after the sends with Redis down", f.Type, f.Payload)
		}
	}
}

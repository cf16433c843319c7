package ws_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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

// Room traffic travels on a channel per room (issue 9: instances receive
// only what they need): while instance two has no socket in a room, its
// bus receives none of the room's frames from instance one, though it
// gets the all-operator ones; once a socket there joins, the room's next
// message reaches it.
func TestRoomFramesStayOffInstancesWithoutTheRoom(t *testing.T) {
	url := redistest.URL(t)
	channel := "livechat:test:rooms:" + t.Name()
	db := sqlite(t)
	buses := map[string]*bus.Redis{}
	open := func(instance string) *env {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rb, err := bus.NewRedis(ctx, url, channel, slog.New(slog.DiscardHandler), bus.RedisOptions{})
		if err != nil {
			t.Fatal(err)
		}
		buses[instance] = rb
		return newEnvOn(t, db, db, rb, func(o *ws.Options) { o.InstanceID = instance })
	}
	e1, e2 := open("one"), open("two")
	uid := e1.waiting(t).LineUserID

	// What instance two's bus receives from instance one.
	var mu sync.Mutex
	var roomFrames, allFrames int
	marker := make(chan struct{}, 1)
	buses["two"].Subscribe(func(m bus.Message) {
		if m.Origin != "one" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case m.Audience.Kind == bus.Room && m.Audience.Room == uid:
			roomFrames++
		case m.Audience.Kind == bus.All:
			allFrames++
		case m.Audience.Kind == bus.Operator && m.Audience.OperatorID == -1:
			marker <- struct{}{}
		}
	})
	counts := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return roomFrames, allFrames
	}

	alice := e1.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
	bob := e2.login(t, storetest.Operator(t, db, "bob", chat.RoleAgent))
	alice.Send("join_room", map[string]any{"line_user_id": uid})
	alice.WaitFor("conversation_update")
	alice.Send("claim_session", nil)
	alice.WaitFor("session_claimed")
	bob.WaitFor("session_claimed") // an all-operator frame crosses
	const n = 20
	for i := range n {
		alice.Send("typing_start", nil)
		alice.Send("send_message", map[string]any{"text": fmt.Sprintf("m%d", i), "temp_id": fmt.Sprintf("t-%d", i)})
		alice.WaitFor("message_sent")
	}
	// A marker for nobody, published after it all: once instance two has
	// it, it has had whatever instance one published before.
	if err := buses["one"].Publish(context.Background(), bus.Message{Origin: "one", Audience: bus.Audience{Kind: bus.Operator, OperatorID: -1}, Frame: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-marker:
	case <-time.After(10 * time.Second):
		t.Fatal("the marker did not reach instance two within 10s")
	}
	room, all := counts()
	t.Logf("instance two, no socket in the room: %d of the room's frames received (%d messages, typing, joins), %d all-operator frames", room, n, all)
	if room != 0 || all == 0 {
		t.Fatalf("instance two received %d room frames and %d all-operator frames, want 0 and some", room, all)
	}

	bob.Send("join_room", map[string]any{"line_user_id": uid})
	bob.WaitFor("conversation_update")
	alice.Send("send_message", map[string]any{"text": "after bob joined", "temp_id": "t-last"})
	seq := alice.WaitFor("message_sent").Map(t)["seq"]
	if nm := bob.WaitFor("new_message").Map(t); nm["content"] != "after bob joined" || nm["seq"] != seq {
		t.Fatalf("bob's new_message = %v, want seq %v", nm, seq)
	}
	if room, _ := counts(); room == 0 {
		t.Fatal("instance two's bus got no room frame with a socket in the room")
	}
}

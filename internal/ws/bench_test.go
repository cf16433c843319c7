package ws_test

import (
	"context"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/outbox"
	"livechat/internal/store/storetest"
)

// BenchmarkSendPath measures an operator message end to end on SQLite:
// clean, persist with its seq, ack, fan out as new_message to 10 sockets in
// the room (real WebSocket clients, every frame validated against the spec),
// and hand to the outbound channel. The clock stops when every member has
// received every message.
func BenchmarkSendPath(b *testing.B) {
	b.Run("sync", func(b *testing.B) { benchSendPath(b, false) })
	// With the LINE outbox pushing to the fake LINE, as the server runs.
	b.Run("outbox", func(b *testing.B) { benchSendPath(b, true) })
}

func benchSendPath(b *testing.B, withLINE bool) {
	e := newEnv(b, storetest.Open(b, "sqlite"))
	if withLINE {
		fake := linefake.New("tok")
		base := fake.Start()
		ob := outbox.New(e.db, line.NewClient(base, base, "tok", nil), e.hub, e.clock, nil, outbox.Config{})
		e.svc.SetEnqueuer(ob)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- ob.Run(ctx) }()
		b.Cleanup(func() {
			cancel()
			<-done
			fake.Close()
		})
	}
	op := storetest.Operator(b, e.db, "sender", chat.RoleAgent)
	cust := e.waiting(b)
	if _, err := e.svc.Claim(context.Background(), op, cust.LineUserID); err != nil {
		b.Fatal(err)
	}
	const members = 10
	clients := make([]*wstest.Client, members)
	for i := range members {
		viewer := storetest.Operator(b, e.db, "viewer"+idStr(int64(i)), chat.RoleAgent)
		clients[i] = e.login(b, viewer)
		clients[i].Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		clients[i].WaitFor("conversation_update")
	}
	for _, c := range clients {
		c.Sync()
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if _, err := e.svc.SendMessage(ctx, chat.SendRequest{Actor: op, LineUserID: cust.LineUserID, Text: "hello there, how can I help?"}); err != nil {
			b.Fatal(err)
		}
		n++
		if n%200 == 0 { // keep the clients' buffers bounded
			drain(b, clients, 200)
		}
	}
	drain(b, clients, n%200)
}

func drain(b *testing.B, clients []*wstest.Client, n int) {
	for _, c := range clients {
		for range n {
			c.WaitFor("new_message")
		}
	}
}

package ws_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// TestWriterFlushesOncePerDrain: frames that queue up while the writer is
// busy go out in one write to the socket, not one write each.
func TestWriterFlushesOncePerDrain(t *testing.T) {
	e := newEnv(t, sqlite(t))
	ln := &gatedListener{Listener: newLocalListener(t), entered: make(chan struct{}, 1)}
	srv := httptest.NewUnstartedServer(e.hub)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	op := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	c := wstest.Dial(t, wstest.URL(srv.URL), nil)
	c.Send("auth", map[string]any{"token": e.token(t, op.ID)})
	c.Expect("auth_success")
	c.WaitFor("presence_update")
	cust := e.waiting(t)
	c.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	c.WaitFor("conversation_update")
	c.Sync()

	sock := ln.last()
	sock.close() // the next write blocks until open
	ctx := context.Background()
	msg := func(id int64) chat.Message {
		return chat.Message{ID: id, LineUserID: cust.LineUserID, Seq: id, Direction: chat.Outgoing, MessageType: "text",
			Content: "hello", SenderRole: chat.SenderAdmin, DeliveryStatus: chat.DeliveryPending, CreatedAt: e.clock.Now()}
	}
	e.hub.MessageStored(ctx, msg(1), "", "")
	<-ln.entered // the writer is in its write of message 1
	const queued = 20
	for id := int64(2); id <= 1+queued; id++ {
		e.hub.MessageStored(ctx, msg(id), "", "")
	}
	before := sock.writes() // with the blocked one
	sock.open()
	for id := 1; id <= 1+queued; id++ {
		if got := c.Expect("new_message").Map(t)["id"]; got != float64(id) {
			t.Fatalf("new_message id %v, want %d (in order)", got, id)
		}
	}
	// One write for the 20 queued behind the blocked one.
	if n := sock.writes() - before; n != 1 {
		t.Fatalf("%d writes to the socket for %d queued frames, want 1", n, queued)
	}
}

func newLocalListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// gatedListener accepts connections whose writes it counts and can hold up.
type gatedListener struct {
	net.Listener
	entered chan struct{} // a write waits at a closed gate

	mu    sync.Mutex
	conns []*gatedConn
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	g := &gatedConn{Conn: c, entered: l.entered, gate: make(chan struct{})}
	close(g.gate)
	l.mu.Lock()
	l.conns = append(l.conns, g)
	l.mu.Unlock()
	return g, nil
}

func (l *gatedListener) last() *gatedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[len(l.conns)-1]
}

type gatedConn struct {
	net.Conn
	entered chan struct{}

	mu   sync.Mutex
	gate chan struct{} // closed: writes pass
	n    int           // Write calls
}

func (c *gatedConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate = make(chan struct{})
}

func (c *gatedConn) open() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.gate)
}

func (c *gatedConn) writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *gatedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.n++
	gate := c.gate
	c.mu.Unlock()
	select {
	case <-gate:
	default:
		c.entered <- struct{}{}
		select {
		case <-gate:
		case <-time.After(wstest.Timeout): // the test has failed; do not hang
		}
	}
	return c.Conn.Write(p)
}

// TestConcurrentBroadcastsReachEverySocketInOrder: broadcasts published
// from several goroutines at once reach every socket of the room, each
// once, every publisher's in its order, while writers start and end.
func TestConcurrentBroadcastsReachEverySocketInOrder(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.SendQueue = 1024 })
	cust := e.waiting(t)
	var watchers []*wstest.Client
	for i := range 5 {
		c := e.login(t, storetest.Operator(t, e.db, fmt.Sprintf("w%d", i), chat.RoleAgent))
		c.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		c.WaitFor("conversation_update")
		watchers = append(watchers, c)
	}
	settle(watchers...)
	const publishers, each = 4, 100
	ctx := context.Background()
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				id := int64(p*each + i + 1) // publisher p's ids ascend
				e.hub.MessageStored(ctx, chat.Message{ID: id, LineUserID: cust.LineUserID, Seq: id, Direction: chat.Outgoing, MessageType: "text",
					Content: "hello", SenderRole: chat.SenderAdmin, DeliveryStatus: chat.DeliveryPending, CreatedAt: e.clock.Now()}, "", "")
			}
		})
	}
	wg.Wait()
	for w, c := range watchers {
		last := make([]int64, publishers)
		for range publishers * each {
			id := int64(c.Expect("new_message").Map(t)["id"].(float64))
			p := (id - 1) / each
			if id <= last[p] {
				t.Fatalf("watcher %d: id %d after %d from publisher %d", w, id, last[p], p)
			}
			last[p] = id
		}
		only(t, fmt.Sprintf("watcher %d after all", w), c.Sync(), map[string]int{})
	}
}

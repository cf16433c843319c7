package ws_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/outbox"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
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

// BenchmarkFanout measures the server side of one broadcast: a new_message
// (MessageStored, as after a commit) to the sockets of a room, from the
// encoding to the socket writes. The watchers are raw readers that count
// bytes and parse nothing, so the figures are the server's: ns/op and
// allocs/op per broadcast, and writes/op, the process's write syscalls
// per broadcast (from /proc/self/io; the readers make none).
func BenchmarkFanout(b *testing.B) {
	for _, k := range []int{10, 100} {
		b.Run("watchers="+strconv.Itoa(k), func(b *testing.B) { benchFanout(b, k) })
	}
}

func benchFanout(b *testing.B, watchers int) {
	e := newEnv(b, storetest.Open(b, "sqlite"), func(o *ws.Options) { o.SendQueue = 1024 })
	cust := storetest.Customer(b, e.db)
	ctx := context.Background()
	opID := int64(1)
	m := chat.Message{
		ID: 1, LineUserID: cust.LineUserID, Seq: 1, Direction: chat.Outgoing, MessageType: "text",
		Content: strings.Repeat("x", 64), SenderRole: chat.SenderAdmin, OperatorID: &opID, OperatorName: "sender",
		DeliveryStatus: chat.DeliveryPending, CreatedAt: e.clock.Now(),
	}
	readers := make([]*byteReader, watchers)
	for i := range readers {
		op := storetest.Operator(b, e.db, "w"+strconv.Itoa(i), chat.RoleAgent)
		readers[i] = dialRaw(b, e, op, cust.LineUserID)
	}
	for _, r := range readers { // the others' presence and joins
		r.sync(b)
	}
	// One broadcast read as a frame tells its size on the wire.
	e.hub.MessageStored(ctx, m, "", "")
	size := 0
	for i, r := range readers {
		_, data, err := r.ws.ReadMessage()
		if err != nil || !strings.Contains(string(data), `"new_message"`) {
			b.Fatalf("watcher %d: %q, %v", i, data, err)
		}
		size = len(data) + 2 // the header of a frame under 126 bytes
		if len(data) > 125 {
			size = len(data) + 4
		}
	}
	for _, r := range readers {
		go r.count()
	}
	const window = 64 // broadcasts in flight at most, well under the queue
	writes := syscalls(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		e.hub.MessageStored(ctx, m, "", "")
		if n++; n%window == 0 {
			waitBytes(b, readers, int64(n*size))
		}
	}
	waitBytes(b, readers, int64(n*size))
	b.StopTimer()
	b.ReportMetric(float64(syscalls(b)-writes)/float64(n), "writes/op")
}

// byteReader is a watcher's socket read as raw bytes after its set-up.
type byteReader struct {
	ws       *websocket.Conn
	n        atomic.Int64
	progress chan struct{}
}

// dialRaw authenticates a socket for op and joins room.
func dialRaw(b *testing.B, e *env, op chat.Operator, room string) *byteReader {
	b.Helper()
	c, _, err := websocket.DefaultDialer.Dial(e.url(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	r := &byteReader{ws: c, progress: make(chan struct{}, 1)}
	r.send(b, `{"type":"auth","payload":{"token":"`+e.token(b, op.ID)+`"}}`)
	r.await(b, "presence_update")
	r.send(b, `{"type":"join_room","payload":{"line_user_id":"`+room+`"}}`)
	r.await(b, "conversation_update")
	return r
}

// sync reads up to the answer of a ping: the server has nothing more to
// send before it.
func (r *byteReader) sync(b *testing.B) {
	r.send(b, `{"type":"ping"}`)
	r.await(b, "pong")
}

func (r *byteReader) send(b *testing.B, frame string) {
	if err := r.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		b.Fatal(err)
	}
}

func (r *byteReader) await(b *testing.B, typ string) {
	for {
		_, data, err := r.ws.ReadMessage()
		if err != nil {
			b.Fatalf("waiting for %s: %v", typ, err)
		}
		if strings.Contains(string(data), `"type":"`+typ+`"`) {
			return
		}
	}
}

func (r *byteReader) count() {
	buf := make([]byte, 64<<10)
	nc := r.ws.NetConn()
	for {
		n, err := nc.Read(buf)
		r.n.Add(int64(n))
		select {
		case r.progress <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func waitBytes(b *testing.B, readers []*byteReader, want int64) {
	deadline := time.After(wstest.Timeout)
	for i, r := range readers {
		for r.n.Load() < want {
			select {
			case <-r.progress:
			case <-deadline:
				b.Fatalf("watcher %d has %d bytes, want %d", i, r.n.Load(), want)
			}
		}
		if got := r.n.Load(); got > want {
			b.Fatalf("watcher %d has %d bytes, want %d: frames other than the broadcast", i, got, want)
		}
	}
}

// syscalls is the process's count of write syscalls so far.
func syscalls(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skipf("no /proc/self/io: %v", err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("/proc/self/io has no syscw")
	return 0
}

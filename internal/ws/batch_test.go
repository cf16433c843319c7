package ws

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
)

// recordConn records every Write to the socket.
type recordConn struct {
	net.Conn // nil: only what batchConn calls is implemented
	mu       sync.Mutex
	writes   [][]byte
	deadline time.Time
	fail     error
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordConn) SetWriteDeadline(t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deadline = t
	return nil
}

func (r *recordConn) got() ([]string, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, w := range r.writes {
		out = append(out, string(w))
	}
	return out, r.deadline
}

func TestBatchConnHoldsWritesUntilFlush(t *testing.T) {
	rec := &recordConn{}
	c := &batchConn{Conn: rec}
	t1 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	_ = c.SetWriteDeadline(t1)
	if _, err := c.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if got, d := rec.got(); len(got) != 1 || got[0] != "a" || !d.Equal(t1) {
		t.Fatalf("not holding: writes %q by %v, want [a] by %v", got, d, t1)
	}
	c.hold()
	for _, s := range []string{"b", "c", "d"} {
		_ = c.SetWriteDeadline(t1.Add(time.Hour)) // what gorilla does before each frame
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.buffered(); n != 3 {
		t.Fatalf("buffered %d, want 3", n)
	}
	t2 := t1.Add(time.Minute)
	if err := c.flush(t2); err != nil {
		t.Fatal(err)
	}
	if got, d := rec.got(); len(got) != 2 || got[1] != "bcd" || !d.Equal(t2) {
		t.Fatalf("writes %q by %v, want [a bcd] by the flush's %v", got, d, t2)
	}
	if err := c.flush(t2); err != nil { // nothing held: nothing written
		t.Fatal(err)
	}
	if got, _ := rec.got(); len(got) != 2 {
		t.Fatalf("writes %q after an empty flush", got)
	}
}

// A control frame gorilla writes from the reader while the writer holds
// a batch goes out in that batch, after what was held before it.
func TestBatchConnOrdersConcurrentWrites(t *testing.T) {
	rec := &recordConn{}
	c := &batchConn{Conn: rec}
	c.hold()
	_, _ = c.Write([]byte("1"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Write([]byte("pong"))
	}()
	<-done
	_, _ = c.Write([]byte("2"))
	if err := c.flush(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := rec.got(); len(got) != 1 || got[0] != "1pong2" {
		t.Fatalf("writes %q, want [1pong2]", got)
	}
}

func TestBatchConnWriteErrorSticks(t *testing.T) {
	boom := errors.New("boom")
	rec := &recordConn{fail: boom}
	c := &batchConn{Conn: rec}
	c.hold()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("held write: %v", err)
	}
	if err := c.flush(time.Time{}); !errors.Is(err, boom) {
		t.Fatalf("flush: %v, want %v", err, boom)
	}
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	if _, err := c.Write([]byte("y")); !errors.Is(err, boom) {
		t.Fatalf("write after a failed flush: %v, want %v", err, boom)
	}
	c.hold()
	_, _ = c.Write([]byte("z"))
	if err := c.flush(time.Time{}); !errors.Is(err, boom) {
		t.Fatalf("flush after a failed flush: %v, want %v", err, boom)
	}
	if got, _ := rec.got(); len(got) != 0 {
		t.Fatalf("written after the failure: %q", got)
	}
}

// TestDeliverAllocatesPerBroadcastNotPerSocket: a broadcast is framed once
// and the same queued write goes to every socket, so delivering it to 64
// sockets allocates no more than delivering it to one.
func TestDeliverAllocatesPerBroadcastNotPerSocket(t *testing.T) {
	allocs := func(sockets int) float64 {
		h := NewHub(Options{InstanceID: "alloc"}, Deps{Bus: bus.NewMemory(), Clock: clock.NewFake(time.Now()), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		t.Cleanup(func() { _ = h.Close(t.Context()) })
		conns := make([]*Conn, sockets)
		for i := range conns {
			h.mu.Lock()
			c := h.addConnLocked()
			h.mu.Unlock()
			if _, err := h.attach(c, chat.Operator{ID: int64(i + 1)}); err != nil {
				t.Fatal(err)
			}
			h.join(c, "U0123456789abcdef0123456789abcdef")
			conns[i] = c
		}
		m := bus.Message{Audience: bus.Audience{Kind: bus.Room, Room: "U0123456789abcdef0123456789abcdef"}, Frame: []byte(`{"type":"new_message","payload":{},"timestamp":"2026-11-25T03:00:00Z"}`)}
		n := testing.AllocsPerRun(100, func() {
			h.deliver(m)
			for _, c := range conns { // what each writer does
				batch := c.q.take()
				if len(batch) != 1 || batch[0].pm == nil {
					t.Fatalf("queued %v, want one prepared frame", batch)
				}
				c.q.written(batch)
			}
		})
		for _, c := range conns { // ended without its presence push (no store here)
			c.shutdown()
			h.detach(c)
			h.wg.Done()
		}
		return n
	}
	one, many := allocs(1), allocs(64)
	if many > one {
		t.Fatalf("a broadcast allocates %v times to 64 sockets, %v to one", many, one)
	}
}

// The reader's 1-byte wait hands the byte back to the next Read.
func TestBatchConnAwaitByteKeepsTheByte(t *testing.T) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	c := &batchConn{Conn: server}
	go func() {
		_, _ = client.Write([]byte("abc"))
		client.Close()
	}()
	if err := c.awaitByte(); err != nil {
		t.Fatal(err)
	}
	if err := c.awaitByte(); err != nil { // already has one: no read
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "abc" {
		t.Fatalf("read %q, %v; want abc", got, err)
	}
	if err := c.awaitByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("awaitByte at EOF: %v", err)
	}
}

package ws_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// TestBlockedSendHoldsBackTheSocketsLaterFrames: while a send waits for
// the store, its socket handles nothing else: the reader reads no frame
// past its small buffer, so a client that keeps sending is held back by
// TCP, and the later frames are handled, in order, once the send commits.
func TestBlockedSendHoldsBackTheSocketsLaterFrames(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), store.Config{DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := newEnv(t, db)
	ln := &countingListener{Listener: newLocalListener(t)}
	srv := httptest.NewUnstartedServer(e.hub)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	op := storetest.Operator(t, db, "alice", chat.RoleAgent)
	c := wstest.Dial(t, wstest.URL(srv.URL), nil)
	c.Send("auth", map[string]any{"token": e.token(t, op.ID)})
	c.Expect("auth_success")
	c.WaitFor("presence_update")
	e.claimed(t, c)

	// Another connection takes SQLite's write lock: the send's commit waits.
	lock, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "livechat.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	tx, err := lock.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE operators SET display_name = display_name`); err != nil {
		t.Fatal(err)
	}
	// The send and the pings after it, in one segment: the server reads
	// them all into its buffer at once.
	frames := []string{`{"type":"send_message","payload":{"text":"waits for the disk","temp_id":"t1"}}`}
	const pings = 4
	for range pings {
		frames = append(frames, `{"type":"ping"}`)
	}
	var raw []byte
	for _, f := range frames { // client frames: masked, here with the zero key
		raw = append(raw, 0x81, 0x80|byte(len(f)), 0, 0, 0, 0)
		raw = append(raw, f...)
	}
	sock := ln.last()
	before := sock.read.Load()
	if _, err := c.Conn.UnderlyingConn().Write(raw); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wstest.Timeout)
	for sock.read.Load()-before < int64(len(raw)) {
		if time.Now().After(deadline) {
			t.Fatalf("the server read %d bytes of %d", sock.read.Load()-before, len(raw))
		}
		runtime.Gosched()
	}
	// A reader that went on would answer the pings now, the send still
	// waiting; the frames after it must wait too.
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := c.Next(); got.Type != "message_sent" {
		t.Fatalf("first frame after the commit: %s %s, want message_sent (a later frame was handled before it)", got.Type, got.Payload)
	}
	for n := 0; n < pings; { // then the pongs; LINE's message_ack may come between
		switch f := c.Next(); f.Type {
		case "pong":
			n++
		case "message_ack":
		default:
			t.Fatalf("got %s %s, want pong", f.Type, f.Payload)
		}
	}
}

// countingListener counts the bytes the server reads from each connection.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*countingConn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

func (l *countingListener) last() *countingConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[len(l.conns)-1]
}

type countingConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

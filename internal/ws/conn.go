package ws

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	lc "livechat/gen/livechat"
	"livechat/internal/chat"
	"livechat/internal/clock"
)

// Conn is one operator socket (one browser tab). Its reader is a goroutine
// of its own (the HTTP handler returns after the upgrade, which frees
// net/http's buffers for the connection): it handles frames in arrival
// order, one at a time. Its writer runs while frames wait (see queue) and
// is the only goroutine that writes frames; pings and close replies are
// control frames gorilla lets others write. An idle socket holds little
// else: its reader on the smallest stack, no writer, no logger, no queue
// buffer, and two timers, its token's expiry and its next ping.
type Conn struct {
	id   string
	hub  *Hub
	ws   *websocket.Conn
	bc   *batchConn    // under ws: batches the writer's frames
	br   *bufio.Reader // ws reads through it
	q    *queue
	quit chan struct{} // closed when the socket ends
	once sync.Once
	// writer is c.write, made once: `go c.writer()` starts a writer
	// without allocating, `go c.write()` would allocate each time.
	writer func()

	mu         sync.Mutex
	op         *chat.Operator
	queryToken string      // until auth
	authTimer  clock.Timer // until auth
	expiry     clock.Timer // the token's
	pinger     *time.Timer // the next ping (real time, as the peer's)
	typing     typing

	pmu    sync.Mutex  // orders the presence frames (presence.go)
	listed bool        // the full presence list is queued
	held   []*outbound // presence changes that came before it

	room   string // guarded by hub.mu
	budget budget // guarded by hub.mu
	// Guarded by hub.mu: the room's frames held while a join reads its
	// answer, and the highest seq that answer carried (resume.go).
	gate    *roomGate
	through int64
}

func newConn(h *Hub, id string) *Conn {
	c := &Conn{
		id:   id,
		hub:  h,
		q:    newQueue(h.opt.SendQueue),
		quit: make(chan struct{}),
	}
	c.writer = c.write
	return c
}

func (c *Conn) setOperator(op chat.Operator) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.op = &op
}

func (c *Conn) operator() (chat.Operator, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.op == nil {
		return chat.Operator{}, false
	}
	return *c.op, true
}

// logger is made for each line: sockets rarely log, and a logger with
// attributes kept per socket costs every idle socket its memory.
func (c *Conn) logger() *slog.Logger {
	c.mu.Lock()
	op := c.op
	c.mu.Unlock()
	if op == nil {
		return c.hub.log.With("conn_id", c.id)
	}
	return c.hub.log.With("conn_id", c.id, "operator_id", op.ID)
}

// authenticated drops what only an unauthenticated socket needs, and arms
// the token's expiry (zero: none, as with dev auth).
func (c *Conn) authenticated(expires time.Time, expired func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
	c.queryToken = ""
	if !expires.IsZero() {
		c.expiry = c.hub.deps.Clock.AfterFunc(expires.Sub(c.hub.deps.Clock.Now()), expired)
	}
}

func (c *Conn) stopTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range []clock.Timer{c.authTimer, c.expiry, c.typing.timer} {
		if t != nil {
			t.Stop()
		}
	}
	if c.pinger != nil {
		c.pinger.Stop()
	}
	c.authTimer, c.expiry, c.pinger = nil, nil, nil
}

// enqueue queues a write without blocking. A socket whose queue is full is
// too slow: it is disconnected rather than allowed to hold up anyone else.
func (c *Conn) enqueue(o *outbound) bool {
	select {
	case <-c.quit:
		return false
	default:
	}
	ok, start := c.q.push(o)
	if !ok {
		c.tooSlow()
		return false
	}
	if start {
		go c.writer()
	}
	return true
}

// tooSlow disconnects a socket that cannot keep up.
func (c *Conn) tooSlow() {
	c.hub.deps.Metrics.SlowConsumer()
	if _, authed := c.operator(); authed {
		c.logger().Warn("slow consumer disconnected", "queue", c.q.max)
	} else { // anyone can open one and not read: one line for them all
		sampled(context.Background(), c.hub.floods.slow, c.logger(), slog.LevelInfo, "slow unauthenticated socket disconnected", "queue", c.q.max)
	}
	c.shutdown()
	if c.ws != nil {
		_ = c.ws.Close() // unblocks a writer stuck on the full socket
	}
}

// sendFrame marshals and queues a frame for this socket only.
func (c *Conn) sendFrame(frame any) {
	data, err := json.Marshal(frame)
	if err != nil {
		c.logger().Error("encode frame", "err", err)
		return
	}
	c.enqueue(&outbound{data: data})
	if m := c.hub.deps.Metrics; m != nil {
		m.FramesOut(frameType(data), 1)
	}
}

// frameType is a server frame's event type, for the metrics: the frames
// are the server's own, with "type" their last key.
func frameType(data []byte) string {
	const key = `"type":"`
	i := bytes.LastIndex(data, []byte(key))
	if i < 0 {
		return "unknown"
	}
	rest := data[i+len(key):]
	if j := bytes.IndexByte(rest, '"'); j > 0 && j <= 40 {
		return string(rest[:j])
	}
	return "unknown"
}

// closeWith queues a close frame after whatever is already queued.
func (c *Conn) closeWith(code int, text string) {
	c.enqueue(&outbound{code: code, text: text})
}

// shutdown ends the socket: nothing more is queued and no writer starts.
// Whoever closes the connection then makes the reader fail, and the
// reader cleans up.
func (c *Conn) shutdown() {
	c.once.Do(func() {
		close(c.quit)
		c.q.end()
	})
}

// serve starts the socket's reader, its timers, and its writer if frames
// already wait, and returns: ServeHTTP returns right after it.
func (c *Conn) serve(ctx context.Context, ws *websocket.Conn) {
	c.ws = ws
	ws.SetReadLimit(c.hub.opt.ReadLimit)
	c.renewReadDeadline()
	ws.SetPongHandler(func(string) error { c.renewReadDeadline(); return nil })
	auth := c.hub.deps.Clock.AfterFunc(c.hub.opt.AuthTimeout, func() {
		if _, ok := c.operator(); !ok {
			c.closeWith(websocket.ClosePolicyViolation, "authentication timeout")
		}
	})
	c.mu.Lock()
	c.authTimer = auth
	c.pinger = time.AfterFunc(c.hub.opt.PingPeriod, c.ping)
	c.mu.Unlock()
	if c.q.serve() {
		go c.writer()
	}
	go c.read(ctx)
}

// read is the socket's reader: it reads and handles frames until the
// socket fails or closes, then cleans up. It waits for a frame in
// awaitFrame, shallow, and reads and handles each off the read loop, so
// the goroutine an idle socket keeps has the smallest of stacks.
func (c *Conn) read(ctx context.Context) {
	ev := &events{c: c}
	var (
		closing bool
		err     error
	)
	frame := func() { err = c.readFrame(ctx, ev, &closing) }
	for {
		if c.br == nil || c.br.Buffered() == 0 {
			if err = c.awaitFrame(); err != nil {
				break
			}
		}
		if !c.offReadLoop(frame) {
			closing = true
		}
		if err != nil {
			break
		}
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		c.drain()
	}
	c.shutdown()
	c.q.wait() // it flushes what it holds: a close reply may be in it
	_ = c.ws.Close()
	c.stopTimers()
	c.hub.ended(ctx, c)
}

// readFrame reads one frame and handles it, unless the socket is closing.
func (c *Conn) readFrame(ctx context.Context, ev *events, closing *bool) error {
	kind, data, err := c.ws.ReadMessage()
	if err != nil {
		if websocket.IsUnexpectedCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
			c.logger().Debug("socket read ended", "err", err)
		}
		return err
	}
	c.renewReadDeadline()
	switch {
	case *closing:
		// The close frame is queued; read on (so the kernel does not
		// reset the connection under it) but handle nothing more.
	case kind == websocket.BinaryMessage:
		// The protocol is JSON text frames only (RFC 6455: 1003).
		*closing = true
		ev.logRejected("", "binary_frame")
		c.closeWith(websocket.CloseUnsupportedData, "binary frames are not supported")
	default:
		ev.handle(ctx, data)
	}
	return nil
}

func (c *Conn) renewReadDeadline() {
	_ = c.ws.SetReadDeadline(time.Now().Add(c.hub.opt.PongWait))
}

// awaitFrame waits until the peer sends something.
func (c *Conn) awaitFrame() error {
	if c.bc == nil {
		return nil // no batchConn to wait in: ReadMessage waits
	}
	return c.bc.awaitByte()
}

// drain reads what the peer still sends, briefly, after gorilla answered an
// oversized frame with close 1009: closing a socket with unread data makes
// the kernel send a reset, which can destroy the close frame in flight.
func (c *Conn) drain() {
	nc := c.ws.UnderlyingConn()
	_ = nc.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 4<<20))
}

// offReadLoop runs a frame's handler in a goroutine of its own and waits
// for it, so frames are still handled one at a time and in order. The
// stack a handler grows (the store, JSON, the validator) goes with that
// goroutine, instead of staying with the reader for the socket's life
// (centrifuge's ProcessCommandsOffReadLoop). A handler that panics closes
// its socket with 1011 and reports false; the server goes on.
func (c *Conn) offReadLoop(handle func()) (ok bool) {
	done := make(chan bool, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				c.logger().Error("frame handler panicked", "panic", p, "stack", string(debug.Stack()))
				c.closeWith(websocket.CloseInternalServerErr, "internal error")
				done <- false
			}
		}()
		handle()
		done <- true
	}()
	return <-done
}

// write is the socket's writer while frames wait. It ends when it finds
// the queue empty, or when the socket is done: then it closes the
// connection, which ends the reader.
func (c *Conn) write() {
	defer c.q.writers.Done()
	for {
		select {
		case <-c.quit:
			return
		default:
		}
		batch := c.q.next()
		if batch == nil {
			return
		}
		ok := c.writeBatch(batch)
		c.q.written(batch)
		if !ok {
			c.shutdown()
			_ = c.ws.Close()
			return
		}
	}
}

// ping sends a ping, from its timer, and sets the next one. gorilla lets
// control frames be written alongside the writer.
func (c *Conn) ping() {
	select {
	case <-c.quit:
		return
	default:
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.opt.WriteWait)); err != nil {
		c.shutdown()
		_ = c.ws.Close()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pinger != nil {
		c.pinger.Reset(c.hub.opt.PingPeriod)
	}
}

// writeBatch writes a batch: one syscall, or one per flushAt bytes, each
// with its own deadline. It reports false when the socket is done: a
// write failed, or a close frame was written.
func (c *Conn) writeBatch(batch []*outbound) bool {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.hub.opt.WriteWait))
	c.bc.hold()
	for _, o := range batch {
		var err error
		switch {
		case o.code != 0:
			_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(o.code, o.text))
			_ = c.flush()
			return false
		case o.pm != nil:
			err = c.ws.WritePreparedMessage(o.pm)
		default:
			err = c.ws.WriteMessage(websocket.TextMessage, o.data)
		}
		if err == nil && c.bc.buffered() >= flushAt {
			if err = c.flush(); err == nil {
				c.bc.hold()
			}
		}
		if err != nil {
			c.logger().Debug("socket write failed", "err", err)
			return false
		}
	}
	if err := c.flush(); err != nil {
		c.logger().Debug("socket write failed", "err", err)
		return false
	}
	return true
}

// flush writes the batch held so far.
func (c *Conn) flush() error {
	return c.bc.flush(time.Now().Add(c.hub.opt.WriteWait))
}

// now is the hub clock's time.
func (c *Conn) now() time.Time { return c.hub.deps.Clock.Now() }

func idString(id int64) string { return strconv.FormatInt(id, 10) }

// compareIDs orders decimal id strings numerically.
func compareIDs(a, b string) int {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

var _ lc.Handler = (*events)(nil)

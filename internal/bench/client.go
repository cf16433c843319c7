package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	lc "livechat/gen/livechat"
)

// clock is the run's one clock: every time the bench records is an offset
// from its start on the monotonic clock, so send and receive times of
// different sockets compare without any clock sync.
type clock struct{ start time.Time }

func newClock() clock { return clock{start: time.Now()} }

func (c clock) now() time.Duration { return time.Since(c.start) }

// frame is one server frame as the bench reads it. Its data is the
// reader's buffer: valid during the handler's call only (waiters get a copy).
type frame struct {
	Type string
	data []byte
	at   time.Duration // when it was read, on the run's clock
}

// payload decodes the frame's payload into v.
func (f frame) payload(v any) error {
	return json.Unmarshal(f.data, &struct {
		P any `json:"payload"`
	}{v})
}

// conn is one client socket. Its reader goroutine reads every frame, hands
// it to the waiters that match it, then to the handler, so the socket never
// stops being read (a client that does not read is a slow consumer the
// server disconnects). Writes are serialised; any goroutine may send.
type conn struct {
	ws    *websocket.Conn
	clock clock
	wmu   sync.Mutex

	handler atomic.Pointer[func(frame)]

	mu      sync.Mutex
	waiters map[*waiter]struct{}
	nwait   atomic.Int32

	done chan struct{} // closed when the reader ended
	err  error         // why, once done is closed
}

type waiter struct {
	match func(frame) bool
	got   chan frame // buffered 1
}

// Timeouts of a socket's set-up and writes.
const (
	handshakeTimeout = 10 * time.Second
	writeTimeout     = 10 * time.Second
	readLimit        = 4 << 20 // a join's history or a presence list of many operators
)

var dialer = websocket.Dialer{
	HandshakeTimeout: handshakeTimeout,
	ReadBufferSize:   4096,
	WriteBufferSize:  1024,
	NetDialContext:   (&net.Dialer{Timeout: handshakeTimeout}).DialContext,
}

// dial opens a socket and starts its reader.
func dial(ctx context.Context, url string, clk clock) (*conn, error) {
	ws, resp, err := dialer.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	ws.SetReadLimit(readLimit)
	c := &conn{ws: ws, clock: clk, waiters: map[*waiter]struct{}{}, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *conn) read() {
	defer close(c.done)
	var buf bytes.Buffer // reused: the reader is the bench's hot path
	for {
		_, r, err := c.ws.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			c.err = err
			return
		}
		f := frame{data: buf.Bytes(), at: c.clock.now()}
		if f.Type = frameType(f.data); f.Type == "" {
			continue // not our protocol; the counters notice what is missing
		}
		if c.nwait.Load() > 0 {
			c.mu.Lock()
			for w := range c.waiters {
				if w.match(f) {
					kept := f
					kept.data = bytes.Clone(f.data)
					w.got <- kept
					delete(c.waiters, w)
					c.nwait.Add(-1)
				}
			}
			c.mu.Unlock()
		}
		if h := c.handler.Load(); h != nil {
			(*h)(f)
		}
	}
}

// onFrame installs the handler every frame goes to, on the reader goroutine
// (nil removes it). It must be quick: it holds up the socket.
func (c *conn) onFrame(h func(frame)) {
	if h == nil {
		c.handler.Store(nil)
		return
	}
	c.handler.Store(&h)
}

// send writes one client frame.
func (c *conn) send(typ string, payload any) error {
	data, err := json.Marshal(struct {
		Type    string `json:"type"`
		Payload any    `json:"payload"`
	}{typ, payload})
	if err != nil {
		return fmt.Errorf("encode %s: %w", typ, err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return fmt.Errorf("write %s: %w", typ, err)
	}
	return nil
}

// errClosed is a socket that ended while a frame was awaited.
var errClosed = errors.New("socket closed")

// await returns the first frame that matches, read after the call, within
// timeout. Register before sending the request it answers: use expect.
func (c *conn) await(ctx context.Context, timeout time.Duration, match func(frame) bool) (frame, error) {
	w := c.expect(match)
	return c.wait(ctx, w, timeout)
}

// expect registers a waiter; wait collects it.
func (c *conn) expect(match func(frame) bool) *waiter {
	w := &waiter{match: match, got: make(chan frame, 1)}
	c.mu.Lock()
	c.waiters[w] = struct{}{}
	c.nwait.Add(1)
	c.mu.Unlock()
	return w
}

func (c *conn) wait(ctx context.Context, w *waiter, timeout time.Duration) (frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case f := <-w.got:
		return f, nil
	case <-c.done:
		err = fmt.Errorf("%w: %v", errClosed, c.err)
	case <-t.C:
		err = fmt.Errorf("no answer within %s", timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.mu.Lock()
	if _, ok := c.waiters[w]; ok {
		delete(c.waiters, w)
		c.nwait.Add(-1)
	}
	c.mu.Unlock()
	select { // it may have matched meanwhile
	case f := <-w.got:
		return f, nil
	default:
	}
	return frame{}, err
}

// close sends a normal close, closes the socket and waits for the reader
// to end (at once: its read fails).
func (c *conn) close() {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
	<-c.done
}

// drop closes the TCP connection without a close frame, a network failure
// as the server sees it, and waits for the reader to end.
func (c *conn) drop() {
	_ = c.ws.NetConn().Close()
	<-c.done
}

// closed reports whether the reader has ended.
func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// typeIs matches frames of one type.
func typeIs(typ string) func(frame) bool { return func(f frame) bool { return f.Type == typ } }

// errorFor matches an error frame answering a request type.
func errorFor(reqType string) func(frame) bool {
	return func(f frame) bool {
		if f.Type != lc.TypeError {
			return false
		}
		var p struct {
			RequestType string `json:"request_type"`
		}
		return f.payload(&p) == nil && p.RequestType == reqType
	}
}

// frameError is an error or auth_error frame as a Go error.
type frameError struct {
	typ, code, message string
}

func (e *frameError) Error() string { return fmt.Sprintf("%s %s: %s", e.typ, e.code, e.message) }

func asFrameError(f frame) error {
	var p struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = f.payload(&p)
	return &frameError{typ: f.Type, code: p.Code, message: p.Message}
}

// request sends typ and waits for the frame that answers it (or an error
// frame for it, returned as a *frameError).
func (c *conn) request(ctx context.Context, typ string, payload any, answer func(frame) bool) (frame, error) {
	failed := errorFor(typ)
	w := c.expect(func(f frame) bool { return answer(f) || failed(f) || f.Type == lc.TypeAuthError })
	if err := c.send(typ, payload); err != nil {
		c.wait(ctx, w, 0) // unregisters
		return frame{}, err
	}
	f, err := c.wait(ctx, w, requestTimeout)
	if err != nil {
		return frame{}, fmt.Errorf("%s: %w", typ, err)
	}
	if f.Type == lc.TypeError || f.Type == lc.TypeAuthError {
		return f, fmt.Errorf("%s: %w", typ, asFrameError(f))
	}
	return f, nil
}

// requestTimeout bounds the answer to one request; generous, since a
// saturated server answers late and the bench measures that elsewhere.
const requestTimeout = 30 * time.Second

// authenticate sends auth and waits for auth_success.
func (c *conn) authenticate(ctx context.Context, token string) error {
	_, err := c.request(ctx, lc.TypeAuth, map[string]string{"token": token}, typeIs(lc.TypeAuthSuccess))
	return err
}

// join sends join_room and waits for the join variant of
// conversation_update. It returns the last seq the answer covers: every
// message after it should reach this socket live.
func (c *conn) join(ctx context.Context, room string) (int64, error) {
	last, _, err := c.resume(ctx, room, nil, nil)
	return last, err
}

// resume is join with last_seq (when not nil): the answer then carries the
// messages after it, each handed to got (on the reader, before any frame
// that follows the answer), unless resync says it is a fresh snapshot.
func (c *conn) resume(ctx context.Context, room string, lastSeq *int64, got func(id, seq int64)) (covered int64, resync bool, err error) {
	req := map[string]any{"line_user_id": room}
	if lastSeq != nil {
		req["last_seq"] = *lastSeq
	}
	_, err = c.request(ctx, lc.TypeJoinRoom, req, func(f frame) bool {
		if f.Type != lc.TypeConversationUpdate {
			return false
		}
		var p struct {
			LineUserID  string          `json:"line_user_id"`
			LastSeq     *int64          `json:"last_seq"`
			LastMessage json.RawMessage `json:"last_message"` // the inbox variant has it, the join variant not
			Resync      bool            `json:"resync"`
			Messages    []struct {
				ID  int64 `json:"id"`
				Seq int64 `json:"seq"`
			} `json:"messages"`
		}
		if f.payload(&p) != nil || p.LineUserID != room || p.LastMessage != nil {
			return false
		}
		covered, resync = 0, p.Resync
		if p.LastSeq != nil {
			covered = *p.LastSeq
		}
		if lastSeq != nil && !resync {
			covered = max(covered, *lastSeq)
		}
		for _, m := range p.Messages {
			covered = max(covered, m.Seq)
			if lastSeq != nil && !resync && got != nil {
				got(m.ID, m.Seq)
			}
		}
		return true
	})
	return covered, resync, err
}

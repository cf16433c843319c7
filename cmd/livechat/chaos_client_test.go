package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	lc "livechat/gen/livechat"
)

// chaosConn is one socket: read synchronously while it authenticates and
// joins, then by its reader goroutine.
type chaosConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	done chan struct{} // closed when the reader ended
}

type chaosFrame struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

var chaosDialer = websocket.Dialer{HandshakeTimeout: 5 * time.Second,
	NetDialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}

// chaosDial opens a socket and authenticates it.
func chaosDial(ctx context.Context, url, token string) (*chaosConn, error) {
	ws, _, err := chaosDialer.DialContext(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(8 << 20)
	c := &chaosConn{ws: ws, done: make(chan struct{})}
	if err := c.write(lc.TypeAuth, map[string]string{"token": token}); err != nil {
		ws.Close()
		return nil, err
	}
	for {
		f, err := c.next(10 * time.Second)
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("auth: %w", err)
		}
		switch f.Type {
		case lc.TypeAuthSuccess:
			return c, nil
		case lc.TypeAuthError, lc.TypeError:
			ws.Close()
			return nil, fmt.Errorf("auth: %s %s", f.Type, f.Payload)
		}
	}
}

// next reads one frame within d (only before the reader goroutine runs).
func (c *chaosConn) next(d time.Duration) (chaosFrame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	defer c.ws.SetReadDeadline(time.Time{})
	var f chaosFrame
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("frame %.200s: %w", data, err)
	}
	return f, nil
}

func (c *chaosConn) write(typ string, payload any) error {
	data, err := json.Marshal(map[string]any{"type": typ, "payload": payload})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// chaosMsg is what the test reads of a message.
type chaosMsg struct {
	ID         int64   `json:"id"`
	Seq        int64   `json:"seq"`
	LineUserID string  `json:"line_user_id"`
	TempID     *string `json:"temp_id"`
}

// chaosClient is one operator's tab in one room over its whole life:
// whatever socket it has now, on whichever instance, it holds the room's
// messages it received, and resumes from the highest of them.
type chaosClient struct {
	h      *chaosHarness
	name   string
	room   int
	token  string
	sender bool

	mu       sync.Mutex
	inst     int        // the instance of the current (or next) socket
	conn     *chaosConn // nil while reconnecting
	up       chan struct{}
	held     map[int64]bool
	maxSeq   int64
	dups     []int64   // seqs received again
	reorders []reorder // seqs first received after a higher one
	spans    []connSpan
	retried  map[string]bool // temp_ids sent on more than one socket
	acks     map[string]int64
	ackInst  map[string]int // temp_id → the instance whose socket acknowledged it
	acked    map[string]chan int64
	resyncs  int
	errs     []string
	claimed  chan error // the answer to claim_session
}

// reorder is a message first received after a later one.
type reorder struct {
	seq, after int64
	at         time.Time
	inst       int
}

// connSpan is one socket's life.
type connSpan struct {
	inst     int
	from, to time.Time // to: zero while open
	lastSeq  int64     // what it resumed from
	replayed int
}

func (c *chaosClient) init() {
	c.up = make(chan struct{})
	c.held = map[int64]bool{}
	c.retried = map[string]bool{}
	c.acks = map[string]int64{}
	c.ackInst = map[string]int{}
	c.acked = map[string]chan int64{}
}

func (c *chaosClient) current() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inst
}

// receive records one reception of seq; ack says it is a message_sent, and
// retry that it answers a send made again on a later socket.
func (c *chaosClient) receive(seq int64, retry bool) {
	if c.held[seq] {
		if !retry {
			c.dups = append(c.dups, seq)
		}
		return
	}
	if seq < c.maxSeq {
		c.reorders = append(c.reorders, reorder{seq: seq, after: c.maxSeq, at: time.Now(), inst: c.inst})
	}
	c.held[seq] = true
	c.maxSeq = max(c.maxSeq, seq)
}

// connect dials c.inst, authenticates and joins the room with last_seq =
// the highest seq held (0 at first: the whole room), records the answer,
// and starts the socket's reader.
func (c *chaosClient) connect() error {
	h := c.h
	c.mu.Lock()
	inst, last := c.inst, c.maxSeq
	c.mu.Unlock()
	room := h.rooms[c.room]
	conn, err := chaosDial(h.ctx, h.wsURL(inst), c.token)
	if err != nil {
		return err
	}
	if err := conn.write(lc.TypeJoinRoom, map[string]any{"line_user_id": room, "last_seq": last}); err != nil {
		conn.ws.Close()
		return err
	}
	for {
		f, err := conn.next(15 * time.Second)
		if err != nil {
			conn.ws.Close()
			return fmt.Errorf("join: %w", err)
		}
		if f.Type == lc.TypeError {
			conn.ws.Close()
			return fmt.Errorf("join: %s", f.Payload)
		}
		if f.Type != lc.TypeConversationUpdate {
			continue
		}
		var p struct {
			LineUserID  string          `json:"line_user_id"`
			LastMessage json.RawMessage `json:"last_message"`
			Resync      bool            `json:"resync"`
			Messages    []chaosMsg      `json:"messages"`
		}
		if json.Unmarshal(f.Payload, &p) != nil || p.LineUserID != room || p.LastMessage != nil {
			continue // an inbox update
		}
		c.mu.Lock()
		if p.Resync {
			// A snapshot to replace what it holds: what it skips over is
			// counted lost, as a client would have lost it.
			c.resyncs++
		}
		for _, m := range p.Messages {
			c.receive(m.Seq, p.Resync)
		}
		c.spans = append(c.spans, connSpan{inst: inst, from: time.Now(), lastSeq: last, replayed: len(p.Messages)})
		c.conn = conn
		close(c.up)
		c.mu.Unlock()
		go c.read(conn, inst)
		return nil
	}
}

// read is the socket's reader: new_message of the room and message_sent.
func (c *chaosClient) read(conn *chaosConn, inst int) {
	defer func() {
		c.mu.Lock()
		if c.conn == conn {
			c.conn = nil
			c.up = make(chan struct{})
			c.spans[len(c.spans)-1].to = time.Now()
		}
		c.mu.Unlock()
		close(conn.done)
	}()
	room := c.h.rooms[c.room]
	for {
		_, data, err := conn.ws.ReadMessage()
		if err != nil {
			return
		}
		var f chaosFrame
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch f.Type {
		case lc.TypeNewMessage, lc.TypeMessageSent:
			var m chaosMsg
			if json.Unmarshal(f.Payload, &m) != nil || m.LineUserID != room {
				continue
			}
			c.mu.Lock()
			retry := false
			if f.Type == lc.TypeMessageSent && m.TempID != nil {
				retry = c.retried[*m.TempID]
				c.acks[*m.TempID] = m.Seq
				c.ackInst[*m.TempID] = inst
				if ch, ok := c.acked[*m.TempID]; ok {
					delete(c.acked, *m.TempID)
					ch <- m.Seq
				}
			}
			c.receive(m.Seq, retry)
			c.mu.Unlock()
		case lc.TypeSessionClaimed:
			c.mu.Lock()
			if c.claimed != nil {
				c.claimed <- nil
				c.claimed = nil
			}
			c.mu.Unlock()
		case lc.TypeError:
			var p struct {
				Code        string `json:"code"`
				RequestType string `json:"request_type"`
				Message     string `json:"message"`
			}
			_ = json.Unmarshal(f.Payload, &p)
			c.mu.Lock()
			c.errs = append(c.errs, p.RequestType+" "+p.Code+": "+p.Message)
			if c.claimed != nil && p.RequestType == lc.TypeClaimSession {
				c.claimed <- fmt.Errorf("%s: %s", p.Code, p.Message)
				c.claimed = nil
			}
			c.mu.Unlock()
		}
	}
}

// loop reconnects, to the other instance each time (and on to the next
// when one refuses), as long as the test runs.
func (c *chaosClient) loop() {
	h := c.h
	for {
		c.mu.Lock()
		conn := c.conn
		c.mu.Unlock()
		select {
		case <-conn.done:
		case <-h.ctx.Done():
			conn.ws.Close()
			return
		}
		conn.ws.Close()
		for {
			c.mu.Lock()
			c.inst = (c.inst + 1) % chaosInstances
			c.mu.Unlock()
			err := c.connect()
			if err == nil {
				break
			}
			if h.ctx.Err() != nil {
				return
			}
			backoff(h.ctx, 100*time.Millisecond)
		}
	}
}

// cut closes the socket's TCP connection without a close frame.
func (c *chaosClient) cut() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		_ = conn.ws.NetConn().Close()
	}
}

// socket waits (bounded) until the client has a joined socket.
func (c *chaosClient) socket(d time.Duration) (*chaosConn, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		conn, up := c.conn, c.up
		c.mu.Unlock()
		if conn != nil {
			return conn, nil
		}
		select {
		case <-up:
		case <-deadline.C:
			return nil, errors.New("no socket within " + d.String())
		case <-c.h.ctx.Done():
			return nil, c.h.ctx.Err()
		}
	}
}

// send sends text with temp until its message_sent comes, on this socket
// or, when it dies first, on the next one with the same temp_id.
func (c *chaosClient) send(temp, text string) error {
	deadline := time.Now().Add(60 * time.Second)
	for attempt := 0; ; attempt++ {
		conn, err := c.socket(time.Until(deadline))
		if err != nil {
			return err
		}
		got := make(chan int64, 1)
		c.mu.Lock()
		if attempt > 0 {
			c.retried[temp] = true
		}
		c.acked[temp] = got
		c.mu.Unlock()
		if err := conn.write(lc.TypeSendMessage, map[string]any{"text": text, "temp_id": temp}); err == nil {
			tm := time.NewTimer(15 * time.Second)
			select {
			case <-got:
				tm.Stop()
				return nil
			case <-conn.done:
			case <-tm.C: // no answer on a live socket: send again
			}
			tm.Stop()
		}
		c.mu.Lock()
		delete(c.acked, temp)
		_, ok := c.acks[temp]
		c.mu.Unlock()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("no message_sent within 60 s")
		}
		// Dead socket: socket() waits for the next one. No answer on a
		// live one: the same frame again, on it.
	}
}

// claim claims the room's session on the current socket.
func (c *chaosClient) claim() error {
	conn, err := c.socket(10 * time.Second)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.claimed = make(chan error, 1)
	ch := c.claimed
	c.mu.Unlock()
	if err := conn.write(lc.TypeClaimSession, map[string]any{}); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-conn.done:
		return errors.New("the socket closed")
	case <-time.After(15 * time.Second):
		return errors.New("no session_claimed within 15 s")
	}
}

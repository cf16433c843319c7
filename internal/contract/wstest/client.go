// Package wstest is the WebSocket test client every WebSocket test uses. It
// validates every frame the server sends against the spec in strict mode
// (extra or misspelled fields fail), and fails the test on a violation.
package wstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"livechat/asyncapi"
	"livechat/internal/contract"
)

// Timeout bounds every wait. Tests wait for events, never sleep.
var Timeout = 10 * time.Second

var (
	validatorOnce sync.Once
	validator     *contract.Validator
	validatorErr  error
)

func strict() (*contract.Validator, error) {
	validatorOnce.Do(func() { validator, validatorErr = contract.New(asyncapi.YAML, contract.Strict()) })
	return validator, validatorErr
}

// Frame is one server frame.
type Frame struct {
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	Timestamp string          `json:"timestamp"`
	Raw       []byte          `json:"-"`
}

// Decode unmarshals the payload into v, failing the test on error.
func (f Frame) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(f.Payload, v); err != nil {
		t.Fatalf("decode %s payload %s: %v", f.Type, f.Payload, err)
	}
}

// Map returns the payload as a generic map.
func (f Frame) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	f.Decode(t, &m)
	return m
}

// Client is a real gorilla/websocket client.
type Client struct {
	t      testing.TB
	Conn   *websocket.Conn
	frames chan Frame
	done   chan struct{}

	mu        sync.Mutex
	closeErr  error // why the read loop ended
	violation error

	paused chan struct{} // closed by Pause: the reader stops reading
	pause  sync.Once
	stop   chan struct{} // closed at cleanup: releases a paused reader
	pings  chan struct{} // a token per server ping, up to its capacity
}

// URL turns an httptest server URL into the socket URL.
func URL(serverURL string) string {
	return "ws" + strings.TrimPrefix(serverURL, "http") + "/api/v1/ws/live-chat"
}

// Dial connects, failing the test on error.
func Dial(t testing.TB, url string, header http.Header) *Client {
	t.Helper()
	c, resp, err := TryDial(t, url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	return c
}

// TryDial connects and returns the upgrade response, for tests of refusals.
func TryDial(t testing.TB, url string, header http.Header) (*Client, *http.Response, error) {
	t.Helper()
	v, err := strict()
	if err != nil {
		t.Fatalf("contract validator: %v", err)
	}
	d := websocket.Dialer{HandshakeTimeout: Timeout}
	conn, resp, err := d.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	c := &Client{t: t, Conn: conn, frames: make(chan Frame, 4096), done: make(chan struct{}), paused: make(chan struct{}), stop: make(chan struct{}), pings: make(chan struct{}, 16)}
	conn.SetPingHandler(func(data string) error { // gorilla's default answer, counted
		select {
		case c.pings <- struct{}{}:
		default:
		}
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	go c.read(v)
	t.Cleanup(func() {
		close(c.stop)
		_ = conn.Close()
		<-c.done
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.violation != nil {
			t.Errorf("contract violation: %v", c.violation)
		}
	})
	return c, resp, nil
}

func (c *Client) read(v *contract.Validator) {
	defer close(c.done)
	defer close(c.frames)
	for {
		select {
		case <-c.paused:
			<-c.stop
			return
		default:
		}
		_, data, err := c.Conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.closeErr = err
			c.mu.Unlock()
			return
		}
		var f Frame
		if err := json.Unmarshal(data, &f); err != nil {
			c.fail(fmt.Errorf("server sent non-JSON frame %q: %w", data, err))
			return
		}
		f.Raw = data
		if err := v.Validate(data); err != nil {
			c.fail(fmt.Errorf("server frame %s: %w", data, err))
		}
		c.frames <- f
	}
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.violation == nil {
		c.violation = err
	}
}

func (c *Client) checkViolation() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.violation != nil {
		c.t.Fatalf("contract violation: %v", c.violation)
	}
}

// Send writes one client frame {type, payload}.
func (c *Client) Send(typ string, payload any) {
	c.t.Helper()
	frame := map[string]any{"type": typ}
	if payload != nil {
		frame["payload"] = payload
	}
	b, err := json.Marshal(frame)
	if err != nil {
		c.t.Fatalf("marshal %s: %v", typ, err)
	}
	c.SendRaw(string(b))
}

// SendRaw writes a text frame as is (for malformed input).
func (c *Client) SendRaw(s string) {
	c.t.Helper()
	if err := c.TrySendRaw(s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// TrySendRaw writes a text frame and returns the write error, for frames the
// server may refuse while they are still being written (oversized ones).
func (c *Client) TrySendRaw(s string) error {
	return c.Conn.WriteMessage(websocket.TextMessage, []byte(s))
}

// Next returns the next frame, failing after Timeout.
func (c *Client) Next() Frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		c.checkViolation()
		if !ok {
			c.t.Fatalf("connection closed while waiting for a frame: %v", c.err())
		}
		return f
	case <-time.After(Timeout):
		c.t.Fatalf("no frame within %v", Timeout)
	}
	return Frame{}
}

// Expect returns the next frame and fails unless it has type typ.
func (c *Client) Expect(typ string) Frame {
	c.t.Helper()
	f := c.Next()
	if f.Type != typ {
		c.t.Fatalf("got %s %s, want %s", f.Type, f.Payload, typ)
	}
	return f
}

// ExpectError returns the next frame and fails unless it is an error frame with code.
func (c *Client) ExpectError(code string) map[string]any {
	c.t.Helper()
	f := c.Expect("error")
	p := f.Map(c.t)
	if p["code"] != code {
		c.t.Fatalf("error code = %v (%s), want %s", p["code"], f.Payload, code)
	}
	return p
}

// WaitFor skips frames until one of type typ arrives, and returns it.
func (c *Client) WaitFor(typ string) Frame {
	c.t.Helper()
	deadline := time.After(Timeout)
	for {
		select {
		case f, ok := <-c.frames:
			c.checkViolation()
			if !ok {
				c.t.Fatalf("connection closed while waiting for %s: %v", typ, c.err())
			}
			if f.Type == typ {
				return f
			}
		case <-deadline:
			c.t.Fatalf("no %s within %v", typ, Timeout)
		}
	}
}

// Sync sends a ping and returns every frame received before its pong. The
// server writes a connection's frames in order, so anything it queued for
// this socket before handling the ping is in the result: tests use it to
// assert that a frame did NOT arrive, without sleeping.
func (c *Client) Sync() []Frame {
	c.t.Helper()
	c.Send("ping", map[string]any{})
	var before []Frame
	for {
		f := c.Next()
		if f.Type == "pong" {
			return before
		}
		before = append(before, f)
	}
}

// WaitPing waits for a ping from the server (a control frame; the client
// has answered it).
func (c *Client) WaitPing() {
	c.t.Helper()
	select {
	case <-c.pings:
	case <-time.After(Timeout):
		c.t.Fatalf("no ping within %v", Timeout)
	}
}

// ExpectClosed waits for the server to close the connection and returns the
// close code (0 when the connection ended without a close frame).
func (c *Client) ExpectClosed() int {
	c.t.Helper()
	deadline := time.After(Timeout)
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				c.checkViolation()
				var ce *websocket.CloseError
				if errors.As(c.err(), &ce) {
					return ce.Code
				}
				return 0
			}
		case <-deadline:
			c.t.Fatalf("connection not closed within %v", Timeout)
		}
	}
}

func (c *Client) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// Pause stops reading from the socket (after the frame being read, if any),
// to play a slow consumer. Frames not read are never seen by the test.
func (c *Client) Pause() { c.pause.Do(func() { close(c.paused) }) }

// Close closes the connection.
func (c *Client) Close() { _ = c.Conn.Close() }

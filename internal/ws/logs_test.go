package ws_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// logLine is one logged record: its level and attributes.
type logLine struct {
	level slog.Level
	attrs map[string]any
}

// lines returns the records logged with msg, in order.
func (l *logRecorder) lines(msg string) []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logLine
	for _, r := range l.records {
		if r.Message != msg {
			continue
		}
		ln := logLine{level: r.Level, attrs: map[string]any{}}
		r.Attrs(func(a slog.Attr) bool { ln.attrs[a.Key] = a.Value.Any(); return true })
		out = append(out, ln)
	}
	return out
}

// expectLines fails unless msg was logged n times, the last one holding back
// suppressed lines and carrying attrs.
func (e *env) expectLines(t *testing.T, msg string, n int, suppressed int64, attrs map[string]any) {
	t.Helper()
	ls := e.logs.lines(msg)
	if len(ls) != n {
		t.Fatalf("%q logged %d times, want %d: %v", msg, len(ls), n, ls)
	}
	last := ls[n-1].attrs
	if last["suppressed"] != suppressed {
		t.Fatalf("%q: suppressed = %v, want %d (%v)", msg, last["suppressed"], suppressed, last)
	}
	for k, v := range attrs {
		if last[k] != v {
			t.Fatalf("%q: %s = %v, want %v (%v)", msg, k, last[k], v, last)
		}
	}
}

func TestRejectedFramesLogOncePerSocketPer10s(t *testing.T) {
	e := newEnv(t, sqlite(t))
	a := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	for range 5 {
		a.SendRaw(`{not json`)
		a.ExpectError("validation_error")
	}
	a.Send("bogus", nil)
	a.ExpectError("unknown_event")
	a.Send("join_room", map[string]any{"line_user_id": "nope"})
	a.ExpectError("validation_error")
	e.expectLines(t, "frame rejected", 1, 0, map[string]any{"code": "validation_error"})
	if l := e.logs.lines("frame rejected")[0]; l.level != slog.LevelWarn {
		t.Fatalf("level %v", l.level)
	}
	e.clock.Advance(10 * time.Second)
	a.Send("join_room", nil)
	a.ExpectError("validation_error")
	e.expectLines(t, "frame rejected", 2, 6, map[string]any{"code": "validation_error", "type": "join_room"})
	// Another socket has its own line.
	b := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
	b.SendRaw(`[]`)
	b.ExpectError("validation_error")
	e.expectLines(t, "frame rejected", 3, 0, nil)
	// A binary frame is a rejected frame too.
	e.clock.Advance(10 * time.Second)
	_ = a.Conn.WriteMessage(websocket.BinaryMessage, []byte("{}"))
	if code := a.ExpectClosed(); code != websocket.CloseUnsupportedData {
		t.Fatalf("close %d", code)
	}
	e.expectLines(t, "frame rejected", 4, 0, map[string]any{"code": "binary_frame"})
}

func TestRateLimitedFramesLogOncePerSocketPer10s(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	burst := func() {
		for range 30 {
			c.Send("leave_room", nil)
		}
		only(t, "within the burst", c.Sync(), map[string]int{})
	}
	burst()
	for range 20 {
		c.Send("leave_room", nil)
		c.ExpectError("rate_limit_exceeded")
	}
	e.expectLines(t, "frame rejected", 1, 0, map[string]any{"code": "rate_limit_exceeded", "type": "leave_room"})
	e.clock.Advance(10 * time.Second) // also refills the bucket
	burst()
	c.Send("leave_room", nil)
	c.ExpectError("rate_limit_exceeded")
	e.expectLines(t, "frame rejected", 2, 19, map[string]any{"code": "rate_limit_exceeded"})
}

// TestUnauthenticatedClientsCannotFloodTheLog: what anyone can trigger logs
// at most once per 10 s for the whole instance, with a count.
func TestUnauthenticatedClientsCannotFloodTheLog(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) {
		o.AuthTimeout = time.Hour // the clock moves; these sockets must stay
		o.MaxPendingPerIP = 2
	})
	// Frames on unauthenticated sockets: one line for all of them.
	a, b := wstest.Dial(t, e.url(), nil), wstest.Dial(t, e.url(), nil)
	for range 3 {
		a.Send("ping", nil)
		a.ExpectError("not_authenticated")
		b.SendRaw(`{`)
		b.ExpectError("validation_error")
	}
	const frames = "frame rejected on an unauthenticated socket"
	e.expectLines(t, frames, 1, 0, map[string]any{"code": "not_authenticated", "type": "ping"})
	if l := e.logs.lines(frames)[0]; l.level != slog.LevelInfo {
		t.Fatalf("level %v", l.level)
	}
	// Refused upgrades: a foreign origin, the IP's pending budget.
	for range 4 {
		refusedWith(t, e.url(), header("Origin", "https://evil.example.com"), http.StatusForbidden)
		refused(t, e.url(), http.StatusTooManyRequests) // a and b are this IP's 2
	}
	const origin, perIP = "upgrade refused: origin not allowed", "upgrade refused: unauthenticated sockets from one address at their cap"
	e.expectLines(t, origin, 1, 0, map[string]any{"origin": "https://evil.example.com"})
	e.expectLines(t, perIP, 1, 0, map[string]any{"ip": "127.0.0.1", "max": int64(2)})
	for _, msg := range []string{origin, perIP} { // lines of a request: its id
		if id, _ := e.logs.lines(msg)[0].attrs["request_id"].(string); id == "" {
			t.Fatalf("%q without the upgrade request's request_id: %v", msg, e.logs.lines(msg)[0].attrs)
		}
	}

	e.clock.Advance(10 * time.Second)
	b.SendRaw(`{`)
	b.ExpectError("validation_error")
	e.expectLines(t, frames, 2, 5, map[string]any{"code": "validation_error"})
	refusedWith(t, e.url(), header("Origin", "https://evil.example.com"+strings.Repeat("x", 500)), http.StatusForbidden)
	e.expectLines(t, origin, 2, 3, nil)
	if o := e.logs.lines(origin)[1].attrs["origin"].(string); len(o) > 200 {
		t.Fatalf("a client's origin logged whole (%d bytes)", len(o))
	}
	refused(t, e.url(), http.StatusTooManyRequests)
	e.expectLines(t, perIP, 2, 3, nil)
}

func TestCapRefusalsLogOncePer10s(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) {
		o.AuthTimeout = time.Hour
		o.MaxConnections, o.MaxPending = 1, 1
	})
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, e.db, "bob", chat.RoleAgent)
	squatter := wstest.Dial(t, e.url(), nil)
	e.authWithQueryToken(t, alice)
	bobURL := e.url() + "?token=" + e.token(t, bob.ID)
	for range 3 {
		refused(t, e.url(), http.StatusServiceUnavailable)
		refused(t, bobURL, http.StatusServiceUnavailable)
	}
	const pending, authed = "upgrade refused: unauthenticated sockets at their cap", "upgrade refused: authenticated sockets at their cap"
	e.expectLines(t, pending, 1, 0, map[string]any{"max": int64(1)})
	e.expectLines(t, authed, 1, 0, map[string]any{"max": int64(1)})
	if l := e.logs.lines(authed)[0]; l.level != slog.LevelWarn {
		t.Fatalf("operators refused: level %v", l.level)
	}
	e.clock.Advance(10 * time.Second)
	refused(t, e.url(), http.StatusServiceUnavailable)
	refused(t, bobURL, http.StatusServiceUnavailable)
	e.expectLines(t, pending, 2, 2, nil)
	e.expectLines(t, authed, 2, 2, nil)
	// An auth over a cap.
	squatter.Send("auth", map[string]any{"token": e.token(t, bob.ID)})
	squatter.ExpectError("rate_limit_exceeded")
	squatter.ExpectClosed()
	e.expectLines(t, "auth refused: connection cap", 1, 0, map[string]any{"operator_id": bob.ID})
}

// TestSlowUnauthenticatedSocketsLogOnce: anyone can open a socket and stop
// reading; one line per 10 s stands for all of them.
func TestSlowUnauthenticatedSocketsLogOnce(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.SendQueue = 4 })
	// An unknown type is echoed in the error, so each answer is about 60 KB.
	big := `{"type":"` + strings.Repeat("x", 60<<10) + `"}`
	for range 2 {
		c := wstest.Dial(t, e.url(), nil)
		if tcp, ok := c.Conn.UnderlyingConn().(*net.TCPConn); ok {
			_ = tcp.SetReadBuffer(4096)
		}
		c.Pause()
		dropped := false
		for range 3000 {
			if err := c.TrySendRaw(big); err != nil {
				dropped = true // the server closed it
				break
			}
		}
		if !dropped {
			t.Fatal("slow unauthenticated socket still open after 3000 frames")
		}
	}
	e.expectLines(t, "slow unauthenticated socket disconnected", 1, 0, nil)
}

// refusedWith is refused with request headers.
func refusedWith(t *testing.T, url string, h http.Header, status int) {
	t.Helper()
	_, resp, err := wstest.TryDial(t, url, h)
	if err == nil || resp == nil || resp.StatusCode != status {
		t.Fatalf("dial %s: err=%v resp=%v, want %d", url, err, resp, status)
	}
}

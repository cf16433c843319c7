package ws_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// TestUpgradeHandlerReturns: the HTTP handler returns once the socket is
// upgraded (so net/http lets go of the connection's buffers), and the
// socket keeps working.
func TestUpgradeHandlerReturns(t *testing.T) {
	e := newEnv(t, sqlite(t))
	returned := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hub.ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	c := wstest.Dial(t, wstest.URL(srv.URL), nil)
	select {
	case <-returned:
	case <-time.After(wstest.Timeout):
		t.Fatal("ServeHTTP still running while the socket is open")
	}
	c.Send("auth", map[string]any{"token": e.token(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent).ID)})
	c.Expect("auth_success")
	c.WaitFor("presence_update")
	c.Send("ping", nil)
	c.WaitFor("pong")
}

// TestAuthenticatedSocketKeepsOnlyItsExpiry: the authentication deadline's
// timer goes with the auth; an idle socket keeps the token's expiry only.
func TestAuthenticatedSocketKeepsOnlyItsExpiry(t *testing.T) {
	e := newEnv(t, sqlite(t))
	hub := e.clock.Pending() // the hub's own (the KPIs' refresh)
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	c.Sync()
	if n := e.clock.Pending() - hub; n != 1 {
		t.Fatalf("%d timers pending for one authenticated socket, want 1 (its token's expiry)", n)
	}
	e.clock.Advance(time.Hour) // the token's lifetime
	if p := c.Expect("auth_error").Map(t); p["code"] != "auth_expired_token" {
		t.Fatalf("auth_error = %v, want auth_expired_token", p)
	}
}

// TestFramesInOneSegmentAreAllHandled: when several frames arrive at once,
// those already in the read buffer are handled without waiting on the
// socket for more.
func TestFramesInOneSegmentAreAllHandled(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	var raw []byte
	for range 3 { // client frames: masked, here with the zero key
		p := []byte(`{"type":"ping"}`)
		raw = append(raw, 0x81, 0x80|byte(len(p)), 0, 0, 0, 0)
		raw = append(raw, p...)
	}
	if _, err := c.Conn.UnderlyingConn().Write(raw); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.Expect("pong")
	}
}

// TestIdleSocketHasNoWriter: a socket's writer runs while frames wait, so
// idle sockets keep none; pings still go out, from a timer.
func TestIdleSocketHasNoWriter(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.PingPeriod = 20 * time.Millisecond })
	var cs []*wstest.Client
	for _, name := range []string{"alice", "bob", "carol"} {
		c := e.login(t, storetest.Operator(t, e.db, name, chat.RoleAgent))
		c.Sync()
		cs = append(cs, c)
	}
	deadline := time.Now().Add(wstest.Timeout)
	for writers(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d writers still running for 3 idle sockets", writers(t))
		}
		runtime.Gosched()
	}
	for _, c := range cs {
		c.WaitPing()
		c.WaitPing()
		c.Send("ping", nil)
		c.Expect("pong")
	}
}

// writers counts the goroutines in a socket writer.
func writers(t *testing.T) int {
	t.Helper()
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	return strings.Count(b.String(), "livechat/internal/ws.(*Conn).write")
}

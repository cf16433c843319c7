package ws_test

import (
	"context"
	"livechat/internal/clientip"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// refused dials and fails unless the upgrade is refused with status.
func refused(t *testing.T, url string, status int) {
	t.Helper()
	_, resp, err := wstest.TryDial(t, url, nil)
	if err == nil || resp == nil || resp.StatusCode != status {
		t.Fatalf("dial %s: err=%v resp=%v, want %d", url, err, resp, status)
	}
}

// authWithQueryToken opens a socket with ?token= and authenticates it.
func (e *env) authWithQueryToken(t *testing.T, op chat.Operator) *wstest.Client {
	t.Helper()
	c := wstest.Dial(t, e.url()+"?token="+e.token(t, op.ID), nil)
	c.Send("auth", nil)
	c.Expect("auth_success")
	return c
}

// noLeaks closes the hub, which waits for every socket to end, and checks
// that each gave back what it counted against.
func (e *env) noLeaks(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.hub.BudgetCounts(); got != (ws.BudgetCounts{}) {
		t.Fatalf("after every socket ended: %+v, want all zero", got)
	}
}

// TestPendingSocketsCannotLockOperatorsOut replays the attack: the pending
// budget full of sockets that never authenticate.
func TestPendingSocketsCannotLockOperatorsOut(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.MaxConnections, o.MaxPending = 5, 3 })
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, e.db, "bob", chat.RoleAgent)
	var squatters []*wstest.Client
	for range 3 {
		squatters = append(squatters, wstest.Dial(t, e.url(), nil))
	}
	refused(t, e.url(), http.StatusServiceUnavailable)
	// An operator with ?token= still gets in, up to the authenticated cap.
	for range 5 {
		e.authWithQueryToken(t, alice)
	}
	refused(t, e.url()+"?token="+e.token(t, bob.ID), http.StatusServiceUnavailable)
	refused(t, e.url(), http.StatusServiceUnavailable) // operators took nothing from the pending budget
	// A pending socket that authenticates now finds no room: a clear refusal.
	squatters[0].Send("auth", map[string]any{"token": e.token(t, bob.ID)})
	if p := squatters[0].ExpectError("rate_limit_exceeded"); p["request_type"] != "auth" {
		t.Fatalf("error = %v", p)
	}
	if code := squatters[0].ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
	e.noLeaks(t)
}

func TestAuthMovesASocketOffThePendingBudget(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.MaxConnections, o.MaxPending = 5, 2 })
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	first := wstest.Dial(t, e.url(), nil)
	wstest.Dial(t, e.url(), nil)
	refused(t, e.url(), http.StatusServiceUnavailable)
	first.Send("auth", map[string]any{"token": e.token(t, alice.ID)})
	first.Expect("auth_success")
	wstest.Dial(t, e.url(), nil) // the slot it held is free
	refused(t, e.url(), http.StatusServiceUnavailable)
	e.noLeaks(t)
}

func TestPendingCapPerIP(t *testing.T) {
	// httptest clients all come from 127.0.0.1: the IP cap is below the instance's.
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.MaxConnections, o.MaxPending, o.MaxPendingPerIP = 5, 10, 2 })
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	first := wstest.Dial(t, e.url(), nil)
	wstest.Dial(t, e.url(), nil)
	refused(t, e.url(), http.StatusTooManyRequests)
	e.authWithQueryToken(t, alice) // a valid ?token= is not pending
	first.Send("auth", map[string]any{"token": e.token(t, alice.ID)})
	first.Expect("auth_success")
	wstest.Dial(t, e.url(), nil)
	refused(t, e.url(), http.StatusTooManyRequests)
	e.noLeaks(t)
}

// Behind a trusted proxy the per-IP cap counts the forwarded client
// addresses; from an untrusted peer the header is ignored, and the peer's
// address counts.
func TestPendingCapPerIPBehindATrustedProxy(t *testing.T) {
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	trusting := newEnv(t, sqlite(t), func(o *ws.Options) {
		o.MaxPending, o.MaxPendingPerIP = 10, 1
		o.ClientIP = clientip.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	})
	wstest.Dial(t, trusting.url(), from("198.51.100.1"))
	wstest.Dial(t, trusting.url(), from("198.51.100.2")) // another client behind the proxy
	refusedWith(t, trusting.url(), from("198.51.100.1"), http.StatusTooManyRequests)

	plain := newEnv(t, sqlite(t), func(o *ws.Options) { o.MaxPending, o.MaxPendingPerIP = 10, 1 })
	wstest.Dial(t, plain.url(), from("198.51.100.1"))
	refusedWith(t, plain.url(), from("198.51.100.2"), http.StatusTooManyRequests) // one peer, whatever it claims
}

// TestQueryTokenUpgradesCountForTheirOperator: a ?token= upgrade holds its
// operator's share from the upgrade on, so one operator's token cannot take
// more than its cap of the authenticated budget by never authenticating.
func TestQueryTokenUpgradesCountForTheirOperator(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.MaxConnsPerOp = 2 })
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, e.db, "bob", chat.RoleAgent)
	aliceURL := e.url() + "?token=" + e.token(t, alice.ID)
	held := wstest.Dial(t, aliceURL, nil) // not authenticated yet
	switched := wstest.Dial(t, aliceURL, nil)
	refused(t, aliceURL, http.StatusTooManyRequests)
	e.authWithQueryToken(t, bob) // others are not affected
	held.Send("auth", nil)       // authenticating keeps its share, it takes no second one
	held.Expect("auth_success")
	refused(t, aliceURL, http.StatusTooManyRequests)
	// A socket admitted with alice's token that authenticates as bob gives alice's share back.
	switched.Send("auth", map[string]any{"token": e.token(t, bob.ID)})
	if p := switched.Expect("auth_success").Map(t); p["admin_id"] != idStr(bob.ID) {
		t.Fatalf("auth_success = %v", p)
	}
	wstest.Dial(t, aliceURL, nil)
	refused(t, aliceURL, http.StatusTooManyRequests)
	// A ?token= socket whose auth fails gives its share back when it ends.
	carol := storetest.Operator(t, e.db, "carol", chat.RoleAgent)
	if err := e.db.SetOperatorActive(t.Context(), carol.ID, false); err != nil {
		t.Fatal(err)
	}
	c := wstest.Dial(t, e.url()+"?token="+e.token(t, carol.ID), nil)
	c.Send("auth", nil)
	c.Expect("auth_error")
	c.ExpectClosed()
	e.noLeaks(t)
}

package ws_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gorilla/websocket"

	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// twoInstances is two hubs on one database and one bus: a deployment of
// two instances.
func twoInstances(t *testing.T, db *store.DB, opts ...envOption) (*env, *env) {
	t.Helper()
	b := bus.NewMemory()
	on := func(id string) *env {
		return newEnvOn(t, db, db, b, append([]envOption{func(o *ws.Options) { o.InstanceID = id }}, opts...)...)
	}
	return on("one"), on("two")
}

// TestDisconnectReachesEveryInstance: disabling an operator through one
// instance closes its sockets on the other at once, not at the other's
// next re-check; other operators keep theirs.
func TestDisconnectReachesEveryInstance(t *testing.T) {
	db := sqlite(t)
	one, two := twoInstances(t, db)
	alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
	a1, a2 := one.login(t, alice), two.login(t, alice)
	b2 := two.login(t, bob)
	one.hub.DisconnectOperator(alice.ID, "operator disabled")
	for _, c := range []interface{ ExpectClosed() int }{a1, a2} {
		if code := c.ExpectClosed(); code != websocket.ClosePolicyViolation {
			t.Fatalf("close code %d, want %d", code, websocket.ClosePolicyViolation)
		}
	}
	b2.Send("ping", nil)
	b2.WaitFor("pong")
}

// TestInboxRowsReachEveryInstance: a customer message stored through one
// instance updates the inboxes of operators on the other, with their own
// unread counts; a watcher there has read it.
func TestInboxRowsReachEveryInstance(t *testing.T) {
	db := sqlite(t)
	one, two := twoInstances(t, db)
	cust := storetest.Customer(t, db)
	alice := two.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
	bob := two.login(t, storetest.Operator(t, db, "bob", chat.RoleAgent))
	joinAnswerOf(t, bob, cust, 0) // with last_seq: the answer says resync even without messages
	carol := one.login(t, storetest.Operator(t, db, "carol", chat.RoleAgent))
	row := func(c *wstest.Client) int64 {
		t.Helper()
		for {
			f := c.WaitFor("conversation_update")
			var p struct {
				LineUserID  string          `json:"line_user_id"`
				LastMessage json.RawMessage `json:"last_message"`
				UnreadCount *int64          `json:"unread_count"`
			}
			f.Decode(t, &p)
			if p.LastMessage != nil && p.LineUserID == cust.LineUserID && p.UnreadCount != nil {
				return *p.UnreadCount
			}
		}
	}
	for i := range 2 {
		one.says(t, cust, 1)
		if got := row(alice); got != int64(i+1) {
			t.Fatalf("alice (instance two, not watching): unread %d after %d messages", got, i+1)
		}
		if got := row(carol); got != int64(i+1) {
			t.Fatalf("carol (instance one): unread %d after %d messages", got, i+1)
		}
		if got := row(bob); got != 0 {
			t.Fatalf("bob (instance two, watching): unread %d", got)
		}
	}
	if n, err := db.UnreadBy(context.Background(), []int64{bobID(t, db)}, cust.LineUserID); err != nil || n[bobID(t, db)] != 0 {
		t.Fatalf("bob's read marker: unread %v %v, want 0", n, err)
	}
}

func bobID(t *testing.T, db *store.DB) int64 {
	t.Helper()
	op, err := db.OperatorByUsername(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	return op.ID
}

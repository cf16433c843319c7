package ws_test

import (
	"testing"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// A customer's rating reaches the session's operator (every tab) and the
// analytics subscribers, once per socket, and nobody else.
func TestCSATReceivedGoesToTheOperatorAndAnalytics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		a1 := e.login(t, alice)
		a2 := e.login(t, alice) // subscribed to analytics too: gets it once
		sup := e.login(t, storetest.Operator(t, db, "sue", chat.RoleSupervisor))
		bob := e.login(t, storetest.Operator(t, db, "bob", chat.RoleAgent))
		for _, c := range []*wstest.Client{a2, sup} {
			c.Send("subscribe_analytics", nil)
			c.WaitFor("analytics_update")
		}
		cust := e.claimed(t, a1)
		a1.Send("close_session", nil)
		closed := a1.WaitFor("session_closed").Map(t)
		for _, c := range []*wstest.Client{a2, sup, bob} {
			c.WaitFor("session_closed")
			c.Sync()
		}

		sessionID := int64(closed["session_id"].(float64))
		if _, err := e.svc.RateSession(t.Context(), sessionID, cust.LineUserID, 5); err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]*wstest.Client{"owner tab": a1, "owner tab subscribed": a2, "supervisor subscribed": sup} {
			fs := c.Sync()
			if n := count(fs)["csat_received"]; n != 1 {
				t.Fatalf("%s got %d csat_received, want 1", name, n)
			}
			cr := find(t, fs, "csat_received")
			if len(cr) != 3 || cr["session_id"] != float64(sessionID) || cr["score"] != float64(5) || cr["line_user_id"] != cust.LineUserID {
				t.Fatalf("%s: csat_received = %v", name, cr)
			}
		}
		if n := count(bob.Sync())["csat_received"]; n != 0 {
			t.Fatalf("an unrelated operator got %d csat_received", n)
		}
		// A second rating is refused, and announces nothing.
		if _, err := e.svc.RateSession(t.Context(), sessionID, cust.LineUserID, 1); err == nil {
			t.Fatal("a second rating was accepted")
		}
		if n := count(a1.Sync())["csat_received"]; n != 0 {
			t.Fatalf("a refused rating announced %d csat_received", n)
		}
	})
}

package ws_test

import (
	"context"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
)

// The sweep's close reaches every operator as session_closed with who
// closed it and why (the spec's contract validates the frame).
func TestSweepCloseReachesEveryOperator(t *testing.T) {
	e := newEnv(t, sqlite(t))
	uid := e.waiting(t).LineUserID
	e.clock.Advance(25 * time.Hour) // before the logins: a token would expire
	alice := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	bob := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
	closed, err := e.svc.Sweep(context.Background(), chat.Timeouts{Inactive: 30 * time.Minute, Waiting: 24 * time.Hour})
	if err != nil || len(closed) != 1 {
		t.Fatalf("sweep closed %+v, %v; want the waiting session", closed, err)
	}
	for name, c := range map[string]*wstest.Client{"alice": alice, "bob": bob} {
		p := c.WaitFor("session_closed").Map(t)
		if p["line_user_id"] != uid || p["closed_by"] != "SYSTEM_TIMEOUT" || p["reason"] != "waiting_timeout" {
			t.Fatalf("%s's session_closed = %v", name, p)
		}
	}
}

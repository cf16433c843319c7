package ws_test

import (
	"context"
	"testing"
	"time"

	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
)

// TestUnclaimedRealert: a session left unclaimed is announced again to
// every operator of both instances, flagged repeat, once per interval
// however many instances check, and not before the interval nor after
// the claim.
func TestUnclaimedRealert(t *testing.T) {
	db := sqlite(t)
	b := bus.NewMemory()
	clk := clock.NewFake(t0)
	one := newEnvDeps(t, db, db, b, clk, nil, instance("one"))
	two := newEnvDeps(t, db, db, b, clk, nil, instance("two"))
	alice := one.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
	bob := two.login(t, storetest.Operator(t, db, "bob", chat.RoleAgent))
	ctx := context.Background()
	const every = time.Minute

	cust := one.waiting(t)
	for _, c := range []*wstest.Client{alice, bob} {
		if q := c.WaitFor("session_queued").Map(t); q["repeat"] != nil {
			t.Fatalf("first announcement: %v", q)
		}
	}
	check := func(want int) {
		t.Helper()
		sent := 0
		for _, e := range []*env{one, two} {
			n, err := e.svc.RealertUnclaimed(ctx, every)
			if err != nil {
				t.Fatal(err)
			}
			sent += n
		}
		if sent != want {
			t.Fatalf("both instances sent %d repeats, want %d", sent, want)
		}
	}
	alice.Sync()
	bob.Sync()
	clk.Advance(every - time.Second)
	check(0)
	clk.Advance(time.Second)
	check(1)
	check(0) // the same repeat again: no
	for _, c := range []*wstest.Client{alice, bob} {
		fs := c.Sync()
		if n := count(fs)["session_queued"]; n != 1 {
			t.Fatalf("%d session_queued after a minute, want 1: %v", n, count(fs))
		}
		q := find(t, fs, "session_queued")
		if q["repeat"] != true || q["line_user_id"] != cust.LineUserID || q["queue_position"] != 1.0 {
			t.Fatalf("repeat: %v", q)
		}
	}
	clk.Advance(every)
	check(1)
	alice.WaitFor("session_queued")
	bob.WaitFor("session_queued")

	bob.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	bob.WaitFor("conversation_update")
	bob.Send("claim_session", nil)
	bob.WaitFor("session_claimed")
	clk.Advance(every)
	check(0)
	alice.Sync()
	if n := count(alice.Sync())["session_queued"]; n != 0 {
		t.Fatalf("%d session_queued after the claim", n)
	}
}

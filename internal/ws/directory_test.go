package ws_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/bus"
	"livechat/internal/bus/redistest"
	"livechat/internal/chat"
	"livechat/internal/clock"
	directory "livechat/internal/presence"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// redisDirectory gives each env a presence directory on
// LIVECHAT_TEST_REDIS_URL, under a prefix of this test's (skipped when the
// variable is unset, failed when Redis is unreachable). It returns the
// client and prefix too, for a directory of a made-up instance.
func redisDirectory(t *testing.T) (func(*env, *ws.Deps), *redis.Client, string) {
	t.Helper()
	c, prefix := redistest.Client(t)
	return func(e *env, d *ws.Deps) { d.Directory = directory.NewRedis(c, prefix, 30*time.Second, e.clock) }, c, prefix
}

func instance(id string) envOption { return func(o *ws.Options) { o.InstanceID = id } }

// TestPresenceAcrossInstances: an operator online on one instance is
// online on the other, with its status; offline when its last tab
// anywhere closes, not when its last tab on one instance does.
func TestPresenceAcrossInstances(t *testing.T) {
	dir, _, _ := redisDirectory(t)
	db := sqlite(t)
	b := bus.NewMemory()
	clk := clock.NewFake(t0)                                          // the instances' wall clock
	manual := func(o *ws.Options) { o.PresenceHeartbeat = time.Hour } // heartbeats when the test says
	one := newEnvDeps(t, db, db, b, clk, dir, instance("one"), manual)
	two := newEnvDeps(t, db, db, b, clk, dir, instance("two"), manual)
	alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, db, "bob", chat.RoleAgent)

	a1, _ := one.loginListed(t, alice)
	one.hub.Heartbeat()
	b2, list := two.loginListed(t, bob)
	if got := list.String(); got != want(true, entry(alice, "online", 0), entry(bob, "online", 0)) {
		t.Fatalf("bob's list on two: %s", got)
	}
	if got := two.awaitPresence(t, a1).String(); got != want(false, entry(bob, "online", 0)) {
		t.Fatalf("alice on one, bob connected on two: %s", got)
	}
	a1.Send("set_status", map[string]any{"status": "away"})
	if got := one.awaitPresence(t, b2).String(); got != want(false, entry(alice, "away", 0)) {
		t.Fatalf("bob, alice away on one: %s", got)
	}
	a1.Close()
	if got := one.awaitPresence(t, b2).String(); got != want(false, entry(alice, "offline", 0)) {
		t.Fatalf("bob, alice's only tab closed: %s", got)
	}

	// Alice on both instances: closing her tab on one leaves her online.
	a1, _ = one.loginListed(t, alice)
	if got := one.awaitPresence(t, b2).String(); got != want(false, entry(alice, "online", 0)) {
		t.Fatalf("bob, alice back on one: %s", got)
	}
	a2, _ := two.loginListed(t, alice)
	if got := two.awaitPresence(t, b2).String(); got != want(false, entry(alice, "online", 0)) {
		t.Fatalf("bob, alice's tab on two too: %s", got)
	}
	one.hub.Heartbeat()
	two.hub.Heartbeat()
	a1.Close()
	if got := one.awaitPresence(t, b2).String(); got != want(false, entry(alice, "online", 0)) {
		t.Fatalf("bob, alice's tab on one closed, on two open: %s", got)
	}
	one.hub.Heartbeat() // one's entry no longer has her (TestPresenceHeals: when it still did)
	a2.Close()
	if got := two.awaitPresence(t, b2).String(); got != want(false, entry(alice, "offline", 0)) {
		t.Fatalf("bob, alice's last tab closed: %s", got)
	}
}

// TestPresenceInstanceDies: the operators of an instance that stops
// renewing its entry go offline for the others' sockets within the TTL.
func TestPresenceInstanceDies(t *testing.T) {
	dir, c, prefix := redisDirectory(t)
	db := sqlite(t)
	e := newEnvDeps(t, db, db, bus.NewMemory(), nil, dir, instance("two"), func(o *ws.Options) { o.PresenceHeartbeat = time.Hour })
	bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
	carol := storetest.Operator(t, db, "carol", chat.RoleAgent)
	ghost := directory.NewRedis(c, prefix, 30*time.Second, e.clock)
	if err := ghost.Put(context.Background(), "ghost", map[int64]string{carol.ID: "busy"}); err != nil {
		t.Fatal(err)
	}
	b, list := e.loginListed(t, bob)
	if got := list.String(); got != want(true, entry(bob, "online", 0), entry(carol, "busy", 0)) {
		t.Fatalf("bob's list: %s", got)
	}
	e.hub.Heartbeat()
	if fs := b.Sync(); len(fs) != 0 {
		t.Fatalf("a heartbeat with nothing changed sent %v", count(fs))
	}
	e.clock.Advance(31 * time.Second) // the ghost's entry expires
	e.hub.Heartbeat()
	if fs := b.Sync(); len(fs) != 0 { // a push may be on its way: wait for one more heartbeat
		t.Fatalf("the first heartbeat without the ghost sent %v", count(fs))
	}
	e.hub.Heartbeat()
	if got := decodePresence(t, b.WaitFor("presence_update")).String(); got != want(false, entry(carol, "offline", 0)) {
		t.Fatalf("the ghost died: %s", got)
	}
	if fs := b.Sync(); len(fs) != 0 {
		t.Fatalf("after the ghost's operators went offline: %v", count(fs))
	}
}

// TestPresenceHeals: a change no push announced (here an instance whose
// operator left without one) reaches this instance's sockets at the next
// heartbeat, once.
func TestPresenceHeals(t *testing.T) {
	dir, c, prefix := redisDirectory(t)
	db := sqlite(t)
	e := newEnvDeps(t, db, db, bus.NewMemory(), nil, dir, instance("two"), func(o *ws.Options) { o.PresenceHeartbeat = time.Hour })
	bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
	carol := storetest.Operator(t, db, "carol", chat.RoleAgent)
	other := directory.NewRedis(c, prefix, 30*time.Second, e.clock)
	ctx := context.Background()
	if err := other.Put(ctx, "one", map[int64]string{carol.ID: "online"}); err != nil {
		t.Fatal(err)
	}
	b, list := e.loginListed(t, bob)
	if got := list.String(); got != want(true, entry(bob, "online", 0), entry(carol, "online", 0)) {
		t.Fatalf("bob's list: %s", got)
	}
	if err := other.Put(ctx, "one", map[int64]string{carol.ID: "busy"}); err != nil {
		t.Fatal(err)
	}
	e.hub.Heartbeat()
	only(t, "bob, at the first heartbeat that finds carol busy", b.Sync(), map[string]int{})
	e.hub.Heartbeat()
	if got := decodePresence(t, b.WaitFor("presence_update")).String(); got != want(false, entry(carol, "busy", 0)) {
		t.Fatalf("carol busy on one: %s", got)
	}
	if err := other.Put(ctx, "one", map[int64]string{}); err != nil {
		t.Fatal(err)
	}
	e.hub.Heartbeat()
	e.hub.Heartbeat()
	if got := decodePresence(t, b.WaitFor("presence_update")).String(); got != want(false, entry(carol, "offline", 0)) {
		t.Fatalf("carol gone from one: %s", got)
	}
	e.hub.Heartbeat()
	if fs := b.Sync(); len(fs) != 0 {
		t.Fatalf("a heartbeat with nothing new sent %v", count(fs))
	}
}

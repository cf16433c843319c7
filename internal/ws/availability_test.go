package ws_test

import (
	"context"
	"testing"
	"time"

	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// TestAvailabilityRecorded: an operator's window on an instance runs from
// its first socket's auth; each record moves its end to now; its last
// socket's close ends it, written at the next record; a shutdown ends the
// windows still open.
func TestAvailabilityRecorded(t *testing.T) {
	db := sqlite(t)
	e := newEnvDeps(t, db, db, bus.NewMemory(), nil, func(_ *env, d *ws.Deps) { d.Availability = db },
		func(o *ws.Options) { o.AvailabilityTick = time.Hour }) // records when the test says
	alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
	ctx := context.Background()
	windows := func() []chat.Window {
		t.Helper()
		w, err := db.AvailabilityWindows(ctx, alice.ID, t0.Add(-time.Hour), e.clock.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	b := e.login(t, bob)
	start := e.clock.Now()
	a := e.login(t, alice)
	e.clock.Advance(30 * time.Second)
	e.hub.RecordAvailability()
	if got := windows(); len(got) != 1 || !got[0].From.Equal(start) || !got[0].To.Equal(start.Add(30*time.Second)) {
		t.Fatalf("alice online for 30 s: %+v", got)
	}

	b.Sync()
	before := e.clock.Now()
	a.Close()
	if got := e.awaitPresence(t, b).String(); got != want(false, entry(alice, "offline", 0)) {
		t.Fatalf("bob, alice's tab closed: %s", got)
	}
	after := e.clock.Now()
	e.clock.Advance(time.Minute)
	e.hub.RecordAvailability()
	got := windows()
	if len(got) != 1 || !got[0].From.Equal(start) || got[0].To.Before(before) || got[0].To.After(after) {
		t.Fatalf("alice's window after her close between %v and %v: %+v", before, after, got)
	}

	a = e.login(t, alice)
	back := e.clock.Now()
	e.clock.Advance(10 * time.Second)
	shut, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.hub.Close(shut); err != nil {
		t.Fatal(err)
	}
	if got := windows(); len(got) != 2 || !got[1].From.Equal(back) || !got[1].To.Equal(back.Add(10*time.Second)) {
		t.Fatalf("alice back for 10 s, then the shutdown: %+v", got)
	}
}

// TestAvailabilityRecordedPastTheShutdownDeadline: a shutdown whose
// deadline has passed still records the windows, bounded on its own.
func TestAvailabilityRecordedPastTheShutdownDeadline(t *testing.T) {
	db := sqlite(t)
	e := newEnvDeps(t, db, db, bus.NewMemory(), nil, func(_ *env, d *ws.Deps) { d.Availability = db },
		func(o *ws.Options) { o.AvailabilityTick = time.Hour })
	alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
	e.login(t, alice)
	start := e.clock.Now()
	e.clock.Advance(20 * time.Second)
	late, cancel := context.WithCancel(context.Background())
	cancel()
	_ = e.hub.Close(late) // may say what was still running: the deadline has passed
	got, err := db.AvailabilityWindows(context.Background(), alice.ID, start.Add(-time.Hour), start.Add(time.Hour))
	if err != nil || len(got) != 1 || !got[0].From.Equal(start) || !got[0].To.Equal(start.Add(20*time.Second)) {
		t.Fatalf("windows after a late shutdown: %+v, %v; want [%v, +20s]", got, err, start)
	}
}

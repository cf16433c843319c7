package ws_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/lease"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// TestKPIsComputedOnceAcrossInstances: the KPI lease's holder computes
// the KPIs for both instances; a change on the other reaches it as a hint
// and the other's supervisor gets the holder's numbers, on a change and
// every 10 s, without the other computing them. When the holder shuts
// down, the other takes over.
func TestKPIsComputedOnceAcrossInstances(t *testing.T) {
	db := sqlite(t)
	b := bus.NewMemory()
	clk := clock.NewFake(t0)
	leases := lease.NewMemory(clk)
	withLeases := func(_ *env, d *ws.Deps) { d.Leases = leases }
	one := newEnvDeps(t, db, db, b, clk, withLeases, instance("one"))
	two := newEnvDeps(t, db, db, b, clk, withLeases, instance("two"))
	one.hub.HoldKPILease()
	two.hub.HoldKPILease() // one holds it

	sup := two.login(t, storetest.Operator(t, db, "sup", chat.RoleSupervisor))
	sup.Send("subscribe_analytics", nil)
	sup.WaitFor("analytics_update") // the subscriber's own, computed where it subscribed
	clk.Advance(2 * time.Second)    // the holder's push for the login
	sup.Sync()
	runs := func() [2]int64 { return [2]int64{one.hub.KPIRuns(), two.hub.KPIRuns()} }

	before := runs()
	two.waiting(t)
	clk.Advance(0) // the holder pushes at once: its last push is over a second old
	if k := sup.WaitFor("analytics_update").Map(t); k["waiting"] != float64(1) {
		t.Fatalf("kpis after a handoff on two: %v", k)
	}
	if got := runs(); got != [2]int64{before[0] + 1, before[1]} {
		t.Fatalf("runs (one, two) = %v, want one more on one only (before %v)", got, before)
	}

	before = runs()
	sup.Sync()
	clk.Advance(10 * time.Second) // the refresh
	if k := sup.WaitFor("analytics_update").Map(t); k["waiting"] != float64(1) {
		t.Fatalf("refreshed kpis: %v", k)
	}
	if n := count(sup.Sync())["analytics_update"]; n != 0 {
		t.Fatalf("%d more analytics_update in one refresh", n)
	}
	if got := runs(); got != [2]int64{before[0] + 1, before[1]} {
		t.Fatalf("runs (one, two) = %v, want one more on one only (before %v)", got, before)
	}

	// One shuts down and gives the lease up; two takes it at its next renewal.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := one.hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	two.hub.HoldKPILease()
	before = runs()
	two.waiting(t)
	if k := sup.WaitFor("analytics_update").Map(t); k["waiting"] != float64(2) {
		t.Fatalf("kpis after two took over: %v", k)
	}
	if got := runs(); got[1] != before[1]+1 {
		t.Fatalf("runs on two = %d, want %d", got[1], before[1]+1)
	}
}

// TestKPIsWithoutLeaseTable: when the lease table does not answer, each
// instance computes the KPIs for a change of its own and pushes them to
// every instance it reaches, and says so once, not at every renewal.
func TestKPIsWithoutLeaseTable(t *testing.T) {
	db := sqlite(t)
	b := bus.NewMemory()
	clk := clock.NewFake(t0)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { dead.Close() })
	withLeases := func(_ *env, d *ws.Deps) { d.Leases = lease.NewRedis(dead, "livechat:lease", clk) }
	one := newEnvDeps(t, db, db, b, clk, withLeases, instance("one"))
	two := newEnvDeps(t, db, db, b, clk, withLeases, instance("two"))
	one.hub.HoldKPILease()
	one.hub.HoldKPILease()
	two.hub.HoldKPILease()

	sup := two.login(t, storetest.Operator(t, db, "sup", chat.RoleSupervisor))
	sup.Send("subscribe_analytics", nil)
	sup.WaitFor("analytics_update")
	clk.Advance(2 * time.Second)
	sup.Sync()
	one.waiting(t)
	if k := sup.WaitFor("analytics_update").Map(t); k["waiting"] != float64(1) {
		t.Fatalf("kpis after a handoff on one: %v", k)
	}
	if n := len(one.logs.lines("kpi lease: this instance computes its own KPIs")); n != 1 {
		t.Fatalf("one logged the lease failure %d times over two renewals, want 1", n)
	}
}

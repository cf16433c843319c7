package bench

import (
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"livechat/internal/bench/floor"
)

// floorTarget serves the floor in-process: the load engine against a real
// server, without child processes.
func floorTarget(t *testing.T, rooms int) (*runner, *target) {
	t.Helper()
	s := floor.New(nil, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	prof, _ := LookupProfile("tiny")
	prof.Drain = 5 * time.Second
	r := &runner{prof: prof, log: slog.New(slog.DiscardHandler), clock: newClock()}
	tg := &target{Name: "floor", URLs: []string{"ws" + ts.URL[len("http"):] + "/"}, PIDs: []int{os.Getpid()}, Tokens: []string{"x"}}
	for range rooms {
		tg.Rooms = append(tg.Rooms, lineUserID())
		tg.Owners = append(tg.Owners, "x")
	}
	return r, tg
}

func TestPhaseAccountsForEveryMessage(t *testing.T) {
	r, tg := floorTarget(t, 2)
	rs, err := r.openRooms(t.Context(), tg, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.close()
	res, err := rs.run(t.Context(), phaseSpec{scenario: ScenarioFanout, rate: 100, warmup: 100 * time.Millisecond, measure: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 100 msgs/s for 0.5 s over 2 rooms: 25 a room, 3 watchers each.
	if res.Sent != 50 || res.Acked != 50 || res.Unacked != 0 {
		t.Fatalf("sent %d acked %d unacked %d, want 50 50 0", res.Sent, res.Acked, res.Unacked)
	}
	if c := *res.Counts; c.Expected != 150 || c.Delivered != 150 || c.Lost+c.Duplicated+c.OutOfOrder+c.Unacked != 0 {
		t.Fatalf("counts %+v", c)
	}
	if res.RateIn != 100 || res.Deliver.Count != 120 || res.Ack.Count != 40 || res.DrainTimedOut {
		t.Fatalf("in the window: offered %v/s, %d deliveries, %d acks timed; drain timed out %v", res.RateIn, res.Deliver.Count, res.Ack.Count, res.DrainTimedOut)
	}
	if len(res.Rooms) != 2 || res.Rooms[0].Acked != 25 || res.Rooms[0].Watchers != 3 || res.Rooms[0].Expected != 75 || res.Rooms[1].Delivered != 75 {
		t.Fatalf("per room: %+v", res.Rooms)
	}
	// A second phase on the same sockets counts only its own messages.
	res2, err := rs.run(t.Context(), phaseSpec{scenario: ScenarioFanout, rate: 40, warmup: 0, measure: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Sent != 20 || res2.Counts.Expected != 60 || res2.Counts.Delivered != 60 {
		t.Fatalf("second phase: sent %d, counts %+v", res2.Sent, *res2.Counts)
	}
}

// TestReconnectOnTheFloor: the floor's join is atomic, so a rejoined
// watcher misses nothing that came after its join.
func TestReconnectOnTheFloor(t *testing.T) {
	r, tg := floorTarget(t, 1)
	rs, err := r.openRooms(t.Context(), tg, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.close()
	res, err := rs.run(t.Context(), phaseSpec{scenario: ScenarioReconnect, rate: 50, warmup: 100 * time.Millisecond,
		measure: 600 * time.Millisecond, drop: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped != 3 || res.ConnectErrors != 0 || res.BackMS <= 0 || res.Missed != 0 {
		t.Fatalf("dropped %d, failed %d, back after %v ms, missed %d", res.Dropped, res.ConnectErrors, res.BackMS, res.Missed)
	}
	if s := res.SteadyCounts; s == nil || s.Expected != res.Acked || s.Delivered != res.Acked || s.Lost != 0 {
		t.Fatalf("the steady watcher: %+v of %d", s, res.Acked)
	}
	if c := res.Counts; c.Delivered != c.Expected || c.Expected <= res.Acked {
		t.Fatalf("counts %+v: the rejoined watchers expect what came after their joins", *c)
	}
}

func TestIdleAndConnectOnTheFloor(t *testing.T) {
	r, tg := floorTarget(t, 2)
	r.prof.Idle, r.prof.Connect, r.prof.IdleSettle = 20, 20, 0
	idle, err := r.idle(t.Context(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if idle.Sockets != 20 || idle.ConnectErrors != 0 || idle.Connect.Count != 20 || idle.Server.RSSKB == 0 || idle.ConnsPerS <= 0 {
		t.Fatalf("idle: %+v", idle)
	}
	storm, err := r.connectStorm(t.Context(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if storm.Sockets != 20 || storm.ConnectErrors != 0 || storm.Connect.Count != 20 {
		t.Fatalf("connect: %+v", storm)
	}
	// A server that is not there: every socket fails, and says so.
	tg.URLs = []string{"ws://127.0.0.1:1/"}
	failed, err := r.connectStorm(t.Context(), tg)
	if err != nil || failed.Sockets != 0 || failed.ConnectErrors != 20 {
		t.Fatalf("unreachable: %+v %v", failed, err)
	}
}

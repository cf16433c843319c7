package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/bus"
	"livechat/internal/bus/redistest"
)

func roomFrame(room, origin string, n int) bus.Message {
	return bus.Message{Origin: origin, Audience: bus.Audience{Kind: bus.Room, Room: room}, Seq: int64(n + 1),
		Frame: json.RawMessage(fmt.Sprintf(`{"o":%q,"r":%q,"n":%d}`, origin, room, n))}
}

// roomsSeen is how many of room's frames c got, of any origin.
func (c *counter) roomsSeen(room, origin string, n int) (got int) {
	for i := range n {
		got += c.times(string(roomFrame(room, origin, i).Frame))
	}
	return got
}

// numsub is how many subscribers Redis counts on a room's channel.
func numsub(t *testing.T, raw *redis.Client, channel, room string) int64 {
	t.Helper()
	ch := channel + ":room:" + room
	n, err := raw.PubSubNumSub(context.Background(), ch).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n[ch]
}

// Room frames travel on a channel per room: an instance watching the room
// gets each of the other's once; one that is not gets none of them (Redis
// does not even send them to it), whatever else it gets. Watches count:
// the subscription ends with the last Unwatch.
func TestRoomFramesReachOnlyTheInstancesWatching(t *testing.T) {
	url := redistest.URL(t)
	raw, _ := redistest.Client(t)
	channel := testChannel()
	a, b := openRedis(t, url, channel, bus.RedisOptions{}), openRedis(t, url, channel, bus.RedisOptions{})
	ca, cb := count(a), count(b)
	const r1, r2, n = "U1", "U2", 50
	ctx := context.Background()

	a.Watch(ctx, r1)
	a.Watch(ctx, r1) // a second socket in the room
	if got := numsub(t, raw, channel, r1); got != 1 {
		t.Fatalf("Redis counts %d subscribers on r1 once Watch returned, want 1", got)
	}
	for i := range n {
		publish(t, b, roomFrame(r1, "b", i))
		publish(t, b, roomFrame(r2, "b", i))
	}
	settle(t, a, b, ca, cb, 0) // a has passed everything b published
	if got, other := ca.roomsSeen(r1, "b", n), ca.roomsSeen(r2, "b", n); got != n || other != 0 {
		t.Fatalf("a, watching r1: got %d of r1's %d frames and %d of r2's, want %d and 0", got, n, other, n)
	}
	if got := cb.roomsSeen(r1, "b", n) + cb.roomsSeen(r2, "b", n); got != 2*n {
		t.Fatalf("b got %d of its own %d room frames, want each once, locally", got, 2*n)
	}

	a.Unwatch(r1)
	publish(t, b, roomFrame(r1, "b", n))
	settle(t, a, b, ca, cb, 1)
	if ca.times(string(roomFrame(r1, "b", n).Frame)) != 1 {
		t.Fatal("a stopped getting r1 with one of its two watches left")
	}
	a.Unwatch(r1)
	ca.await(t, "a's subscription to r1 ends", func() bool { return numsub(t, raw, channel, r1) == 0 })
	for i := n + 1; i < 2*n; i++ {
		publish(t, b, roomFrame(r1, "b", i))
	}
	settle(t, a, b, ca, cb, 2)
	if got := ca.roomsSeen(r1, "b", 2*n); got != n+1 {
		t.Fatalf("a got %d of r1's frames, want the %d from while it watched", got, n+1)
	}

	// Watched again at once after the last Unwatch: the frames come again.
	a.Watch(ctx, r1)
	a.Unwatch(r1)
	a.Watch(ctx, r1)
	publish(t, b, roomFrame(r1, "b", 2*n))
	ca.await(t, "a watches r1 again", func() bool { return ca.times(string(roomFrame(r1, "b", 2*n).Frame)) == 1 })
	if a.Watching() != 1 || b.Watching() != 0 {
		t.Fatalf("watching a %d, b %d; want 1 and 0", a.Watching(), b.Watching())
	}
}

// A Redis restart loses the subscriptions; the bus makes them again, its
// watched rooms' with its own channel, and the room frames cross again.
// While Redis is down, Watch does not wait for it.
func TestRoomSubscriptionsSurviveARedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	channel := testChannel()
	opt := bus.RedisOptions{HealthEvery: 500 * time.Millisecond}
	a, b := openRedis(t, srv.URL, channel, opt), openRedis(t, srv.URL, channel, opt)
	ca, cb := count(a), count(b)
	ctx := context.Background()
	a.Watch(ctx, "U1")
	settle(t, a, b, ca, cb, 0)

	srv.Stop()
	ca.await(t, "a sees Redis down", func() bool { return !a.Healthy() })
	start := time.Now()
	a.Watch(ctx, "U2")
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("Watch took %v with Redis down", took)
	}
	srv.Restart()
	ca.await(t, "a healthy again", a.Healthy)
	cb.await(t, "b healthy again", b.Healthy)
	crossesRoom(t, b, ca, "U1")
	crossesRoom(t, b, ca, "U2")
}

// crossesRoom publishes room frames from from until one reaches to.
func crossesRoom(t *testing.T, from bus.Bus, to *counter, room string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		m := roomFrame(room, "probe", i)
		publish(t, from, m)
		if waitFor(to, string(m.Frame), 200*time.Millisecond) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's frames do not cross within 10s", room)
		}
	}
}

// waitFor waits up to d for frame to reach c.
func waitFor(c *counter, frame string, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for c.times(frame) == 0 {
		select {
		case <-c.notify:
		case <-t.C:
			return c.times(frame) > 0
		}
	}
	return true
}

package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/bus"
	"livechat/internal/bus/redistest"
)

// counter records, per handler, how often each frame arrived and the
// order of each origin's frames.
type counter struct {
	mu     sync.Mutex
	seen   map[string]int
	order  map[string][]int
	notify chan struct{} // a frame arrived
}

func count(b bus.Bus) *counter {
	c := &counter{seen: map[string]int{}, order: map[string][]int{}, notify: make(chan struct{}, 1)}
	b.Subscribe(func(m bus.Message) {
		var f struct {
			N int `json:"n"`
		}
		_ = json.Unmarshal(m.Frame, &f)
		c.mu.Lock()
		c.seen[string(m.Frame)]++
		c.order[m.Origin] = append(c.order[m.Origin], f.N)
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
	})
	return c
}

func (c *counter) times(frame string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[frame]
}

// await waits until cond holds, or fails the test after 10 s. cond is
// checked whenever a frame arrives, and every few milliseconds for what
// has no event of its own (the buses' health, their drop counts).
func (c *counter) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-c.notify:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("not within 10s: %s", what)
		}
	}
}

// crosses publishes from from until one of its messages reaches to: the
// first publishes after an outage may meet a stale pooled connection and
// be dropped (pub/sub is at most once).
func crosses(t *testing.T, from bus.Bus, to *counter, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		m := frame("probe-"+name, i)
		publish(t, from, m)
		wait := time.NewTimer(200 * time.Millisecond)
	waiting:
		for to.times(string(m.Frame)) == 0 {
			select {
			case <-to.notify:
			case <-wait.C:
				break waiting
			}
		}
		wait.Stop()
		if to.times(string(m.Frame)) > 0 {
			return
		}
	}
	t.Fatalf("%s's messages do not cross within 10s", name)
}

// logs records what a bus logs at info and above.
type logs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logs) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

// find is the records whose message starts with prefix, with their
// attributes as text.
func (l *logs) find(prefix string) []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.recs {
		if strings.HasPrefix(r.Message, prefix) {
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			out = append(out, attrs)
		}
	}
	return out
}

func frame(origin string, n int) bus.Message {
	return bus.Message{Origin: origin, Audience: bus.Audience{Kind: bus.All}, Frame: json.RawMessage(fmt.Sprintf(`{"o":%q,"n":%d}`, origin, n))}
}

func frameText(origin string, n int) string { return string(frame(origin, n).Frame) }

func publish(t *testing.T, b bus.Bus, m bus.Message) {
	t.Helper()
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// settle makes sure both buses' subscriptions have passed everything
// published so far, so that an echo or a duplicate would have arrived: a
// marker published after it all reaches the other bus, and that bus's
// answer reaches the first, each way.
func settle(t *testing.T, a, b bus.Bus, ca, cb *counter, round int) {
	t.Helper()
	ma, mb := frame("mark-a", round), frame("mark-b", round)
	publish(t, a, ma)
	cb.await(t, "b gets a's marker", func() bool { return cb.times(string(ma.Frame)) > 0 })
	publish(t, b, mb)
	ca.await(t, "a gets b's marker", func() bool { return ca.times(string(mb.Frame)) > 0 })
	ma2 := frame("mark-a", round+1000)
	publish(t, a, ma2)
	cb.await(t, "b gets a's second marker", func() bool { return cb.times(string(ma2.Frame)) > 0 })
}

// Two instances on one Redis, both publishing at once: each handler gets
// every message once (its own instance's directly, the other's through
// Redis, never its own echo), each publisher's in its order.
func TestTwoRedisInstancesEachHandlerSeesEveryMessageOnce(t *testing.T) {
	url := redistest.URL(t)
	channel := testChannel()
	a, b := openRedis(t, url, channel, bus.RedisOptions{}), openRedis(t, url, channel, bus.RedisOptions{})
	ca, cb := count(a), count(b)
	const n = 500
	var wg sync.WaitGroup
	for _, p := range []struct {
		b      bus.Bus
		origin string
	}{{a, "a"}, {b, "b"}} {
		wg.Go(func() {
			for i := range n {
				if err := p.b.Publish(context.Background(), frame(p.origin, i)); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	settle(t, a, b, ca, cb, 0)
	for name, c := range map[string]*counter{"a": ca, "b": cb} {
		for _, origin := range []string{"a", "b"} {
			for i := range n {
				if got := c.times(frameText(origin, i)); got != 1 {
					t.Fatalf("handler %s got %s's message %d %d times, want once", name, origin, i, got)
				}
			}
			c.mu.Lock()
			order := c.order[origin]
			c.mu.Unlock()
			for i, v := range order {
				if v != i {
					t.Fatalf("handler %s: %s's messages out of order at %d: %v", name, origin, i, order[:i+1])
				}
			}
		}
	}
}

// With Redis down, each instance's handlers still get that instance's
// messages, synchronously; nothing crosses, Publish neither fails nor
// waits, and the drops are counted. After Redis comes back on the same
// port, both buses say so, run their reconnect hooks, and messages cross
// again, once each.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	channel := testChannel()
	opt := bus.RedisOptions{HealthEvery: 500 * time.Millisecond}
	la, lb := &logs{}, &logs{}
	a, b := openRedisLog(t, srv.URL, channel, opt, slog.New(la)), openRedisLog(t, srv.URL, channel, opt, slog.New(lb))
	ca, cb := count(a), count(b)
	reconnected := map[*bus.Redis]chan struct{}{a: make(chan struct{}, 10), b: make(chan struct{}, 10)}
	for r, ch := range reconnected {
		r.OnReconnect(func() { ch <- struct{}{} })
	}
	if !a.Healthy() || !b.Healthy() {
		t.Fatal("not healthy at start")
	}
	settle(t, a, b, ca, cb, 0)

	srv.Stop()
	ca.await(t, "a sees Redis down", func() bool { return !a.Healthy() })
	cb.await(t, "b sees Redis down", func() bool { return !b.Healthy() })
	droppedA, droppedB := a.Dropped(), b.Dropped()
	const n = 100
	for i := range n {
		publish(t, a, frame("a", i))
		publish(t, b, frame("b", i))
		if ca.times(frameText("a", i)) != 1 || cb.times(frameText("b", i)) != 1 {
			t.Fatalf("message %d not delivered locally when Publish returned, with Redis down", i)
		}
	}
	ca.await(t, "a counts what it could not send", func() bool { return a.Dropped()-droppedA == n })
	cb.await(t, "b counts what it could not send", func() bool { return b.Dropped()-droppedB == n })
	for i := range n {
		if ca.times(frameText("b", i)) != 0 || cb.times(frameText("a", i)) != 0 {
			t.Fatalf("message %d crossed with Redis down", i)
		}
	}

	srv.Restart()
	for _, ch := range reconnected {
		select {
		case <-ch:
		case <-time.After(15 * time.Second):
			t.Fatal("no reconnect hook within 15s of Redis coming back")
		}
	}
	ca.await(t, "a healthy again", a.Healthy)
	cb.await(t, "b healthy again", b.Healthy)
	// The outage is logged once as it begins and once as it ends, with
	// what was dropped: not per message.
	for name, l := range map[string]*logs{"a": la, "b": lb} {
		down, back := l.find("bus: redis down"), l.find("bus: redis back")
		if len(down) != 1 || len(back) != 1 || back[0]["dropped"] != strconv.Itoa(n) || down[0]["err"] == "" {
			t.Fatalf("%s logged the outage as down %v, back %v; want once each, back with dropped=%d", name, down, back, n)
		}
	}
	crosses(t, a, cb, "a")
	crosses(t, b, ca, "b")
	for i := n; i < 2*n; i++ {
		publish(t, a, frame("a", i))
		publish(t, b, frame("b", i))
	}
	settle(t, a, b, ca, cb, 1)
	for name, c := range map[string]*counter{"a": ca, "b": cb} {
		for _, origin := range []string{"a", "b"} {
			for i := n; i < 2*n; i++ {
				if got := c.times(frameText(origin, i)); got != 1 {
					t.Fatalf("after the restart, handler %s got %s's message %d %d times, want once", name, origin, i, got)
				}
			}
		}
	}
	// Once for its own subscription, and at most once more for the other's
	// Resync (both dropped messages while Redis was down): never once per
	// confirmed channel or per dropped message.
	for r, ch := range reconnected {
		if len(ch) > 1 {
			t.Fatalf("reconnect hook of %p ran %d times more for one restart, want at most 1", r, len(ch))
		}
	}
}

// A Redis that holds its connections and never answers (paused): Publish
// still returns at once, having delivered locally, and drops for the
// others beyond the queue; the silent subscription is noticed. When Redis
// answers again, the buses recover.
func TestPublishNeverWaitsForASilentRedis(t *testing.T) {
	srv := redistest.Start(t)
	channel := testChannel()
	// Long client timeouts: a Publish that waited for Redis would take them.
	url := srv.URL + "?read_timeout=10s&write_timeout=10s"
	opt := bus.RedisOptions{Queue: 16, Batch: 4, HealthEvery: 200 * time.Millisecond}
	a, b := openRedis(t, url, channel, opt), openRedis(t, url, channel, opt)
	ca, cb := count(a), count(b)
	a.Watch(context.Background(), "U1")
	settle(t, a, b, ca, cb, 0)

	srv.Pause()
	const n = 1000
	start := time.Now()
	for i := range n {
		publish(t, a, frame("a", i))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("%d publishes took %v with Redis silent: a publish waited for it", n, took)
	}
	for i := range n {
		if ca.times(frameText("a", i)) != 1 {
			t.Fatalf("message %d not delivered locally", i)
		}
	}
	if d := a.Dropped(); d < uint64(n-opt.Queue-opt.Batch) {
		t.Fatalf("dropped %d of %d with a queue of %d, want at least %d", d, n, opt.Queue, n-opt.Queue-opt.Batch)
	}
	ca.await(t, "a notices the silent subscription", func() bool { return !a.Healthy() })
	cb.await(t, "b notices the silent subscription", func() bool { return !b.Healthy() })

	srv.Resume()
	ca.await(t, "a healthy again", a.Healthy)
	cb.await(t, "b healthy again", b.Healthy)
	crosses(t, a, cb, "a")
	crosses(t, b, ca, "b")
	crossesRoom(t, b, ca, "U1") // the new connection has the watched rooms' channels too
}

// BenchmarkRedisCrossInstance publishes on one Redis bus, in bursts of
// 100 (each waits for the other bus to have the one before), and reports
// the process's CPU time per message besides the wall time: the
// two-instance hot path, both ends in one process.
func BenchmarkRedisCrossInstance(b *testing.B) {
	url := redistest.URL(b)
	channel := testChannel()
	open := func() *bus.Redis {
		r, err := bus.NewRedis(context.Background(), url, channel, slog.New(slog.DiscardHandler), bus.RedisOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		return r
	}
	pub, sub := open(), open()
	got := make(chan struct{}, 1)
	const burst = 100
	var n int
	var mu sync.Mutex
	sub.Subscribe(func(bus.Message) {
		mu.Lock()
		n++
		done := n%burst == 0 || n == b.N
		mu.Unlock()
		if done {
			got <- struct{}{}
		}
	})
	pub.Subscribe(func(bus.Message) {})
	sub.Watch(context.Background(), "U0123456789abcdef0123456789abcdef")
	m := bus.Message{Origin: "a", Audience: bus.Audience{Kind: bus.Room, Room: "U0123456789abcdef0123456789abcdef"}, Seq: 1,
		Frame: json.RawMessage(`{"type":"new_message","payload":{"id":1,"seq":1,"line_user_id":"U0123456789abcdef0123456789abcdef","content":"0123456789012345678901234567890123456789012345678901234567890123"},"timestamp":"2026-11-25T10:00:00Z"}`)}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ResetTimer()
	start := cpu()
	for i := 0; i < b.N; {
		for j := 0; j < burst && i < b.N; j, i = j+1, i+1 {
			if err := pub.Publish(context.Background(), m); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			b.Fatalf("the other bus got %d of %d", n, i)
		}
	}
	b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// What another publisher puts on the channel: an older instance's
// envelope (the frame before the seq, no bus id) is delivered as it was
// meant; garbage, or a frame that is not JSON, is dropped and the bus
// goes on.
func TestRedisReadsOtherEnvelopes(t *testing.T) {
	url := redistest.URL(t)
	channel := testChannel()
	a := openRedis(t, url, channel, bus.RedisOptions{})
	ca := count(a)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(opt)
	defer raw.Close()
	for _, p := range []string{
		`not json`,
		`{"bus":"x","origin":"o","audience":{"kind":"all"},"frame":{"n":` + `}`,
		`{"origin":"old","audience":{"kind":"room","room":"U1","exclude_conn":"c,\"frame\":1"},"frame":{"o":"old","n":1},"seq":7}`,
	} {
		if err := raw.Publish(context.Background(), channel, p).Err(); err != nil {
			t.Fatal(err)
		}
	}
	publishedAfter := frame("b", 2)
	other := openRedis(t, url, channel, bus.RedisOptions{})
	publish(t, other, publishedAfter)
	ca.await(t, "a gets what came after", func() bool { return ca.times(string(publishedAfter.Frame)) == 1 })
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if len(ca.seen) != 2 || ca.seen[`{"o":"old","n":1}`] != 1 {
		t.Fatalf("a got %v, want the older envelope's frame and the last message", ca.seen)
	}
}

// An instance that dropped messages for the others while their
// subscriptions stood (its queue was full) says so once it sends again:
// the others run their reconnect hooks, which refill from the database;
// their handlers never see the order, and the publisher does not act on
// its own.
func TestDroppedMessagesMakeTheOthersRefill(t *testing.T) {
	url := redistest.URL(t)
	channel := testChannel()
	a := openRedis(t, url, channel, bus.RedisOptions{Queue: 1, Batch: 1})
	b := openRedis(t, url, channel, bus.RedisOptions{})
	ca, cb := count(a), count(b)
	hooks := map[string]chan struct{}{"a": make(chan struct{}, 100), "b": make(chan struct{}, 100)}
	a.OnReconnect(func() { hooks["a"] <- struct{}{} })
	b.OnReconnect(func() { hooks["b"] <- struct{}{} })
	settle(t, a, b, ca, cb, 0)
	if len(hooks["b"]) != 0 {
		t.Fatal("b's reconnect hook ran with nothing dropped")
	}
	for i := 0; a.Dropped() == 0; i++ {
		if i == 100000 {
			t.Fatal("a queue of 1 never overflowed")
		}
		publish(t, a, frame("a", i))
	}
	select {
	case <-hooks["b"]:
	case <-time.After(10 * time.Second):
		t.Fatal("b's reconnect hook did not run within 10s of a's drops")
	}
	crosses(t, a, cb, "a") // a's queue may still be full: retried
	// Redis handled a's resync before that; a marker of b's after it
	// reaches a after the resync's echo.
	mark := frame("mark-b", 1)
	publish(t, b, mark)
	ca.await(t, "a gets b's marker", func() bool { return ca.times(string(mark.Frame)) > 0 })
	if len(hooks["a"]) != 0 {
		t.Fatal("a's reconnect hook ran for its own resync")
	}
	if n := cb.times(`{}`); n != 0 {
		t.Fatalf("b's handler got the resync order %d times", n)
	}
}

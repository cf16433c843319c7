package ratelimit_test

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/bus/redistest"
	"livechat/internal/clock"
	"livechat/internal/ratelimit"
)

// a second client, as another instance has.
func another(t *testing.T, c *redis.Client) *redis.Client {
	d := redis.NewClient(c.Options())
	t.Cleanup(func() { d.Close() })
	return d
}

// TestRedisBucketIsShared: two instances take from one bucket, with the
// memory limiter's refill and retry-after.
func TestRedisBucketIsShared(t *testing.T) {
	c, name := redistest.Client(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	log := slog.New(slog.DiscardHandler)
	a := ratelimit.NewRedis(c, name, 10, 30, clk, log)
	b := ratelimit.NewRedis(another(t, c), name, 10, 30, clk, log)
	for i := range 30 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if ok, _ := l.Allow(1); !ok {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	for _, l := range []*ratelimit.RedisLimiter{a, b} {
		if ok, wait := l.Allow(1); ok || wait != 100*time.Millisecond {
			t.Fatalf("31st event: allowed %v, retry after %v, want refused and 100ms", ok, wait)
		}
	}
	if ok, _ := b.Allow(2); !ok {
		t.Fatal("another key shares the bucket")
	}
	clk.Advance(100 * time.Millisecond)
	if ok, _ := b.Allow(1); !ok {
		t.Fatal("token not refilled after 100ms")
	}
	if ok, _ := a.Allow(1); ok {
		t.Fatal("refilled more than one token in 100ms")
	}
}

// TestRedisFailuresAreShared: failed logins on one instance lock the key on
// the other; a success anywhere clears them, and a forgiven attempt does
// not count.
func TestRedisFailuresAreShared(t *testing.T) {
	c, name := redistest.Client(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	log := slog.New(slog.DiscardHandler)
	a := ratelimit.NewRedisFailures(c, name, 2, 15*time.Minute, clk, log)
	b := ratelimit.NewRedisFailures(another(t, c), name, 2, 15*time.Minute, clk, log)
	begin := func(f ratelimit.Failures, want bool) time.Duration {
		t.Helper()
		ok, retry := f.Begin("alice\x00192.0.2.1")
		if ok != want {
			t.Fatalf("begin: %v, want %v", ok, want)
		}
		return retry
	}
	begin(a, true)
	b.Forgive("alice\x00192.0.2.1") // a's attempt failed on our side
	begin(a, true)
	clk.Advance(time.Minute)
	begin(b, true)
	if retry := begin(a, false); retry != 14*time.Minute {
		t.Fatalf("retry after %v, want 14m", retry)
	}
	if ok, _ := b.Begin("carol\x00192.0.2.1"); !ok {
		t.Fatal("another key is locked too")
	}
	clk.Advance(14 * time.Minute)
	begin(b, true) // the older failure expired
	begin(a, false)
	a.Succeeded("alice\x00192.0.2.1")
	begin(b, true)
}

// countingHandler counts the log records at or above Warn.
type countingHandler struct{ warns *atomic.Int32 }

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.warns.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// TestRedisDownFallsBackToMemory: with Redis unreachable each instance
// limits on its own, and says so once, not per call.
func TestRedisDownFallsBackToMemory(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	var warns atomic.Int32
	log := slog.New(countingHandler{&warns})
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	l := ratelimit.NewRedis(c, "down", 10, 3, clk, log)
	for i := range 3 {
		if ok, _ := l.Allow(1); !ok {
			t.Fatalf("event %d refused", i+1)
		}
	}
	if ok, wait := l.Allow(1); ok || wait != 100*time.Millisecond {
		t.Fatalf("4th event: %v %v, want refused after the burst of 3", ok, wait)
	}
	f := ratelimit.NewRedisFailures(c, "down", 1, time.Minute, clk, log)
	if ok, _ := f.Begin("k"); !ok {
		t.Fatal("first attempt refused")
	}
	if ok, _ := f.Begin("k"); ok {
		t.Fatal("second attempt allowed past max 1")
	}
	if got := warns.Load(); got != 2 {
		t.Fatalf("%d warnings, want one per limit", got)
	}
	// Within a second of a failure, memory answers without trying Redis:
	// a down Redis must not cost each frame a timeout.
	var calls atomic.Int32
	c.AddHook(countHook{&calls})
	for range 100 {
		l.Allow(2)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d Redis calls for 100 checks right after a failure, want 0", n)
	}
}

// countHook counts the commands a client sends (or tries to).
type countHook struct{ n *atomic.Int32 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int32(len(cmds)))
		return next(ctx, cmds)
	}
}

package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/clock"
)

// Allower is a per-key rate limit: Limiter in memory, Redis across
// instances.
type Allower interface {
	// Allow takes one token from key's bucket; when it is empty it returns
	// false and how long until one is available.
	Allow(key int64) (bool, time.Duration)
}

// redisCallTimeout bounds one Redis call on the request path; past it the
// instance's own memory decides.
const redisCallTimeout = 250 * time.Millisecond

// redisRetry is how long a limit answers from memory alone after a Redis
// call failed, before it tries Redis again: a down Redis must not cost
// every frame a timeout.
const redisRetry = time.Second

// redisHealth falls back to memory while Redis fails, and logs the outage
// once when it starts and once when it ends, never per call.
type redisHealth struct {
	what    string
	log     *slog.Logger
	down    atomic.Bool
	retryAt atomic.Int64 // unix ns: memory alone until then
	mu      sync.Mutex
	fails   int64 // calls answered from memory during this outage
}

// skip reports whether to answer from memory without trying Redis.
func (h *redisHealth) skip() bool {
	if !h.down.Load() {
		return false
	}
	if time.Now().UnixNano() < h.retryAt.Load() {
		h.mu.Lock()
		h.fails++
		h.mu.Unlock()
		return true
	}
	return false
}

func (h *redisHealth) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fails++
	h.retryAt.Store(time.Now().Add(redisRetry).UnixNano())
	if !h.down.Swap(true) {
		h.log.Warn("redis unreachable: limits are per instance until it answers", "limit", h.what, "err", err)
	}
}

func (h *redisHealth) ok() {
	if !h.down.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down.Swap(false) {
		h.log.Info("redis answers again: limits are shared", "limit", h.what, "answered_locally", h.fails)
		h.fails = 0
	}
}

// bucketScript is Limiter.Allow on a Redis hash {t: tokens, l: last ms}:
// the same refill and take, atomic across instances. The time comes from
// the caller's clock. It answers {allowed, wait ms}.
var bucketScript = redis.NewScript(`
local rate, burst, now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 't', 'l')
local tokens, last = tonumber(b[1]), tonumber(b[2])
if tokens == nil or last == nil then tokens, last = burst, now end
if now > last then
  tokens = math.min(burst, tokens + (now - last) / 1000 * rate)
  last = now
end
local ok, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
else
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'l', string.format('%d', last))
redis.call('PEXPIRE', KEYS[1], ttl)
return {ok, wait}
`)

// RedisLimiter is Limiter shared by every instance on one Redis. While
// Redis fails, a Limiter of this instance's own answers.
type RedisLimiter struct {
	client *redis.Client
	prefix string
	rate   float64
	burst  int
	clock  clock.Clock
	ttl    time.Duration // a bucket idle this long is full again: forget it
	local  *Limiter
	health redisHealth
}

// NewRedis returns a limiter of rate events per second with the given
// burst, its buckets under name in Redis.
func NewRedis(client *redis.Client, name string, rate float64, burst int, c clock.Clock, log *slog.Logger) *RedisLimiter {
	full := time.Duration(float64(burst)/rate*float64(time.Second)) + time.Second
	return &RedisLimiter{
		client: client, prefix: "livechat:rate:" + name + ":", rate: rate, burst: burst, clock: c, ttl: full,
		local:  New(rate, burst, c),
		health: redisHealth{what: name, log: log},
	}
}

func (l *RedisLimiter) Allow(key int64) (bool, time.Duration) {
	if l.health.skip() {
		return l.local.Allow(key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisCallTimeout)
	defer cancel()
	now := l.clock.Now().UnixMilli()
	res, err := bucketScript.Run(ctx, l.client, []string{l.prefix + strconv.FormatInt(key, 10)},
		l.rate, l.burst, now, l.ttl.Milliseconds()).Int64Slice()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("ratelimit: unexpected reply %v", res)
		}
		l.health.failed(err)
		return l.local.Allow(key)
	}
	l.health.ok()
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond
}

// Failures counts failed attempts per key over a sliding window: the login
// lockout. An attempt counts from the moment it begins and is forgiven on
// success, so concurrent guesses cannot all pass the check while the
// password is being checked.
type Failures interface {
	// Begin starts an attempt for key. With max failures within the window
	// it refuses, with how long until the oldest of them expires.
	Begin(key string) (ok bool, retryAfter time.Duration)
	// Succeeded forgets key's failures.
	Succeeded(key string)
	// Forgive takes back the latest attempt begun for key: it failed on
	// the server's side, not on the credentials.
	Forgive(key string)
}

// beginScript is MemoryFailures.Begin on a sorted set of attempt times
// (ms). It answers {allowed, retry after ms}.
var beginScript = redis.NewScript(`
local now, window, max, member = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= max then
  local oldest = redis.call('ZRANGE', KEYS[1], n - max, n - max, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
`)

// RedisFailures is MemoryFailures shared by every instance on one Redis.
// Keys are hashed: usernames (which people mistype passwords into) are not
// stored. While Redis fails, a MemoryFailures of this instance answers.
type RedisFailures struct {
	client *redis.Client
	prefix string
	max    int
	window time.Duration
	clock  clock.Clock
	seq    atomic.Int64 // makes each attempt's member unique
	local  *MemoryFailures
	health redisHealth
}

// NewRedisFailures returns a Failures of max per window, under name in Redis.
func NewRedisFailures(client *redis.Client, name string, max int, window time.Duration, c clock.Clock, log *slog.Logger) *RedisFailures {
	return &RedisFailures{
		client: client, prefix: "livechat:failures:" + name + ":", max: max, window: window, clock: c,
		local:  NewFailures(max, window, c),
		health: redisHealth{what: name, log: log},
	}
}

func (f *RedisFailures) key(k string) string {
	sum := sha256.Sum256([]byte(k))
	return f.prefix + hex.EncodeToString(sum[:16])
}

func (f *RedisFailures) Begin(key string) (bool, time.Duration) {
	if f.health.skip() {
		return f.local.Begin(key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisCallTimeout)
	defer cancel()
	now := f.clock.Now().UnixMilli()
	member := strconv.FormatInt(now, 10) + "-" + strconv.FormatInt(f.seq.Add(1), 10) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	res, err := beginScript.Run(ctx, f.client, []string{f.key(key)}, now, f.window.Milliseconds(), f.max, member).Int64Slice()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("ratelimit: unexpected reply %v", res)
		}
		f.health.failed(err)
		return f.local.Begin(key)
	}
	f.health.ok()
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond
}

func (f *RedisFailures) Succeeded(key string) {
	f.local.Succeeded(key)
	if f.health.skip() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisCallTimeout)
	defer cancel()
	if err := f.client.Del(ctx, f.key(key)).Err(); err != nil {
		f.health.failed(err)
		return
	}
	f.health.ok()
}

func (f *RedisFailures) Forgive(key string) {
	f.local.Forgive(key)
	if f.health.skip() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisCallTimeout)
	defer cancel()
	if err := f.client.ZPopMax(ctx, f.key(key)).Err(); err != nil {
		f.health.failed(err)
		return
	}
	f.health.ok()
}

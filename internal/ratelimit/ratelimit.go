// Package ratelimit keeps token buckets keyed by operator and budget, on an
// injectable clock. Buckets outlive sockets, so reconnecting does not refill
// them. Its Sampler does the same for log lines.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"livechat/internal/clock"
)

// Limiter is a set of token buckets that share one rate and burst.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64
	clock clock.Clock

	mu      sync.Mutex
	buckets map[int64]*bucket
	sweep   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter allowing rate events per second with the given burst.
func New(rate float64, burst int, c clock.Clock) *Limiter {
	return &Limiter{rate: rate, burst: float64(burst), clock: c, buckets: map[int64]*bucket{}}
}

// Allow takes one token from key's bucket. When it is empty, it returns false
// and how long until a token is available.
func (l *Limiter) Allow(key int64) (bool, time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepIdle(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
	return false, wait
}

// sweepIdle drops buckets that have refilled completely; a fresh bucket is
// identical to a full one, so forgetting them changes nothing.
func (l *Limiter) sweepIdle(now time.Time) {
	if now.Sub(l.sweep) < time.Minute {
		return
	}
	l.sweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) > full {
			delete(l.buckets, k)
		}
	}
}

package ratelimit

import (
	"sync"
	"time"

	"livechat/internal/clock"
)

// maxFailureKeys bounds MemoryFailures' memory; past it, expired entries
// are swept.
const maxFailureKeys = 10000

// MemoryFailures is Failures in this instance's memory.
type MemoryFailures struct {
	max    int
	window time.Duration
	clock  clock.Clock

	mu       sync.Mutex
	failures map[string][]time.Time // oldest first, within window
}

// NewFailures returns a MemoryFailures of max per window.
func NewFailures(max int, window time.Duration, c clock.Clock) *MemoryFailures {
	return &MemoryFailures{max: max, window: window, clock: c, failures: map[string][]time.Time{}}
}

func (l *MemoryFailures) Begin(key string) (ok bool, retryAfter time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.live(key, now)
	if len(ts) >= l.max {
		return false, ts[len(ts)-l.max].Add(l.window).Sub(now)
	}
	if len(ts) == 0 && len(l.failures) >= maxFailureKeys {
		l.sweep(now)
	}
	l.failures[key] = append(ts, now)
	return true, 0
}

func (l *MemoryFailures) Succeeded(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

func (l *MemoryFailures) Forgive(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts := l.failures[key]; len(ts) > 1 {
		l.failures[key] = ts[:len(ts)-1]
	} else {
		delete(l.failures, key)
	}
}

// live drops key's failures older than the window and returns the rest.
func (l *MemoryFailures) live(key string, now time.Time) []time.Time {
	ts := l.failures[key]
	i := 0
	for i < len(ts) && !ts[i].Add(l.window).After(now) {
		i++
	}
	if i == len(ts) {
		delete(l.failures, key)
		return nil
	}
	ts = ts[i:]
	l.failures[key] = ts
	return ts
}

func (l *MemoryFailures) sweep(now time.Time) {
	for key := range l.failures {
		l.live(key, now)
	}
}

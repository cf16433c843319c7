package rest

import (
	"sync"
	"time"

	"livechat/internal/clock"
)

// maxLoginKeys bounds the limiter's memory; past it, expired entries are swept.
const maxLoginKeys = 10000

// loginLimiter counts failed logins per (username, client IP) over a sliding
// window, in memory: enough to stop password guessing against one instance.
//
// An attempt counts as a failure from the moment it starts and is forgiven
// on success, so concurrent guesses cannot all slip past the check while
// bcrypt runs.
type loginLimiter struct {
	max    int
	window time.Duration
	clock  clock.Clock

	mu       sync.Mutex
	failures map[string][]time.Time // oldest first, within window
}

func newLoginLimiter(max int, window time.Duration, c clock.Clock) *loginLimiter {
	return &loginLimiter{max: max, window: window, clock: c, failures: map[string][]time.Time{}}
}

// begin starts an attempt for key. When key has max failures within the
// window it returns false and how long until the oldest of them expires.
func (l *loginLimiter) begin(key string) (ok bool, retryAfter time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.live(key, now)
	if len(ts) >= l.max {
		return false, ts[len(ts)-l.max].Add(l.window).Sub(now)
	}
	if len(ts) == 0 && len(l.failures) >= maxLoginKeys {
		l.sweep(now)
	}
	l.failures[key] = append(ts, now)
	return true, 0
}

// succeeded forgets key's failures.
func (l *loginLimiter) succeeded(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// forgive takes back one attempt begun for key that failed on the server's
// side, not on the credentials.
func (l *loginLimiter) forgive(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts := l.failures[key]; len(ts) > 1 {
		l.failures[key] = ts[:len(ts)-1]
	} else {
		delete(l.failures, key)
	}
}

// live drops key's failures older than the window and returns the rest.
func (l *loginLimiter) live(key string, now time.Time) []time.Time {
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

func (l *loginLimiter) sweep(now time.Time) {
	for key := range l.failures {
		l.live(key, now)
	}
}

package clock

import "time"

// Backoff is the wait after failed attempt n (1-based): lo, doubling each
// attempt, at most hi.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

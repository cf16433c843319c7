package clock_test

import (
	"testing"
	"time"

	"livechat/internal/clock"
)

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 1000: 5 * time.Minute} {
		if got := clock.Backoff(n, time.Second, 5*time.Minute); got != want {
			t.Errorf("attempt %d: %v, want %v", n, got, want)
		}
	}
}

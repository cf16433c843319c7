package ratelimit

import (
	"sync"
	"time"

	"livechat/internal/clock"
)

// Sampler lets one event through per period and counts the ones it held
// back, for log lines a client can trigger at will: a flood costs one line
// per period, and that line says how many it stands for.
type Sampler struct {
	period time.Duration
	clock  clock.Clock

	mu         sync.Mutex
	next       time.Time // no event passes before it
	suppressed int
}

// NewSampler returns a sampler passing one event per period.
func NewSampler(period time.Duration, c clock.Clock) *Sampler {
	return &Sampler{period: period, clock: c}
}

// Allow reports whether this event passes and, when it does, how many were
// held back since the last one that passed.
func (s *Sampler) Allow() (ok bool, suppressed int) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.next) {
		s.suppressed++
		return false, 0
	}
	s.next = now.Add(s.period)
	suppressed, s.suppressed = s.suppressed, 0
	return true, suppressed
}

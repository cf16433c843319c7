// Package lease elects, among the instances of a deployment, the one that
// does a piece of work done once for all of them (the live KPIs): a named
// lease held by one instance until its term ends unless renewed. Memory is
// for one process (tests: the instances of one deployment in it); Redis is
// shared by real instances.
package lease

import (
	"context"
	"sync"
	"time"

	"livechat/internal/clock"
)

// Memory is the in-process lease table.
type Memory struct {
	mu     sync.Mutex
	clock  clock.Clock
	leases map[string]held
}

type held struct {
	holder string
	until  time.Time
}

// NewMemory returns an empty lease table on clock c.
func NewMemory(c clock.Clock) *Memory { return &Memory{clock: c, leases: map[string]held{}} }

// Hold takes name for holder for ttl, or renews it, unless another holder's
// term has not ended; it reports whether holder holds it now.
func (m *Memory) Hold(_ context.Context, name, holder string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	if l, ok := m.leases[name]; ok && l.holder != holder && l.until.After(now) {
		return false, nil
	}
	m.leases[name] = held{holder, now.Add(ttl)}
	return true, nil
}

// Release gives name up, if holder holds it, for another to take at once.
func (m *Memory) Release(_ context.Context, name, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[name]; ok && l.holder == holder {
		delete(m.leases, name)
	}
	return nil
}

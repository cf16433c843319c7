package bus

import (
	"context"
	"sync"
)

// Memory delivers synchronously, inside Publish, in publish order. Handlers
// must not block (the hub only enqueues).
type Memory struct {
	mu       sync.RWMutex
	handlers []Handler
	closed   bool
}

// NewMemory returns an in-process bus.
func NewMemory() *Memory { return &Memory{} }

func (b *Memory) Subscribe(h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers = append(b.handlers, h)
}

func (b *Memory) Publish(_ context.Context, m Message) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	for _, h := range b.handlers {
		h(m)
	}
	return nil
}

func (b *Memory) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.handlers = nil
	return nil
}

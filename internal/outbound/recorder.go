// Package outbound holds the in-process outbound channel: it records what
// would be delivered to customers, until the LINE channel replaces it, and
// lets tests inject delivery failures.
package outbound

import (
	"context"
	"sync"

	"livechat/internal/chat"
)

// Recorder is a chat.Outbound that records deliveries.
type Recorder struct {
	mu        sync.Mutex
	delivered []chat.Message
	failNext  []error
}

var _ chat.Outbound = (*Recorder)(nil)

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Deliver records m, or returns the next injected failure.
func (r *Recorder) Deliver(_ context.Context, m chat.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failNext) > 0 {
		err := r.failNext[0]
		r.failNext = r.failNext[1:]
		return err
	}
	r.delivered = append(r.delivered, m)
	return nil
}

// FailNext makes the next Deliver calls fail with errs, in order.
func (r *Recorder) FailNext(errs ...error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = append(r.failNext, errs...)
}

// Delivered returns a copy of what was delivered.
func (r *Recorder) Delivered() []chat.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chat.Message(nil), r.delivered...)
}

package chat

import "context"

// Enqueuer takes stored operator messages for durable, asynchronous
// delivery (internal/outbox): it persists what the delivery needs (retry
// key, temp id) and reports failures through Notifier.MessageFailed later.
type Enqueuer interface {
	Enqueue(ctx context.Context, m Message, tempID string) error
}

// SetEnqueuer routes operator messages through e instead of the
// synchronous Outbound (the server with a LINE channel; tests keep the
// in-process recorder).
func (s *Service) SetEnqueuer(e Enqueuer) { s.enqueue = e }

package webhook

import (
	"context"
	"time"

	"livechat/internal/chat"
	"livechat/internal/hours"
	"livechat/internal/line"
	"livechat/internal/store"
)

// Inbox is the durable queue of webhook events (line_webhook_events).
type Inbox interface {
	// AddInboxEvents stores one call's accepted and rejected events in one
	// transaction, skipping those whose webhook event id is already
	// stored; it returns how many accepted events were new.
	AddInboxEvents(ctx context.Context, events []store.InboxEvent, rejected []store.RejectedEvent, now time.Time) (int, error)
	// DueInboxIDs returns the events to process now, at most one per
	// customer (the oldest pending), oldest first.
	DueInboxIDs(ctx context.Context, now time.Time, limit int) ([]int64, error)
	// ClaimInboxEvent leases an event to this worker, counts the attempt
	// and reads it; false when another worker has it or it is done. An
	// event that cannot be read back: an error wrapping chat.ErrInvalid.
	ClaimInboxEvent(ctx context.Context, id int64, now, until time.Time) (store.InboxEvent, bool, error)
	CompleteInboxEvent(ctx context.Context, id int64, now time.Time) error
	// FailInboxEvent records a failed attempt; it reports whether the
	// event is now quarantined.
	FailInboxEvent(ctx context.Context, id int64, f store.Failure) (dead bool, err error)
	// NextInboxAttempt is when the next skipped event becomes due.
	NextInboxAttempt(ctx context.Context) (time.Time, bool, error)
}

// Store is what processing needs from persistence.
type Store interface {
	Inbox
	Customer(ctx context.Context, lineUserID string) (chat.Customer, error)
	UpsertCustomer(ctx context.Context, c chat.Customer) (chat.Customer, error)
	// IncomingMessageByLineID finds a stored customer message by its LINE
	// message id (ErrNotFound): a retried event must not store it twice.
	IncomingMessageByLineID(ctx context.Context, lineUserID, lineMessageID string) (chat.Message, error)
	// Unsent reports whether the customer unsent the message before it
	// was stored: it is then never stored.
	Unsent(ctx context.Context, lineUserID, lineMessageID string) (bool, error)
	BusinessHours(ctx context.Context) (hours.Schedule, error)
}

// Chat is the live-chat service: it stores, links and broadcasts.
type Chat interface {
	CustomerMessage(ctx context.Context, m chat.Message) (chat.Message, error)
	RequestHuman(ctx context.Context, lineUserID string) (s chat.Session, created bool, position, total int, err error)
	// QueueETA estimates a queued customer's wait in minutes (false: unknown).
	QueueETA(ctx context.Context, position, total int) (minutes int, known bool, err error)
	CloseByCustomer(ctx context.Context, lineUserID, reason string) (*chat.Session, error)
	// Unsend marks a customer's message unsent, by its LINE message id
	// (one never stored is nothing to do).
	Unsend(ctx context.Context, lineUserID, lineMessageID string) error
	// RateSession records a rating once per closed session of that customer
	// and announces it: ErrConflict (already rated), ErrNotFound (not that
	// customer's session), ErrSessionState (still open), ErrInvalid (score).
	RateSession(ctx context.Context, sessionID int64, lineUserID string, score int) (chat.CSAT, error)
}

// Profiles fetches LINE profiles (line.Client).
type Profiles interface {
	Profile(ctx context.Context, userID string) (line.Profile, error)
}

// Replier answers an event with its reply token (line.Client).
type Replier interface {
	Reply(ctx context.Context, replyToken string, msgs []line.Message) error
}

// Pusher pushes messages to a customer (line.Client).
type Pusher interface {
	Push(ctx context.Context, to string, msgs []line.Message, retryKey string) error
}

var (
	_ Store    = (*store.DB)(nil)
	_ Chat     = (*chat.Service)(nil)
	_ Profiles = (*line.Client)(nil)
	_ Replier  = (*line.Client)(nil)
	_ Pusher   = (*line.Client)(nil)
)

package chat

import "context"

// Notifier tells connected operators about committed changes. The service
// calls it only after the transaction committed. The WebSocket hub
// implements it; every method must return quickly (it only enqueues).
type Notifier interface {
	SessionQueued(ctx context.Context, s Session, c Customer, position, total int)
	SessionClaimed(ctx context.Context, s Session)
	SessionClosed(ctx context.Context, s Session)
	SessionTransferred(ctx context.Context, s Session, from int64)
	// MessageStored announces a message to its room (new_message), except
	// the socket excludeConn, which got message_sent instead. Customer
	// messages also go to everyone else as conversation_update.
	MessageStored(ctx context.Context, m Message, tempID, excludeConn string)
	// MessageFailed tells the sender that delivery to the customer failed.
	MessageFailed(ctx context.Context, m Message, tempID, reason string, retryable bool)
	// MessageDelivered tells the sender that the channel accepted m.
	MessageDelivered(ctx context.Context, m Message, tempID string)
	// CSATReceived tells the session's operator and the analytics
	// subscribers that the customer rated the session.
	CSATReceived(ctx context.Context, s Session, score int)
	// SLAAlert tells every operator of an SLA alert.
	SLAAlert(ctx context.Context, a SLAAlert)
	// MessageUnsent tells every operator that a customer unsent m.
	MessageUnsent(ctx context.Context, m Message)
	// ConversationTagged tells every operator a conversation's tags.
	ConversationTagged(ctx context.Context, lineUserID string, tags []Tag)
}

// Outbound delivers operator messages to the customer's channel (LINE).
type Outbound interface {
	Deliver(ctx context.Context, m Message) error
}

// DeliveryError is an Outbound failure that says whether a retry may succeed.
type DeliveryError struct {
	Reason    string
	Retryable bool
}

func (e *DeliveryError) Error() string { return "delivery failed: " + e.Reason }
func (e *DeliveryError) Unwrap() error { return ErrDelivery }

// detached announces with a context that the caller's cancellation does not
// reach: the change is committed, so a REST client hanging up must not
// cost the other operators its broadcast.
type detached struct{ n Notifier }

func (d detached) SessionQueued(ctx context.Context, s Session, c Customer, position, total int) {
	d.n.SessionQueued(context.WithoutCancel(ctx), s, c, position, total)
}

func (d detached) ConversationTagged(ctx context.Context, lineUserID string, tags []Tag) {
	d.n.ConversationTagged(context.WithoutCancel(ctx), lineUserID, tags)
}

func (d detached) MessageUnsent(ctx context.Context, m Message) {
	d.n.MessageUnsent(context.WithoutCancel(ctx), m)
}

func (d detached) SessionClaimed(ctx context.Context, s Session) {
	d.n.SessionClaimed(context.WithoutCancel(ctx), s)
}

func (d detached) SessionClosed(ctx context.Context, s Session) {
	d.n.SessionClosed(context.WithoutCancel(ctx), s)
}

func (d detached) SessionTransferred(ctx context.Context, s Session, from int64) {
	d.n.SessionTransferred(context.WithoutCancel(ctx), s, from)
}

func (d detached) MessageStored(ctx context.Context, m Message, tempID, excludeConn string) {
	d.n.MessageStored(context.WithoutCancel(ctx), m, tempID, excludeConn)
}

func (d detached) MessageFailed(ctx context.Context, m Message, tempID, reason string, retryable bool) {
	d.n.MessageFailed(context.WithoutCancel(ctx), m, tempID, reason, retryable)
}

func (d detached) MessageDelivered(ctx context.Context, m Message, tempID string) {
	d.n.MessageDelivered(context.WithoutCancel(ctx), m, tempID)
}

func (d detached) SLAAlert(ctx context.Context, a SLAAlert) {
	d.n.SLAAlert(context.WithoutCancel(ctx), a)
}

func (d detached) CSATReceived(ctx context.Context, s Session, score int) {
	d.n.CSATReceived(context.WithoutCancel(ctx), s, score)
}

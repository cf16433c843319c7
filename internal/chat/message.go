package chat

import (
	"encoding/json"
	"time"
)

// Direction is INCOMING (from the customer) or OUTGOING (to the customer).
type Direction string

const (
	Incoming Direction = "INCOMING"
	Outgoing Direction = "OUTGOING"
)

// SenderRole says who wrote a message.
type SenderRole string

const (
	SenderUser   SenderRole = "USER"
	SenderBot    SenderRole = "BOT"
	SenderAdmin  SenderRole = "ADMIN"
	SenderSystem SenderRole = "SYSTEM"
)

// DeliveryStatus tracks an outgoing message on its way to the customer.
type DeliveryStatus string

const (
	DeliveryNone    DeliveryStatus = ""        // incoming messages
	DeliveryPending DeliveryStatus = "pending" // persisted, not yet accepted by the channel
	DeliverySent    DeliveryStatus = "sent"
	DeliveryFailed  DeliveryStatus = "failed"
)

// Message is one stored chat message. Seq is gap-free per customer.
type Message struct {
	ID             int64
	LineUserID     string
	Seq            int64
	SessionID      *int64
	Direction      Direction
	MessageType    string
	Content        string
	Payload        json.RawMessage
	SenderRole     SenderRole
	OperatorID     *int64
	OperatorName   string
	DeliveryStatus DeliveryStatus
	DeliveryError  string
	// RetryKey is the channel's idempotency key (X-Line-Retry-Key), fixed
	// when the message is stored so every delivery attempt reuses it.
	RetryKey string
	// TempID is the sending tab's id, kept for message_failed.
	TempID string
	// SentIP and SentUserAgent are where an operator's send came from:
	// the audit log's message.send (never on the wire).
	SentIP, SentUserAgent string
	CreatedAt             time.Time
	// UnsentAt is when the customer unsent it (LINE unsend): its content
	// and payload are gone then, its seq stays.
	UnsentAt *time.Time
}

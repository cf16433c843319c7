package chat

import "time"

// Status is a chat session's place in its lifecycle.
type Status string

const (
	StatusWaiting Status = "WAITING"
	StatusActive  Status = "ACTIVE"
	StatusClosed  Status = "CLOSED"
)

// ClosedBy says who or what closed a session.
type ClosedBy string

const (
	ClosedByOperator      ClosedBy = "OPERATOR"
	ClosedBySystem        ClosedBy = "SYSTEM"
	ClosedBySystemTimeout ClosedBy = "SYSTEM_TIMEOUT"
	ClosedByUser          ClosedBy = "USER"
)

// Session is one human-handled episode of a customer's conversation. A
// customer has at most one open (WAITING or ACTIVE) session, enforced by the
// database.
type Session struct {
	ID              int64
	LineUserID      string
	OperatorID      *int64
	Status          Status
	StartedAt       time.Time
	ClaimedAt       *time.Time
	ClosedAt        *time.Time
	FirstResponseAt *time.Time
	LastActivityAt  time.Time
	MessageCount    int
	ClosedBy        *ClosedBy
	ClosedByID      *int64
	TransferCount   int
	TransferReason  *string
	CSATScore       *int // the customer's 1–5 rating after an operator close
	// QueueAlerts is how many times session_queued was repeated for it
	// while it waited unclaimed (realert.go).
	QueueAlerts int
	// CloseReason is why the system or the customer closed it (Reason…),
	// set on the session a close returns; not stored.
	CloseReason string
}

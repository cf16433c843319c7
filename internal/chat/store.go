package chat

import (
	"context"
	"time"
)

// Store is what the service needs from persistence. internal/store implements
// it on bun (SQLite and Postgres). Every method maps "no row" to ErrNotFound
// and unique violations to ErrConflict, wrapped with %w.
type Store interface {
	TagStore
	Operators
	Customers
	Sessions
	Messages
	ReadMarkers
	RefreshTokens
	CSATs
	Ping(ctx context.Context) error
}

// Operators persists operator accounts.
type Operators interface {
	// CreateOperator inserts o and sets o.ID, CreatedAt and UpdatedAt.
	// A duplicate username is ErrConflict.
	CreateOperator(ctx context.Context, o *Operator) error
	Operator(ctx context.Context, id int64) (Operator, error)
	OperatorByUsername(ctx context.Context, username string) (Operator, error)
	// ListOperators returns every operator, active or not, ordered by id.
	ListOperators(ctx context.Context) ([]Operator, error)
	SetOperatorActive(ctx context.Context, id int64, active bool) error
	SetOperatorRole(ctx context.Context, id int64, role Role) error
	SetOperatorPassword(ctx context.Context, id int64, hash string) error
}

// Customers persists LINE customers (one conversation each).
type Customers interface {
	// UpsertCustomer creates the customer or refreshes its non-empty profile
	// fields (display name, picture URL, friend status), and returns the row.
	UpsertCustomer(ctx context.Context, c Customer) (Customer, error)
	Customer(ctx context.Context, lineUserID string) (Customer, error)
}

// Sessions persists chat sessions. State changes are single conditional
// updates so that concurrent callers cannot both win.
type Sessions interface {
	Session(ctx context.Context, id int64) (Session, error)
	// OpenSession returns the customer's WAITING or ACTIVE session, or ErrNotFound.
	OpenSession(ctx context.Context, lineUserID string) (Session, error)
	// EnsureWaitingSession returns the customer's open session, or creates a
	// WAITING one (created=true) and sets the customer's chat_mode to HUMAN in
	// the same transaction. A unique index guarantees one open session per
	// customer, also under concurrent calls. Unknown customer: ErrNotFound.
	EnsureWaitingSession(ctx context.Context, lineUserID string, now time.Time) (s Session, created bool, err error)
	// ClaimSession sets ACTIVE, operator_id, claimed_at and last_activity_at
	// WHERE id=? AND status='WAITING'. Zero rows: ErrAlreadyClaimed (the row
	// exists) or ErrNotFound.
	ClaimSession(ctx context.Context, sessionID, operatorID int64, now time.Time) (Session, error)
	// CloseSession sets CLOSED, closed_at, closed_by and closed_by_id WHERE
	// id=? AND status=from (AND operator_id=*owner when owner is not nil, so
	// an operator's close cannot hit a session transferred away from it after
	// the permission check), and puts the customer's chat_mode back to BOT in
	// the same transaction. owner nil: any operator, or none (a supervisor's,
	// an admin's or the customer's close). Zero rows: ErrConflict.
	CloseSession(ctx context.Context, sessionID int64, from Status, owner *int64, by ClosedBy, byID *int64, now time.Time) (Session, error)
	// StaleSessions returns up to limit sessions in status (ACTIVE or
	// WAITING) stale before cutoff: an ACTIVE one's last activity, a WAITING
	// one's start; stalest first.
	StaleSessions(ctx context.Context, status Status, cutoff time.Time, limit int) ([]Session, error)
	// CloseStale is CloseSession with no operator for a session still in
	// from and still stale before cutoff. Zero rows: ErrConflict.
	CloseStale(ctx context.Context, sessionID int64, from Status, cutoff time.Time, by ClosedBy, now time.Time) (Session, error)
	// UnclaimedSessions is up to limit WAITING sessions started at or
	// before startedBy, oldest first, after the session after (nil: from
	// the first).
	UnclaimedSessions(ctx context.Context, startedBy time.Time, after *Session, limit int) ([]Session, error)
	// MarkQueueAlert raises a WAITING session's QueueAlerts to n if below,
	// and reports whether this call did.
	MarkQueueAlert(ctx context.Context, sessionID int64, n int) (bool, error)
	// SLASessions returns the open sessions and those closed since closedSince.
	SLASessions(ctx context.Context, closedSince time.Time) ([]Session, error)
	// RaiseSLAAlerts stores the alerts not stored yet (key: session, metric,
	// severity) and returns those this call stored.
	RaiseSLAAlerts(ctx context.Context, alerts []SLAAlert) ([]SLAAlert, error)
	// SLABreaches counts the critical alerts raised since since.
	SLABreaches(ctx context.Context, since time.Time) (int, error)
	// TransferSession sets operator_id=to, transfer_count+1, transfer_reason
	// and last_activity_at WHERE id=? AND status='ACTIVE' AND operator_id=from.
	// Zero rows: ErrConflict.
	TransferSession(ctx context.Context, sessionID, from, to int64, reason *string, now time.Time) (Session, error)
	// QueuePosition is the 1-based rank of a WAITING session among all WAITING
	// sessions by (started_at, id), and the number waiting. Not waiting: position 0.
	QueuePosition(ctx context.Context, sessionID int64) (position, total int, err error)
	// ActiveChats maps operator id to the number of ACTIVE sessions it owns.
	ActiveChats(ctx context.Context) (map[int64]int, error)
	// KPIData reads the sessions started or closed since since, the CSAT
	// scores given since csatSince and the customers in HUMAN mode.
	KPIData(ctx context.Context, since, csatSince time.Time) (KPIData, error)
	// ExpiredCustomers lists up to limit customers with no open session
	// and nothing since before (retention).
	ExpiredCustomers(ctx context.Context, before time.Time, limit int) ([]string, error)
	// EraseCustomer deletes everything stored of a customer in one
	// transaction; ErrSessionState while a session is open.
	EraseCustomer(ctx context.Context, lineUserID string) (Erased, error)
	// DashboardData reads the sessions started or closed, the ratings and
	// the messages' stamps since since.
	DashboardData(ctx context.Context, since time.Time) (DashboardData, error)
	// UnsendMessage clears a customer's message found by its LINE message
	// id and marks it unsent; changed is false when it already was.
	// ErrNotFound: no such message.
	UnsendMessage(ctx context.Context, lineUserID, lineMessageID string, now time.Time) (m Message, changed bool, err error)
	// SetConversationTags replaces a customer's tags with tagIDs and
	// returns them by name: ErrNotFound for an unknown customer,
	// ErrInvalid (tag_ids) for an unknown tag.
	SetConversationTags(ctx context.Context, lineUserID string, tagIDs []int64, by int64, now time.Time) ([]Tag, error)
	// ConversationTags is the tags of each customer of lineUserIDs.
	ConversationTags(ctx context.Context, lineUserIDs []string) (map[string][]Tag, error)
	// ClaimedSince is the sessions claimed since since by an operator (0:
	// by any).
	ClaimedSince(ctx context.Context, operatorID int64, since time.Time) ([]Session, error)
	// AvailabilityWindows is every window of an operator (0: of all)
	// overlapping [since, until].
	AvailabilityWindows(ctx context.Context, operatorID int64, since, until time.Time) ([]Window, error)
	// QueueWaits is claim − start of the sessions claimed since since.
	QueueWaits(ctx context.Context, since time.Time) ([]time.Duration, error)
	// SessionStats counts WAITING and ACTIVE sessions, and sessions started at or after since.
	SessionStats(ctx context.Context, since time.Time) (SessionStats, error)
	// ListConversations is the dashboard inbox, one query (no N+1), keyset
	// paginated by the customer's last activity.
	ListConversations(ctx context.Context, f ConversationFilter) (ConversationPage, error)
}

// SessionStats are the session counts behind the live KPIs.
type SessionStats struct {
	Waiting int
	Active  int
	Today   int
}

// ConversationFilter selects an inbox page. Status is WAITING, ACTIVE,
// CLOSED (the latest session is closed), BOT (no open session), or empty for
// all. OperatorID is the reader whose unread counts are computed.
type ConversationFilter struct {
	Status     string
	OperatorID int64
	Cursor     string
	Limit      int
	Tag        string // a tag's name (any case): only the conversations with it
}

// ConversationPage is one inbox page; NextCursor is empty on the last page.
type ConversationPage struct {
	Items      []Conversation
	NextCursor string
}

// Conversation is an inbox row.
type Conversation struct {
	Customer    Customer
	Session     *Session // the open session, or the latest one for CLOSED
	LastMessage *Message
	Unread      int
	Tags        []Tag // by name
}

// AppendGuard is what an operator's message requires of the conversation at
// the moment it is stored, checked inside the append, so that a claim,
// transfer or close committed at the same time cannot make the message land
// in a session its sender does not own, or in none.
//
// A guard always requires the customer's open session to be ACTIVE.
type AppendGuard struct {
	// SessionID, if not 0, is the session the message must land in (so a
	// close and a new session in between also refuse it).
	SessionID int64
	// Owner, if not nil, must be the session's operator_id. Nil: any
	// operator (a supervisor or admin replying).
	Owner *int64
}

// Messages persists chat messages.
type Messages interface {
	// AppendMessage stores m in one transaction: it increments the customer's
	// last_seq and uses it as m.Seq, links the open session (if any) as
	// m.SessionID, inserts the row, and counts it as session activity
	// (last_activity_at, message_count, and first_response_at for the first
	// ADMIN message). It fills m.ID, m.Seq, m.SessionID and m.CreatedAt (set
	// to now). Unknown customer: ErrNotFound.
	//
	// With a guard (nil: none, as for customer and bot messages), the open
	// session is read under the customer's lock (and on Postgres locked FOR
	// UPDATE, so a concurrent claim or transfer waits or is seen); when it
	// does not satisfy the guard nothing is stored, no seq is used, and the
	// error wraps ErrConflict and the cause: ErrSessionNotFound (no open
	// session), ErrSessionState (not ACTIVE, or not guard.SessionID) or
	// ErrForbidden (not guard.Owner's).
	//
	// An operator's message (OperatorID set) with a TempID that operator
	// already used for this customer is not stored either (a unique index
	// enforces it, also under concurrent appends): no seq is used, and the
	// error is a *DuplicateSendError (ErrDuplicateSend) carrying the stored
	// message as it is now. That is checked before the guard, so a retry
	// gets the original even when the session changed since.
	AppendMessage(ctx context.Context, m *Message, guard *AppendGuard, now time.Time) error
	Message(ctx context.Context, id int64) (Message, error)
	// RecentMessages returns up to limit messages with seq < beforeSeq
	// (beforeSeq <= 0: the latest), oldest first, and whether older ones exist.
	RecentMessages(ctx context.Context, lineUserID string, beforeSeq int64, limit int) ([]Message, bool, error)
	// MessagesAfter returns up to limit messages with seq > afterSeq, oldest
	// first: all of them up to 10,001, however small a REST page is.
	MessagesAfter(ctx context.Context, lineUserID string, afterSeq int64, limit int) ([]Message, error)
	// SearchMessages matches content by case-insensitive substring, with LIKE
	// wildcards in q escaped; newest first.
	SearchMessages(ctx context.Context, q, lineUserID string, limit int) ([]Message, error)
	SetDelivery(ctx context.Context, messageID int64, status DeliveryStatus, reason string) error
}

// ReadMarkers remembers how far each operator has read each conversation.
type ReadMarkers interface {
	// MarkRead moves the operator's marker forward to seq (never backward).
	MarkRead(ctx context.Context, operatorID int64, lineUserID string, seq int64) error
	// Unread counts INCOMING messages after the operator's marker.
	Unread(ctx context.Context, operatorID int64, lineUserID string) (int, error)
	// MarkReadBy and UnreadBy do the same for several operators at once,
	// in one statement each.
	MarkReadBy(ctx context.Context, operatorIDs []int64, lineUserID string, seq int64) error
	UnreadBy(ctx context.Context, operatorIDs []int64, lineUserID string) (map[int64]int, error)
}

// RefreshToken is a stored, hashed refresh token.
type RefreshToken struct {
	ID         int64
	OperatorID int64
	TokenHash  string
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	CreatedAt  time.Time
}

// RefreshTokens persists refresh tokens by hash, never in clear.
type RefreshTokens interface {
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	RefreshTokenByHash(ctx context.Context, hash string) (RefreshToken, error)
	// RevokeRefreshToken sets revoked_at if not yet revoked. Already revoked
	// or unknown: ErrNotFound.
	RevokeRefreshToken(ctx context.Context, hash string, now time.Time) error
	// RevokeOperatorRefreshTokens sets revoked_at on every not yet revoked
	// token of the operator (a password reset or a disable), and returns how
	// many it revoked. Revoked tokens stay revoked: re-enabling the operator
	// does not revive them. None, or an unknown operator: 0, nil.
	RevokeOperatorRefreshTokens(ctx context.Context, operatorID int64, now time.Time) (int, error)
}

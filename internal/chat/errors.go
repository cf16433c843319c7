package chat

import (
	"errors"
	"fmt"
)

// Sentinel errors. Stores and services wrap them with %w; the transports map
// them to wire error codes in exactly one place each (ws and REST).
var (
	ErrNotFound       = errors.New("chat: not found")
	ErrConflict       = errors.New("chat: conflict")
	ErrAlreadyClaimed = errors.New("chat: session already claimed")
	ErrForbidden      = errors.New("chat: forbidden")
	ErrInvalid        = errors.New("chat: invalid input")
	ErrTooLong        = fmt.Errorf("%w: message too long", ErrInvalid)
	ErrDisabled       = errors.New("chat: operator disabled")
	ErrUnauthorized   = errors.New("chat: unauthorized")
	ErrRateLimited    = errors.New("chat: rate limited")
	ErrNotInRoom      = errors.New("chat: not in a room")
	ErrSessionState   = errors.New("chat: session is not in the required state")
	ErrDelivery       = errors.New("chat: delivery failed")
	ErrTokenMissing   = errors.New("chat: access token required")
	ErrTokenExpired   = errors.New("chat: token expired")
	ErrTokenInvalid   = errors.New("chat: invalid token")

	// ErrDuplicateSend: an operator message whose temp_id the same operator
	// already used in the same conversation; nothing was stored. The store
	// answers it as a *DuplicateSendError carrying the original.
	ErrDuplicateSend = fmt.Errorf("%w: temp_id already used", ErrConflict)
	// ErrIdempotencyKeyReused: an idempotency key (REST's Idempotency-Key)
	// sent again with another request than the one it first came with.
	ErrIdempotencyKeyReused = errors.New("chat: idempotency key reused with a different request")

	// Not-found errors that the protocol tells apart.
	ErrCustomerNotFound = fmt.Errorf("%w: customer", ErrNotFound)
	ErrSessionNotFound  = fmt.Errorf("%w: session", ErrNotFound)
	ErrOperatorNotFound = fmt.Errorf("%w: operator", ErrNotFound)
)

// DuplicateSendError is ErrDuplicateSend with the message that was stored
// under the temp_id first.
type DuplicateSendError struct {
	Original Message
}

func (e *DuplicateSendError) Error() string {
	return fmt.Sprintf("temp_id %q of operator %d already used by message %d", e.Original.TempID, deref(e.Original.OperatorID), e.Original.ID)
}

func (e *DuplicateSendError) Unwrap() error { return ErrDuplicateSend }

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// Error carries a message that is safe to show a client, and wraps the
// sentinel that decides the error code.
type Error struct {
	Kind    error  // a sentinel above
	Message string // for the client; no internals
	Field   string // the offending input field, if any
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// E builds an *Error.
func E(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// PublicMessage returns the client-safe message of err, or fallback.
func PublicMessage(err error, fallback string) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return fallback
}

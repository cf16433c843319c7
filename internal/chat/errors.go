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

	// Not-found errors that the protocol tells apart.
	ErrCustomerNotFound = fmt.Errorf("%w: customer", ErrNotFound)
	ErrSessionNotFound  = fmt.Errorf("%w: session", ErrNotFound)
	ErrOperatorNotFound = fmt.Errorf("%w: operator", ErrNotFound)
)

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

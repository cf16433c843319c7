package chat

import "errors"

// Sentinel errors. Stores and services wrap them with %w; the transports map
// them to wire error codes in exactly one place each (ws and REST).
var (
	ErrNotFound       = errors.New("chat: not found")
	ErrConflict       = errors.New("chat: conflict")
	ErrAlreadyClaimed = errors.New("chat: session already claimed")
	ErrForbidden      = errors.New("chat: forbidden")
	ErrInvalid        = errors.New("chat: invalid input")
	ErrDisabled       = errors.New("chat: operator disabled")
	ErrUnauthorized   = errors.New("chat: unauthorized")
	ErrRateLimited    = errors.New("chat: rate limited")
	ErrNotInRoom      = errors.New("chat: not in a room")
	ErrSessionState   = errors.New("chat: session is not in the required state")
	ErrDelivery       = errors.New("chat: delivery failed")
)

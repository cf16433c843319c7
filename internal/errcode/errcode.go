// Package errcode is the one place where errors become protocol error
// codes: the WebSocket error frames and the REST JSON errors both ask it.
package errcode

import (
	"errors"
	"net/http"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/chat"
	"livechat/internal/contract"
)

// Wire error codes (the ErrorCode enum of the spec).
const (
	AuthMissingToken      = "auth_missing_token"
	AuthExpiredToken      = "auth_expired_token"
	AuthInvalidToken      = "auth_invalid_token"
	NotAuthenticated      = "not_authenticated"
	InvalidRequest        = "invalid_request"
	RateLimitExceeded     = "rate_limit_exceeded"
	ValidationError       = "validation_error"
	NotInRoom             = "not_in_room"
	SessionNotFound       = "session_not_found"
	InternalError         = "internal_error"
	MessageTooLong        = "message_too_long"
	UnknownEvent          = "unknown_event"
	SessionAlreadyClaimed = "session_already_claimed"
	Forbidden             = "forbidden"
	CustomerNotFound      = "customer_not_found"
	OperatorNotFound      = "operator_not_found"
	AlreadyAuthenticated  = "already_authenticated"
	InvalidSessionState   = "invalid_session_state"
	NotFound              = "not_found"         // REST only: an unknown resource
	Conflict              = "conflict"          // REST only: a duplicate
	InvalidSignature      = "invalid_signature" // LINE webhook only: bad X-Line-Signature
	Unavailable           = "unavailable"       // HTTP only: a dependency is down or not configured
	// REST only: an Idempotency-Key sent again with another text.
	IdempotencyKeyReused = "idempotency_key_reused"
)

// inSpec is the spec's ErrorCode enum: the codes a socket may carry.
var inSpec = map[string]bool{
	AuthMissingToken: true, AuthExpiredToken: true, AuthInvalidToken: true, NotAuthenticated: true,
	InvalidRequest: true, RateLimitExceeded: true, ValidationError: true, NotInRoom: true,
	SessionNotFound: true, InternalError: true, MessageTooLong: true, UnknownEvent: true,
	SessionAlreadyClaimed: true, Forbidden: true, CustomerNotFound: true, OperatorNotFound: true,
	AlreadyAuthenticated: true, InvalidSessionState: true,
}

// InSpec reports whether code is in the spec's ErrorCode enum.
func InSpec(code string) bool { return inSpec[code] }

// Error is a protocol error with an explicit code, for conditions that are
// not domain errors (malformed frames, re-auth, rate limits).
type Error struct {
	Code       string
	Message    string
	Field      string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Mapped is what a transport needs to report an error.
type Mapped struct {
	Code       string
	Message    string
	Status     int // HTTP status for REST
	Field      string
	RetryAfter time.Duration
	Internal   bool // unexpected: log it, show nothing of it
}

type rule struct {
	kind    error
	code    string
	status  int
	message string
}

// rules are checked in order; more specific sentinels first.
var rules = []rule{
	{chat.ErrAlreadyClaimed, SessionAlreadyClaimed, http.StatusConflict, "Session already claimed by another operator"},
	{chat.ErrSessionNotFound, SessionNotFound, http.StatusNotFound, "No open session for this conversation"},
	{chat.ErrCustomerNotFound, CustomerNotFound, http.StatusNotFound, "Customer not found"},
	{chat.ErrOperatorNotFound, OperatorNotFound, http.StatusNotFound, "Operator not found or disabled"},
	{chat.ErrNotFound, NotFound, http.StatusNotFound, "Not found"},
	{chat.ErrNotInRoom, NotInRoom, http.StatusBadRequest, "Join a room first"},
	{chat.ErrForbidden, Forbidden, http.StatusForbidden, "Not allowed"},
	{chat.ErrTooLong, MessageTooLong, http.StatusBadRequest, "Message too long"},
	{chat.ErrInvalid, ValidationError, http.StatusBadRequest, "Invalid input"},
	{chat.ErrSessionState, InvalidSessionState, http.StatusConflict, "The session is not in a state that allows this"},
	{chat.ErrIdempotencyKeyReused, IdempotencyKeyReused, http.StatusUnprocessableEntity, "This Idempotency-Key was already used with a different request"},
	{chat.ErrConflict, Conflict, http.StatusConflict, "Conflict"},
	{chat.ErrRateLimited, RateLimitExceeded, http.StatusTooManyRequests, "Rate limit exceeded"},
	{chat.ErrTokenMissing, AuthMissingToken, http.StatusUnauthorized, "Access token required."},
	{chat.ErrTokenExpired, AuthExpiredToken, http.StatusUnauthorized, "Token expired. Please refresh and reconnect."},
	{chat.ErrTokenInvalid, AuthInvalidToken, http.StatusUnauthorized, "Invalid token or insufficient permissions"},
	{chat.ErrDisabled, AuthInvalidToken, http.StatusUnauthorized, "Invalid token or insufficient permissions"},
	{chat.ErrUnauthorized, AuthInvalidToken, http.StatusUnauthorized, "Invalid credentials"},
}

// Of maps err.
func Of(err error) Mapped {
	var pe *Error
	if errors.As(err, &pe) {
		return Mapped{Code: pe.Code, Message: pe.Message, Status: statusOf(pe.Code), Field: pe.Field, RetryAfter: pe.RetryAfter}
	}
	var fe *contract.FieldError
	if errors.As(err, &fe) {
		return Mapped{Code: ValidationError, Message: fe.Error(), Status: http.StatusBadRequest, Field: fe.Field}
	}
	var de *lc.DecodeError
	if errors.As(err, &de) {
		return Mapped{Code: ValidationError, Message: "payload does not match the schema of " + de.Type, Status: http.StatusBadRequest}
	}
	if errors.Is(err, lc.ErrUnknownType) {
		return Mapped{Code: UnknownEvent, Message: "Unknown event type", Status: http.StatusBadRequest}
	}
	for _, r := range rules {
		if errors.Is(err, r.kind) {
			m := Mapped{Code: r.code, Status: r.status, Message: chat.PublicMessage(err, r.message)}
			var ce *chat.Error
			if errors.As(err, &ce) {
				m.Field = ce.Field
			}
			return m
		}
	}
	return Mapped{Code: InternalError, Message: "Internal error", Status: http.StatusInternalServerError, Internal: true}
}

// statusOf is the HTTP status of an explicit code: the status its rule
// gives, else the protocol-level ones below.
func statusOf(code string) int {
	for _, r := range rules {
		if r.code == code {
			return r.status
		}
	}
	switch code {
	case InternalError:
		return http.StatusInternalServerError
	case NotAuthenticated, AlreadyAuthenticated, InvalidSignature:
		return http.StatusUnauthorized
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

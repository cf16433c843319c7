// Package rest is the JSON API the dashboard uses beside the socket, under
// /api/v1: login/refresh/logout, conversations, messages, session actions
// and operators. It calls the same chat.Service as the WebSocket.
package rest

import (
	"log/slog"
	"net/http"
	"time"

	"livechat/internal/auth"
	"livechat/internal/chat"
	"livechat/internal/clock"
)

// Sockets is the part of the WebSocket hub the REST API needs.
type Sockets interface {
	// Online maps each operator with a socket on this instance to its status.
	Online() map[int64]string
	// DisconnectOperator closes every socket of an operator.
	DisconnectOperator(id int64, reason string)
}

// Deps are the API's collaborators and settings.
type Deps struct {
	Store            chat.Store
	Service          *chat.Service
	Tokens           *auth.Tokens
	Sockets          Sockets
	Clock            clock.Clock
	Log              *slog.Logger
	AccessTTL        time.Duration
	RefreshTTL       time.Duration
	LoginMaxFailures int
	LoginWindow      time.Duration
}

// New returns the handler for /api/v1/ (everything but the socket).
func New(d Deps) http.Handler {
	mux := http.NewServeMux()
	return mux
}

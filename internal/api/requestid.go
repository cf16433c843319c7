package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"

	"livechat/internal/logctx"
)

// RequestIDHeader carries a request's id: taken from the request when it
// is safe to log (a proxy's id), else made here; always in the response.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an id taken from a request.
const maxRequestIDLen = 64

type requestIDKey struct{}

// RequestID is the id withRequestID gave the request of ctx ("" when none).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives each request an id: in the response's X-Request-Id,
// in its context, and on every line logged with that context (request_id).
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !safeRequestID(id) {
			id = newRequestID() // the client's is dropped unlogged
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		ctx = logctx.With(ctx, slog.String("request_id", id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// safeRequestID admits 1 to 64 of [A-Za-z0-9._-]: nothing a log line or
// a header could be forged with.
func safeRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID is 16 hex digits from crypto/rand.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read)
	return hex.EncodeToString(b[:])
}

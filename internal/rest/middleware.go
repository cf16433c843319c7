package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"livechat/internal/chat"
	"livechat/internal/errcode"
)

type ctxKey struct{}

// actor is the operator a bearer-checked request acts as.
func actor(r *http.Request) chat.Operator {
	op, _ := r.Context().Value(ctxKey{}).(chat.Operator)
	return op
}

// bearer admits requests with a valid access token of an operator who still
// exists and is active. The operator is read on every request, so disabling
// one or changing a role takes effect at once, not at token expiry.
func (s *server) bearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := bearerToken(r)
		if err != nil {
			writeError(w, err)
			return
		}
		claims, err := s.Tokens.Verify(token)
		if err != nil {
			s.tokenRejected(r, err)
			writeError(w, err)
			return
		}
		op, err := s.Store.Operator(r.Context(), claims.OperatorID)
		if errors.Is(err, chat.ErrNotFound) || (err == nil && !op.Active) {
			err = fmt.Errorf("operator %d gone or disabled: %w", claims.OperatorID, chat.ErrTokenInvalid)
			s.tokenRejected(r, err)
			writeError(w, err)
			return
		}
		if err != nil {
			s.fail(w, r, fmt.Errorf("load operator %d: %w", claims.OperatorID, err))
			return
		}
		ctx := chat.WithSource(context.WithValue(r.Context(), ctxKey{}, op), s.clientIP(r), r.UserAgent())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// bearerToken takes the token from "Authorization: Bearer <token>".
func bearerToken(r *http.Request) (string, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return "", chat.ErrTokenMissing
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("authorization scheme %q: %w", scheme, chat.ErrTokenInvalid)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", chat.ErrTokenMissing
	}
	return token, nil
}

// adminOnly refuses operators without the admin role; it runs after bearer.
func (s *server) adminOnly(next http.Handler) http.Handler {
	return s.adminFor("manage operators", next)
}

// adminFor is adminOnly with the refusal saying what only an admin can do.
func (s *server) adminFor(what string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if actor(r).Role != chat.RoleAdmin {
			writeError(w, chat.E(chat.ErrForbidden, "Only an admin can %s", what))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fallbacks answers what the mux cannot route (unknown path, wrong method)
// in the JSON error shape instead of the mux's plain text.
func (s *server) fallbacks(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No pattern: the mux would reply 404 or 405 itself (or redirect to a
		// cleaned path). Learn which, and word it in JSON.
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusMethodNotAllowed:
			if allow := probe.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			writeError(w, &withStatus{
				err:    &errcode.Error{Code: errcode.InvalidRequest, Message: "method " + r.Method + " not allowed on " + r.URL.Path},
				status: http.StatusMethodNotAllowed,
			})
		case http.StatusNotFound:
			writeError(w, chat.E(chat.ErrNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// statusProbe records what a handler would answer, writing nothing.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *statusProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

// clientIP is the client's address: the TCP peer's, or what a trusted
// proxy forwarded (Deps.ClientIP). Any client can send X-Forwarded-For, and
// the login limiter must not be keyed by its choice.
func (s *server) clientIP(r *http.Request) string { return s.ClientIP.IP(r) }

package rest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"livechat/internal/auth"
	"livechat/internal/chat"
	"livechat/internal/errcode"
)

// tokenResponse answers login and refresh. User is Operator again: the SKN
// admin UI's auth context reads data.user.
type tokenResponse struct {
	AccessToken  string       `json:"access_token"`
	ExpiresAt    time.Time    `json:"expires_at"`
	RefreshToken string       `json:"refresh_token"`
	Operator     operatorJSON `json:"operator"`
	User         operatorJSON `json:"user"`
}

// Said alike for unknown users, wrong passwords and disabled operators.
var (
	errBadCredentials = &chat.Error{Kind: chat.ErrUnauthorized, Message: "Invalid credentials"}
	errBadRefresh     = &chat.Error{Kind: chat.ErrTokenInvalid, Message: "Invalid or expired refresh token"}
)

// login trades a username and password for an access and a refresh token.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Username == "" {
		writeError(w, invalid("username", "username is required"))
		return
	}
	if err := identifier("username", req.Username); err != nil {
		writeError(w, err)
		return
	}
	if req.Password == "" {
		writeError(w, invalid("password", "password is required"))
		return
	}
	ip := s.clientIP(r)
	key := strings.ToLower(req.Username) + "\x00" + ip
	if ok, retry := s.Logins.Begin(key); !ok {
		// Usernames that may not exist are not logged: people type passwords there.
		s.Log.WarnContext(r.Context(), "login refused: too many failures", "ip", ip)
		writeError(w, &errcode.Error{Code: errcode.RateLimitExceeded, Message: "Too many failed logins; try again later", RetryAfter: retry})
		return
	}
	op, err := s.Store.OperatorByUsername(r.Context(), req.Username)
	if err != nil && !errors.Is(err, chat.ErrNotFound) {
		s.Logins.Forgive(key) // our failure, not the caller's
		s.fail(w, r, fmt.Errorf("login: %w", err))
		return
	}
	if err != nil {
		auth.CheckPassword(s.dummy(r.Context()), req.Password) // same cost as a known user
		s.Log.InfoContext(r.Context(), "login failed", "ip", ip, "reason", "unknown user")
		s.record(r, chat.AuditEntry{Action: chat.AuditLoginFailed})
		writeError(w, errBadCredentials)
		return
	}
	if !auth.CheckPassword(op.PasswordHash, req.Password) || !op.Active {
		s.Log.InfoContext(r.Context(), "login failed", "operator_id", op.ID, "ip", ip, "active", op.Active)
		s.record(r, chat.AuditEntry{Action: chat.AuditLoginFailed})
		writeError(w, errBadCredentials)
		return
	}
	s.Logins.Succeeded(key)
	resp, err := s.issue(r.Context(), op)
	if err != nil {
		s.fail(w, r, fmt.Errorf("login: %w", err))
		return
	}
	s.Log.InfoContext(r.Context(), "login", "operator_id", op.ID, "ip", ip)
	id := op.ID
	s.record(r, chat.AuditEntry{ActorID: &id, Actor: op.Username, Action: chat.AuditLogin, ResourceType: "operator", ResourceID: strconv.FormatInt(op.ID, 10)})
	writeJSON(w, http.StatusOK, resp)
}

// dummy is a bcrypt hash no password matches, made on first use.
func (s *server) dummy(ctx context.Context) string {
	s.dummyOnce.Do(func() {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		h, err := auth.HashPassword(hex.EncodeToString(b))
		if err != nil {
			s.Log.ErrorContext(ctx, "make dummy password hash", "err", err)
		}
		s.dummyHash = h
	})
	return s.dummyHash
}

// refresh rotates a refresh token: a new pair is issued and the presented
// token is revoked. Revocation is a conditional update, so of two concurrent
// refreshes with one token only one succeeds; the loser revokes the token it
// made. The new token is stored before the old one is spent, so a revocation
// of all the operator's tokens (password reset, disable) that runs meanwhile
// either revokes the new token too or makes spending the old one fail.
func (s *server) refresh(w http.ResponseWriter, r *http.Request) {
	token, ok := refreshTokenBody(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	now := s.Clock.Now().UTC()
	hash := hashRefresh(token)
	tok, err := s.Store.RefreshTokenByHash(ctx, hash)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		writeError(w, errBadRefresh)
		return
	case err != nil:
		s.fail(w, r, fmt.Errorf("refresh: %w", err))
		return
	case tok.RevokedAt != nil:
		// A rotated token used again: a replay, or a client that lost the new one.
		s.Log.WarnContext(r.Context(), "revoked refresh token presented", "operator_id", tok.OperatorID, "ip", s.clientIP(r))
		writeError(w, errBadRefresh)
		return
	case !now.Before(tok.ExpiresAt):
		writeError(w, errBadRefresh)
		return
	}
	op, err := s.Store.Operator(ctx, tok.OperatorID)
	if errors.Is(err, chat.ErrNotFound) || (err == nil && !op.Active) {
		// Spent all the same: the token never works again.
		if err := s.Store.RevokeRefreshToken(ctx, hash, now); err != nil && !errors.Is(err, chat.ErrNotFound) {
			s.Log.ErrorContext(ctx, "refresh: revoke token of an inactive operator", "operator_id", tok.OperatorID, "err", err)
		}
		writeError(w, errBadRefresh)
		return
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("refresh: %w", err))
		return
	}
	resp, err := s.issue(ctx, op)
	if err != nil {
		s.fail(w, r, fmt.Errorf("refresh: %w", err))
		return
	}
	if err := s.Store.RevokeRefreshToken(ctx, hash, now); err != nil {
		// Not rotated: the new token must not outlive this answer.
		if rerr := s.Store.RevokeRefreshToken(context.WithoutCancel(ctx), hashRefresh(resp.RefreshToken), now); rerr != nil {
			s.Log.ErrorContext(ctx, "refresh: revoke the unused new token", "operator_id", op.ID, "err", rerr)
		}
		if errors.Is(err, chat.ErrNotFound) {
			writeError(w, errBadRefresh) // a concurrent refresh or a revocation won
			return
		}
		s.fail(w, r, fmt.Errorf("refresh: revoke: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// logout revokes a refresh token. Unknown or already revoked tokens are
// fine: the outcome the client wants holds either way.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	token, ok := refreshTokenBody(w, r)
	if !ok {
		return
	}
	err := s.Store.RevokeRefreshToken(r.Context(), hashRefresh(token), s.Clock.Now().UTC())
	if err != nil && !errors.Is(err, chat.ErrNotFound) {
		s.fail(w, r, fmt.Errorf("logout: %w", err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// issue makes a fresh access token and refresh token for op; only the
// refresh token's hash is stored.
func (s *server) issue(ctx context.Context, op chat.Operator) (tokenResponse, error) {
	access, exp, err := s.Tokens.Issue(op.ID, s.AccessTTL)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("issue access token: %w", err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails
	refresh := base64.RawURLEncoding.EncodeToString(raw)
	now := s.Clock.Now().UTC()
	rt := chat.RefreshToken{OperatorID: op.ID, TokenHash: hashRefresh(refresh), ExpiresAt: now.Add(s.RefreshTTL), CreatedAt: now}
	if err := s.Store.CreateRefreshToken(ctx, &rt); err != nil {
		return tokenResponse{}, fmt.Errorf("store refresh token: %w", err)
	}
	v := operatorView(op)
	return tokenResponse{AccessToken: access, ExpiresAt: exp.UTC(), RefreshToken: refresh, Operator: v, User: v}, nil
}

// hashRefresh is the stored form of a refresh token: SHA-256, hex. The
// token has 256 random bits, so no salt or slow hash is needed.
func hashRefresh(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// refreshTokenBody reads {refresh_token} (required), answering the error itself.
func refreshTokenBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return "", false
	}
	if req.RefreshToken == "" {
		writeError(w, invalid("refresh_token", "refresh_token is required"))
		return "", false
	}
	return req.RefreshToken, true
}

package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"unicode/utf8"

	"livechat/internal/auth"
	"livechat/internal/chat"
)

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,50}$`)

const maxDisplayNameLen = 100

// operatorList is the team with presence and load.
type operatorList struct {
	Operators []operatorEntry `json:"operators"`
}

// listOperators lists every operator, active or not, with its socket
// presence on this instance and the ACTIVE sessions it owns.
func (s *server) listOperators(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ops, err := s.Store.ListOperators(ctx)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list operators: %w", err))
		return
	}
	chats, err := s.Store.ActiveChats(ctx)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list operators: %w", err))
		return
	}
	online := s.Sockets.Online()
	out := operatorList{Operators: make([]operatorEntry, 0, len(ops))}
	for _, o := range ops {
		out.Operators = append(out.Operators, operatorEntryView(o, online, chats))
	}
	writeJSON(w, http.StatusOK, out)
}

// createOperator adds an active operator (admin only).
func (s *server) createOperator(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
		Role        string `json:"role"`
		Password    string `json:"password"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if !usernameRE.MatchString(req.Username) {
		writeError(w, invalid("username", "username must be 1 to 50 letters, digits, dots, underscores or hyphens"))
		return
	}
	name := chat.CleanLine(req.DisplayName)
	if n := utf8.RuneCountInString(name); n < 1 || n > maxDisplayNameLen {
		writeError(w, invalid("display_name", fmt.Sprintf("display_name must be 1 to %d characters", maxDisplayNameLen)))
		return
	}
	role, err := parseRole(req.Role)
	if err != nil {
		writeError(w, err)
		return
	}
	hash, err := hashPassword(req.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	op := chat.Operator{Username: req.Username, DisplayName: name, Role: role, PasswordHash: hash, Active: true}
	err = s.Store.CreateOperator(r.Context(), &op)
	if errors.Is(err, chat.ErrConflict) {
		writeError(w, &chat.Error{Kind: chat.ErrConflict, Message: "username already taken", Field: "username"})
		return
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("create operator: %w", err))
		return
	}
	s.Log.InfoContext(r.Context(), "operator created", "operator_id", op.ID, "role", op.Role, "by", actor(r).ID)
	s.respondOperator(w, r, http.StatusCreated, op.ID)
}

// disableOperator locks an operator out at once: its access tokens stop
// working (bearer re-reads the operator), its refresh tokens are revoked (so
// a later enable does not revive them: the operator logs in again), and its
// sockets are closed now rather than at the hub's next recheck.
func (s *server) disableOperator(w http.ResponseWriter, r *http.Request) {
	s.changeOperator(w, r, "disable", func(ctx context.Context, id int64) error {
		if id == actor(r).ID {
			return invalid("id", "You cannot disable yourself")
		}
		if err := s.Store.SetOperatorActive(ctx, id, false); err != nil {
			return err
		}
		if err := s.revokeRefreshTokens(ctx, id, "operator disabled"); err != nil {
			return err
		}
		s.Sockets.DisconnectOperator(id, "operator disabled")
		return nil
	})
}

// revokeRefreshTokens revokes every live refresh token of operator id. It
// runs after the change it is for has committed, so a refresh racing with it
// either sees the change or has its new token revoked here (refresh stores
// the new token before it spends the old one).
func (s *server) revokeRefreshTokens(ctx context.Context, id int64, why string) error {
	n, err := s.Store.RevokeOperatorRefreshTokens(ctx, id, s.Clock.Now().UTC())
	if err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", err)
	}
	s.Log.InfoContext(ctx, "refresh tokens revoked", "operator_id", id, "count", n, "reason", why)
	return nil
}

func (s *server) enableOperator(w http.ResponseWriter, r *http.Request) {
	s.changeOperator(w, r, "enable", func(ctx context.Context, id int64) error {
		return s.Store.SetOperatorActive(ctx, id, true)
	})
}

// setOperatorRole changes a role. An admin cannot demote themself, so at
// least one admin always remains. The operator's sockets are closed on a
// change: the hub keeps the role it saw at auth, and reconnecting refreshes it.
func (s *server) setOperatorRole(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Role string `json:"role"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	role, err := parseRole(req.Role)
	if err != nil {
		writeError(w, err)
		return
	}
	s.changeOperator(w, r, "set role", func(ctx context.Context, id int64) error {
		if id == actor(r).ID && role != chat.RoleAdmin {
			return invalid("role", "You cannot remove your own admin role")
		}
		before, err := s.Store.Operator(ctx, id)
		if err != nil {
			return err
		}
		if err := s.Store.SetOperatorRole(ctx, id, role); err != nil {
			return err
		}
		if before.Role != role {
			s.Sockets.DisconnectOperator(id, "role changed")
		}
		return nil
	})
}

func (s *server) setOperatorPassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	hash, err := hashPassword(req.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A new password ends every session of the old one: refresh tokens are
	// revoked and sockets closed (access tokens run out within their TTL).
	s.changeOperator(w, r, "set password", func(ctx context.Context, id int64) error {
		if err := s.Store.SetOperatorPassword(ctx, id, hash); err != nil {
			return err
		}
		if err := s.revokeRefreshTokens(ctx, id, "password changed"); err != nil {
			return err
		}
		s.Sockets.DisconnectOperator(id, "password changed")
		return nil
	})
}

// changeOperator applies change to the {id} operator and answers with the
// operator as it now is.
func (s *server) changeOperator(w http.ResponseWriter, r *http.Request, what string, change func(context.Context, int64) error) {
	id, err := idParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := change(r.Context(), id); err != nil {
		s.fail(w, r, fmt.Errorf("%s operator %d: %w", what, id, operatorErr(err)))
		return
	}
	s.Log.InfoContext(r.Context(), "operator changed", "change", what, "operator_id", id, "by", actor(r).ID)
	s.respondOperator(w, r, http.StatusOK, id)
}

// respondOperator writes the operator's team-list entry.
func (s *server) respondOperator(w http.ResponseWriter, r *http.Request, status int, id int64) {
	ctx := r.Context()
	op, err := s.Store.Operator(ctx, id)
	if err != nil {
		s.fail(w, r, fmt.Errorf("operator %d: %w", id, operatorErr(err)))
		return
	}
	chats, err := s.Store.ActiveChats(ctx)
	if err != nil {
		s.fail(w, r, fmt.Errorf("operator %d: %w", id, err))
		return
	}
	writeJSON(w, status, operatorEntryView(op, s.Sockets.Online(), chats))
}

// operatorErr makes a missing row an unknown operator (operator_not_found).
func operatorErr(err error) error {
	if errors.Is(err, chat.ErrNotFound) && !errors.Is(err, chat.ErrOperatorNotFound) {
		return fmt.Errorf("%w (%w)", chat.ErrOperatorNotFound, err)
	}
	return err
}

func parseRole(s string) (chat.Role, error) {
	role, err := chat.ParseRole(s)
	if err != nil {
		return "", invalid("role", "role must be agent, supervisor or admin")
	}
	return role, nil
}

// hashPassword hashes with auth's length rules, worded for the client.
func hashPassword(pw string) (string, error) {
	hash, err := auth.HashPassword(pw)
	if errors.Is(err, chat.ErrInvalid) {
		return "", invalid("password", fmt.Sprintf("password must be at least %d characters and at most 72 bytes", auth.MinPasswordLen))
	}
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

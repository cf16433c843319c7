package rest

import (
	"errors"
	"fmt"
	"net/http"

	"livechat/internal/chat"
)

// The session actions call the service the socket calls, so ownership
// rules, races and the session_* broadcasts are the same on both.

func (s *server) claimSession(w http.ResponseWriter, r *http.Request) {
	s.sessionAction(w, r, "claim", func(op chat.Operator, id string) (chat.Session, error) {
		return s.Service.Claim(r.Context(), op, id)
	})
}

func (s *server) closeSession(w http.ResponseWriter, r *http.Request) {
	s.sessionAction(w, r, "close", func(op chat.Operator, id string) (chat.Session, error) {
		return s.Service.Close(r.Context(), op, id)
	})
}

func (s *server) transferSession(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ToOperatorID int64   `json:"to_operator_id"`
		Reason       *string `json:"reason"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	s.sessionAction(w, r, "transfer", func(op chat.Operator, id string) (chat.Session, error) {
		return s.Service.Transfer(r.Context(), op, id, req.ToOperatorID, req.Reason)
	})
}

// sessionAction runs one action on the {line_user_id} conversation's
// session and answers with the session as it now is.
func (s *server) sessionAction(w http.ResponseWriter, r *http.Request, name string, act func(chat.Operator, string) (chat.Session, error)) {
	id, err := lineUserIDParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	op := actor(r)
	sess, err := act(op, id)
	if err != nil {
		s.fail(w, r, fmt.Errorf("%s %s: %w", name, id, err))
		return
	}
	s.Log.InfoContext(r.Context(), "session "+name, "session_id", sess.ID, "line_user_id", id, "operator_id", op.ID)
	writeJSON(w, http.StatusOK, sessionView(sess))
}

// session is one session's detail, closed ones included (with the
// customer's CSAT score once rated).
func (s *server) session(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	sess, err := s.Store.Session(r.Context(), id)
	if errors.Is(err, chat.ErrNotFound) {
		err = fmt.Errorf("session %d: %w", id, chat.ErrSessionNotFound)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionView(sess))
}

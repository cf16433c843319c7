package chat

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CSAT is a customer's rating of one closed session, 1 (worst) to 5.
type CSAT struct {
	ID         int64
	SessionID  int64
	LineUserID string
	Score      int
	CreatedAt  time.Time
}

// CSATs persists the ratings.
type CSATs interface {
	// RecordCSAT stores a rating once per CLOSED session of lineUserID:
	// ErrInvalid (score not 1..5), ErrConflict (already rated), ErrNotFound
	// (not a session of that customer), ErrSessionState (still open).
	RecordCSAT(ctx context.Context, sessionID int64, lineUserID string, score int, now time.Time) (CSAT, error)
}

// RateSession records the customer's rating of their closed session, once,
// and tells the session's operator and the analytics subscribers
// (csat_received). The errors are RecordCSAT's.
func (s *Service) RateSession(ctx context.Context, sessionID int64, lineUserID string, score int) (CSAT, error) {
	r, err := s.store.RecordCSAT(ctx, sessionID, lineUserID, score, s.now())
	if err != nil {
		return CSAT{}, fmt.Errorf("rate session %d: %w", sessionID, err)
	}
	sess, err := s.store.Session(ctx, sessionID)
	if err != nil {
		// Stored all the same; only the announcement is lost.
		if !errors.Is(err, ErrNotFound) {
			s.log.ErrorContext(ctx, "csat announcement: load session", "session_id", sessionID, "err", err)
		}
		return r, nil
	}
	s.notify.CSATReceived(ctx, sess, r.Score)
	return r, nil
}

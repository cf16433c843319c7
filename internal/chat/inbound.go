package chat

import (
	"context"
	"errors"
	"fmt"
)

// CloseByCustomer closes the customer's open session because the customer
// left (a LINE unfollow): closed_by=USER, no operator, no CSAT survey, and
// the customer is handed back to the bot. session_closed is broadcast after
// the commit. No open session: nil, nil. reason is only logged.
func (s *Service) CloseByCustomer(ctx context.Context, lineUserID, reason string) (*Session, error) {
	// A claim between the read and the conditional close makes the close
	// miss (ErrConflict): read again and retry. The customer's close takes
	// any owner (nil), so a transfer does not.
	for range 3 {
		sess, err := s.store.OpenSession(ctx, lineUserID)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("close session of %s: %w", lineUserID, err)
		}
		closed, err := s.store.CloseSession(ctx, sess.ID, sess.Status, nil, ClosedByUser, nil, s.now())
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("close session %d: %w", sess.ID, err)
		}
		s.log.InfoContext(ctx, "session closed by the customer", "session_id", closed.ID, "line_user_id", lineUserID, "reason", reason)
		closed.CloseReason = ReasonUnfollow
		s.notify.SessionClosed(ctx, closed)
		return &closed, nil
	}
	return nil, fmt.Errorf("close session of %s: it keeps changing: %w", lineUserID, ErrConflict)
}

// Unsend marks a customer's message unsent (LINE unsend, by its LINE
// message id) and tells every operator: its content is gone from every
// later read, its seq stays. A message never stored (ErrNotFound), or
// already unsent, is nothing to do.
func (s *Service) Unsend(ctx context.Context, lineUserID, lineMessageID string) error {
	m, changed, err := s.store.UnsendMessage(ctx, lineUserID, lineMessageID, s.now())
	if errors.Is(err, ErrNotFound) {
		s.log.DebugContext(ctx, "unsend: no such message", "line_user_id", lineUserID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("unsend: %w", err)
	}
	if changed {
		s.notify.MessageUnsent(ctx, m)
	}
	return nil
}

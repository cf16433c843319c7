package chat

import (
	"context"
	"fmt"
	"time"
)

// realertBatch is the sessions a repeat round reads at a time (it reads
// them all).
var realertBatch = 500

// RealertUnclaimed repeats session_queued to every operator for each
// session still waiting unclaimed every interval: the n-th repeat once n
// intervals have passed since its start, flagged repeat. Each repeat is
// sent once across instances and restarts: the instance whose conditional
// update raises the session's queue_alerts to n sends it. Repeats missed
// while no instance ran are not caught up; the latest goes out. It returns
// how many this call sent.
func (s *Service) RealertUnclaimed(ctx context.Context, interval time.Duration) (int, error) {
	now := s.now()
	sent := 0
	var after *Session
	for {
		sessions, err := s.store.UnclaimedSessions(ctx, now.Add(-interval), after, realertBatch)
		if err != nil {
			return sent, fmt.Errorf("unclaimed realert: %w", err)
		}
		n, err := s.realert(ctx, sessions, now, interval)
		sent += n
		if err != nil || len(sessions) < realertBatch {
			return sent, err
		}
		after = &sessions[len(sessions)-1]
	}
}

// realert sends the repeats due now of a page of unclaimed sessions.
func (s *Service) realert(ctx context.Context, sessions []Session, now time.Time, interval time.Duration) (int, error) {
	sent := 0
	for _, sess := range sessions {
		n := int(now.Sub(sess.StartedAt) / interval)
		if n <= sess.QueueAlerts {
			continue
		}
		won, err := s.store.MarkQueueAlert(ctx, sess.ID, n)
		if err != nil {
			return sent, fmt.Errorf("unclaimed realert: %w", err)
		}
		if !won {
			continue // claimed meanwhile, or another instance sent it
		}
		sess.QueueAlerts = n
		pos, total, err := s.store.QueuePosition(ctx, sess.ID)
		if err != nil {
			return sent, fmt.Errorf("unclaimed realert: %w", err)
		}
		if pos == 0 {
			continue // claimed or closed since the mark
		}
		c, err := s.store.Customer(ctx, sess.LineUserID)
		if err != nil {
			return sent, fmt.Errorf("unclaimed realert: %w", err)
		}
		s.notify.SessionQueued(ctx, sess, c, pos, total)
		sent++
	}
	return sent, nil
}

// RunRealert checks for unclaimed sessions every check until ctx ends;
// interval is the repeat's (0: no repeats).
func (s *Service) RunRealert(ctx context.Context, check, interval time.Duration) {
	if interval <= 0 {
		return
	}
	s.runEvery(ctx, check, func() {
		if _, err := s.RealertUnclaimed(ctx, interval); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "unclaimed realert", "err", err)
		}
	})
}

package chat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Why the system or the customer closed a session (session_closed.reason).
const (
	ReasonInactivity     = "inactivity"      // ACTIVE, no activity for the inactivity timeout
	ReasonWaitingTimeout = "waiting_timeout" // WAITING for longer than the waiting timeout
	ReasonUnfollow       = "unfollow"        // the customer left (a LINE unfollow)
)

// Timeouts are the sweeps': an ACTIVE session with no activity (a message
// either way, a claim, a transfer) for Inactive is closed by SYSTEM; a
// WAITING one older than Waiting by SYSTEM_TIMEOUT. Zero turns one off.
type Timeouts struct {
	Inactive, Waiting time.Duration
	// AuditRetention purges audit rows older than it at each sweep; 0 keeps them.
	AuditRetention time.Duration
	// Retention erases, at each sweep, the customers with no open session
	// and nothing newer than it (their profile, sessions, messages, inbox
	// and outbox rows); 0 keeps everything.
	Retention time.Duration
}

// retentionBatch is the most customers one sweep erases.
const retentionBatch = 100

// auditPurger is an Auditor that can purge (the store).
type auditPurger interface {
	PurgeAudit(ctx context.Context, before time.Time) (int64, error)
}

// sweepBatch is the most sessions of each kind one sweep closes; the next
// sweep takes the rest.
const sweepBatch = 200

// Sweep closes the sessions gone stale under t. Each close is a conditional
// update that checks again that the session is stale, so a customer's
// message since the read keeps it open, and of several instances sweeping
// at once exactly one closes it: that one broadcasts session_closed (with
// closed_by and reason) and runs AfterClose (the customer's notice). It
// returns the sessions it closed.
func (s *Service) Sweep(ctx context.Context, t Timeouts) ([]Session, error) {
	now := s.now()
	var closed []Session
	var errs []error
	for _, k := range []struct {
		status  Status
		timeout time.Duration
		by      ClosedBy
		reason  string
	}{
		{StatusActive, t.Inactive, ClosedBySystem, ReasonInactivity},
		{StatusWaiting, t.Waiting, ClosedBySystemTimeout, ReasonWaitingTimeout},
	} {
		if k.timeout <= 0 {
			continue
		}
		cutoff := now.Add(-k.timeout)
		stale, err := s.store.StaleSessions(ctx, k.status, cutoff, sweepBatch)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", k.reason, err))
			continue
		}
		for _, sess := range stale {
			c, err := s.store.CloseStale(ctx, sess.ID, k.status, cutoff, k.by, now)
			if errors.Is(err, ErrConflict) {
				continue // active again, claimed, closed, or another instance's
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("sweep %s: close session %d: %w", k.reason, sess.ID, err))
				continue
			}
			c.CloseReason = k.reason
			s.log.InfoContext(ctx, "session closed by the sweep", "session_id", c.ID, "line_user_id", c.LineUserID, "reason", k.reason)
			s.notify.SessionClosed(ctx, c)
			s.record(ctx, AuditEntry{Actor: "system", Action: AuditClose, ResourceType: "session", ResourceID: strconv.FormatInt(c.ID, 10),
				Details: map[string]any{"line_user_id": c.LineUserID, "closed_by": string(k.by), "reason": k.reason}})
			if s.AfterClose != nil {
				s.AfterClose(context.WithoutCancel(ctx), c)
			}
			closed = append(closed, c)
		}
	}
	if t.Retention > 0 {
		if err := s.purgeExpired(ctx, now.Add(-t.Retention)); err != nil {
			errs = append(errs, err)
		}
	}
	if p, ok := s.audit.(auditPurger); ok && t.AuditRetention > 0 {
		if n, err := p.PurgeAudit(ctx, now.Add(-t.AuditRetention)); err != nil {
			errs = append(errs, fmt.Errorf("purge audit: %w", err))
		} else if n > 0 {
			s.log.InfoContext(ctx, "audit rows purged", "rows", n)
		}
	}
	return closed, errors.Join(errs...)
}

// RunSweeps sweeps every interval until ctx ends.
func (s *Service) RunSweeps(ctx context.Context, every time.Duration, t Timeouts) {
	s.runEvery(ctx, every, func() {
		if _, err := s.Sweep(ctx, t); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sweep", "err", err)
		}
	})
}

// runEvery calls f every interval, on the service's clock, until ctx ends.
func (s *Service) runEvery(ctx context.Context, every time.Duration, f func()) {
	tick := make(chan struct{}, 1)
	for {
		timer := s.clock.AfterFunc(every, func() {
			select {
			case tick <- struct{}{}:
			default:
			}
		})
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-tick:
		}
		f()
	}
}

// purgeExpired erases the customers retention lets go. Of several
// instances purging at once, each customer's erasure is one transaction:
// the others find it gone (ErrNotFound) and go on.
func (s *Service) purgeExpired(ctx context.Context, before time.Time) error {
	ids, err := s.store.ExpiredCustomers(ctx, before, retentionBatch)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	purged := 0
	for _, id := range ids {
		_, err := s.store.EraseCustomer(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrSessionState):
			continue // another instance's, or the customer wrote meanwhile
		case err != nil:
			return fmt.Errorf("retention: erase %s: %w", HashedCustomerID(id), err)
		}
		purged++
		s.record(ctx, AuditEntry{Actor: "system", Action: AuditCustomerPurge, ResourceType: "customer", ResourceID: HashedCustomerID(id)})
	}
	if purged > 0 {
		s.log.InfoContext(ctx, "retention: customers erased", "customers", purged)
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"livechat/internal/chat"
	"livechat/internal/outbox"
)

// The outbox is the messages table itself: a pending operator message is a
// delivery to make (migration 0002). These methods implement outbox.Store.

var _ outbox.Store = (*DB)(nil)

// outboxRow is a message with its delivery bookkeeping.
type outboxRow struct {
	messageRow `bun:",extend"`

	RetryKey *string `bun:"retry_key"`
	TempID   string  `bun:"temp_id"`
	Attempts int     `bun:"attempts"`
}

func (r outboxRow) delivery() outbox.Delivery {
	d := outbox.Delivery{Message: r.message(), TempID: r.TempID, Attempts: r.Attempts}
	if r.RetryKey != nil {
		d.RetryKey = *r.RetryKey
	}
	return d
}

// outboxPending selects the messages the outbox delivers: operator
// messages not yet accepted by LINE. Bot replies go through the reply API
// and are not the outbox's.
const outboxPending = `delivery_status = 'pending' AND direction = 'OUTGOING' AND sender_role = 'ADMIN'`

// outboxHead keeps, of those, the first of each conversation: a message
// waits until every earlier one is sent or failed.
const outboxHead = outboxPending + ` AND NOT EXISTS (
	SELECT 1 FROM messages AS p
	WHERE p.line_user_id = m.line_user_id AND p.seq < m.seq
		AND p.delivery_status = 'pending' AND p.direction = 'OUTGOING' AND p.sender_role = 'ADMIN')`

// DueDeliveries returns the conversation heads whose next attempt (at
// first: their creation) is due and that no attempt holds, longest waiting
// first.
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]outbox.Delivery, error) {
	now = dbTime(now)
	var rows []outboxRow
	err := db.bun.NewRaw(`
		SELECT `+db.columns(outboxRow{}, "m", "")+`
		FROM messages AS m
		WHERE `+outboxHead+`
			AND coalesce(m.next_attempt_at, m.created_at) <= ?
			AND (m.locked_until IS NULL OR m.locked_until <= ?)
		ORDER BY coalesce(m.next_attempt_at, m.created_at), m.id
		LIMIT ?`, now, now, max(limit, 1)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", dbErr(err))
	}
	out := make([]outbox.Delivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	return out, nil
}

// NextDeliveryAt is the earliest moment a conversation head becomes due:
// its next attempt, or the end of the lock an attempt holds on it.
func (db *DB) NextDeliveryAt(ctx context.Context) (time.Time, bool, error) {
	greatest := "greatest"
	if db.dialect == SQLite {
		greatest = "max" // SQLite's scalar max(a, b)
	}
	var rows []struct {
		NextAttemptAt *time.Time `bun:"next_attempt_at"`
		LockedUntil   *time.Time `bun:"locked_until"`
		CreatedAt     time.Time  `bun:"created_at"`
	}
	err := db.bun.NewRaw(`
		SELECT m.next_attempt_at, m.locked_until, m.created_at
		FROM messages AS m
		WHERE `+outboxHead+`
		ORDER BY `+greatest+`(coalesce(m.next_attempt_at, m.created_at), coalesce(m.locked_until, m.created_at))
		LIMIT 1`).Scan(ctx, &rows)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next delivery: %w", dbErr(err))
	}
	if len(rows) == 0 {
		return time.Time{}, false, nil
	}
	r := rows[0]
	at := r.CreatedAt
	if r.NextAttemptAt != nil {
		at = *r.NextAttemptAt
	}
	if r.LockedUntil != nil && r.LockedUntil.After(at) {
		at = *r.LockedUntil
	}
	return at.UTC(), true, nil
}

// ClaimDelivery takes a due message for one attempt in a single conditional
// update, so of several instances only one wins.
func (db *DB) ClaimDelivery(ctx context.Context, messageID int64, now, lockUntil time.Time, retryKey string) (outbox.Delivery, error) {
	now = dbTime(now)
	var rows []outboxRow
	err := db.bun.NewRaw(`
		UPDATE messages SET attempts = attempts + 1, locked_until = ?, retry_key = coalesce(retry_key, ?)
		WHERE id = ? AND `+outboxPending+`
			AND coalesce(next_attempt_at, created_at) <= ?
			AND (locked_until IS NULL OR locked_until <= ?)
		RETURNING `+db.columns(outboxRow{}, "", ""),
		dbTime(lockUntil), retryKey, messageID, now, now).Scan(ctx, &rows)
	if err != nil {
		return outbox.Delivery{}, fmt.Errorf("store: claim delivery of message %d: %w", messageID, dbErr(err))
	}
	if len(rows) == 0 {
		return outbox.Delivery{}, fmt.Errorf("store: claim delivery of message %d: no longer due: %w", messageID, chat.ErrConflict)
	}
	return rows[0].delivery(), nil
}

// RetryDelivery ends attempt number attempt without an answer: the message
// stays pending, unlocked, due again at at. reason is kept as
// delivery_error meanwhile, so the history shows why it waits.
func (db *DB) RetryDelivery(ctx context.Context, messageID int64, attempt int, at time.Time, reason string) error {
	res, err := db.bun.NewRaw(`
		UPDATE messages SET next_attempt_at = ?, locked_until = NULL, delivery_error = ?
		WHERE id = ? AND attempts = ? AND `+outboxPending,
		dbTime(at), reason, messageID, attempt).Exec(ctx)
	return db.settled(res, err, messageID, "retry")
}

// FinishDelivery records the final outcome of attempt number attempt.
func (db *DB) FinishDelivery(ctx context.Context, messageID int64, attempt int, status chat.DeliveryStatus, reason string) error {
	if status != chat.DeliverySent && status != chat.DeliveryFailed {
		return fmt.Errorf("store: finish delivery of message %d as %q: %w", messageID, status, chat.ErrInvalid)
	}
	res, err := db.bun.NewRaw(`
		UPDATE messages SET delivery_status = ?, delivery_error = ?, next_attempt_at = NULL, locked_until = NULL
		WHERE id = ? AND attempts = ? AND `+outboxPending,
		string(status), reason, messageID, attempt).Exec(ctx)
	return db.settled(res, err, messageID, "finish")
}

// settled maps "no row" to ErrConflict: another attempt has taken over the
// message (this one outlived its lock) or it is no longer pending.
func (db *DB) settled(res sql.Result, err error, messageID int64, what string) error {
	if err != nil {
		return fmt.Errorf("store: %s delivery of message %d: %w", what, messageID, dbErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s delivery of message %d: %w", what, messageID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s delivery of message %d: attempt superseded: %w", what, messageID, chat.ErrConflict)
	}
	return nil
}

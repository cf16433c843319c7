package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
	"livechat/internal/outbox"
)

// The outbox is the messages table itself: a pending operator message is a
// delivery to make (migration 0002). These methods implement outbox.Store.

var _ outbox.Store = (*DB)(nil)

// outboxRow is a message with its delivery bookkeeping.
type outboxRow struct {
	messageRow `bun:",extend"`

	RetryKey      *string    `bun:"retry_key"`
	TempID        string     `bun:"temp_id"`
	Attempts      int        `bun:"attempts"`
	NextAttemptAt *time.Time `bun:"next_attempt_at"`
}

func (r outboxRow) delivery() outbox.Delivery {
	d := outbox.Delivery{Message: r.message(), TempID: r.TempID, Attempts: r.Attempts}
	if r.RetryKey != nil {
		d.RetryKey = *r.RetryKey
	}
	if r.NextAttemptAt != nil {
		d.NextAttemptAt = r.NextAttemptAt.UTC()
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

// PendingDeliveries returns the ids above after of up to limit pending
// messages that no attempt holds (never claimed, or their lock ended), due
// or waiting for a retry, by id: what a restart or the scan for rows of a
// dead instance takes over, page by page. Only ids: a message whose
// columns cannot be read back must not fail the batch (LoadDeliveries
// reads them).
func (db *DB) PendingDeliveries(ctx context.Context, now time.Time, after int64, limit int) ([]int64, error) {
	now = dbTime(now)
	var ids []int64
	err := db.read.NewRaw(`
		SELECT m.id
		FROM messages AS m
		WHERE `+outboxPending+`
			AND (m.locked_until IS NULL OR m.locked_until <= ?)
			AND m.id > ?
		ORDER BY m.id
		LIMIT ?`, now, after, max(limit, 1)).Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("store: pending deliveries: %w", dbErr(err))
	}
	return ids, nil
}

// LoadDeliveries reads the messages with the given ids in one query. A
// message that cannot be read back is left out and listed in unreadable,
// with an error wrapping chat.ErrInvalid: one bad row fails alone.
func (db *DB) LoadDeliveries(ctx context.Context, ids []int64) (ds []outbox.Delivery, unreadable map[int64]error, err error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	var rows []outboxRow
	read := func() error {
		rows = rows[:0]
		return db.read.NewSelect().Model(&rows).Where("m.id IN (?)", bun.In(ids)).Order("m.id").Scan(ctx)
	}
	if len(ids) == 1 {
		err = db.readRow(ctx, "messages", ids[0], read)
		if errors.Is(err, chat.ErrInvalid) {
			return nil, map[int64]error{ids[0]: fmt.Errorf("store: read message %d: %w", ids[0], err)}, nil
		}
	} else {
		err = read()
	}
	if err == nil {
		ds = make([]outbox.Delivery, len(rows))
		for i, r := range rows {
			ds[i] = r.delivery()
		}
		return ds, nil, nil
	}
	if len(ids) == 1 || databaseFailed(err) {
		return nil, nil, fmt.Errorf("store: load deliveries: %w", dbErr(err))
	}
	// Something in the batch did not decode: one by one, to tell which.
	for _, id := range ids {
		one, bad, err := db.LoadDeliveries(ctx, []int64{id})
		if err != nil {
			return nil, nil, err
		}
		ds = append(ds, one...)
		for id, e := range bad {
			if unreadable == nil {
				unreadable = map[int64]error{}
			}
			unreadable[id] = e
		}
	}
	return ds, unreadable, nil
}

// NextDeliveryAt is the earliest moment a conversation head becomes due:
// its next attempt (at first: its creation), or the end of the lock an
// attempt holds on it. Computed in SQL, so that only the answer is read.
func (db *DB) NextDeliveryAt(ctx context.Context) (time.Time, bool, error) {
	var rows []struct {
		At time.Time `bun:"due_at"`
	}
	err := db.read.NewRaw(`
		SELECT CASE WHEN m.locked_until IS NOT NULL AND m.locked_until > coalesce(m.next_attempt_at, m.created_at)
			THEN m.locked_until ELSE coalesce(m.next_attempt_at, m.created_at) END AS due_at
		FROM messages AS m
		WHERE `+outboxHead+`
		ORDER BY due_at ASC
		LIMIT 1`).Scan(ctx, &rows)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next delivery: %w", dbErr(err))
	}
	if len(rows) == 0 {
		return time.Time{}, false, nil
	}
	return rows[0].At.UTC(), true, nil
}

// claimDeliverySQL takes a due pending message for one attempt, if no
// attempt holds it and it is its conversation's first pending message:
// of several instances only one wins, and a conversation goes out in
// order whoever delivers it. It counts the attempt and fixes the retry key
// unless it has one. Prepared (statements.go).
const claimDeliverySQL = `
	UPDATE messages SET attempts = attempts + 1, locked_until = ?, retry_key = coalesce(retry_key, ?)
	WHERE id = ? AND ` + outboxPending + `
		AND coalesce(next_attempt_at, created_at) <= ?
		AND (locked_until IS NULL OR locked_until <= ?)
		AND NOT EXISTS (
			SELECT 1 FROM messages AS p
			WHERE p.line_user_id = messages.line_user_id AND p.seq < messages.seq
				AND p.delivery_status = 'pending' AND p.direction = 'OUTGOING' AND p.sender_role = 'ADMIN')
	RETURNING attempts, retry_key`

// ClaimDeliveries takes each message for one attempt (claimDeliverySQL),
// all in one transaction on SQLite (one commit) and when there are several
// on Postgres. A message that was not claimable gets ErrConflict (another
// attempt holds it, it is settled or not due) or outbox.ErrNotHead (an
// earlier message of its conversation is still pending).
func (db *DB) ClaimDeliveries(ctx context.Context, claims []outbox.Claim, now, lockUntil time.Time) ([]outbox.Claimed, error) {
	now = dbTime(now)
	out := make([]outbox.Claimed, len(claims))
	var missed []int
	var err error
	if db.dialect == Postgres && len(claims) > 1 {
		missed, err = db.claimDeliveriesPG(ctx, claims, db.timeArg(now), db.timeArg(lockUntil), out)
	} else {
		err = db.claimEach(ctx, claims, now, lockUntil, out, &missed)
	}
	if err != nil {
		return nil, fmt.Errorf("store: claim %d deliveries: %w", len(claims), dbErr(err))
	}
	for _, i := range missed {
		out[i].Err = db.whyNotClaimed(ctx, claims[i].MessageID)
	}
	return out, nil
}

// claimEach runs claims one statement each (claimDeliverySQL) in one
// transaction (writeBatch), in id order.
func (db *DB) claimEach(ctx context.Context, claims []outbox.Claim, now, lockUntil time.Time, out []outbox.Claimed, missed *[]int) error {
	return db.writeBatch(ctx, len(claims), func(q queryer) error {
		*missed = (*missed)[:0]
		for _, i := range byID(len(claims), func(i int) int64 { return claims[i].MessageID }) {
			c := claims[i]
			err := q.stmt(db.stmts.claimDelivery).QueryRowContext(ctx,
				db.timeArg(lockUntil), c.RetryKey, c.MessageID, db.timeArg(now), db.timeArg(now)).Scan(&out[i].Attempt, &out[i].RetryKey)
			if errors.Is(err, sql.ErrNoRows) {
				*missed = append(*missed, i)
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// whyNotClaimed tells ErrNotHead from ErrConflict for a claim that
// matched nothing (the rare path: one read).
func (db *DB) whyNotClaimed(ctx context.Context, messageID int64) error {
	var head []bool
	if err := db.read.NewRaw(`
		SELECT NOT EXISTS (
			SELECT 1 FROM messages AS p
			WHERE p.line_user_id = m.line_user_id AND p.seq < m.seq
				AND p.delivery_status = 'pending' AND p.direction = 'OUTGOING' AND p.sender_role = 'ADMIN')
		FROM messages AS m WHERE m.id = ? AND `+outboxPending, messageID).Scan(ctx, &head); err != nil {
		return fmt.Errorf("store: claim delivery of message %d: %w", messageID, dbErr(err))
	}
	if len(head) == 1 && !head[0] {
		return fmt.Errorf("store: claim delivery of message %d: %w", messageID, outbox.ErrNotHead)
	}
	return fmt.Errorf("store: claim delivery of message %d: taken, settled or not due: %w", messageID, chat.ErrConflict)
}

// ClaimDelivery is ClaimDeliveries for one message.
func (db *DB) ClaimDelivery(ctx context.Context, messageID int64, now, lockUntil time.Time, retryKey string) (int, string, error) {
	got, err := db.ClaimDeliveries(ctx, []outbox.Claim{{MessageID: messageID, RetryKey: retryKey}}, now, lockUntil)
	if err != nil {
		return 0, "", err
	}
	return got[0].Attempt, got[0].RetryKey, got[0].Err
}

// RetryDelivery ends attempt number attempt without an answer: the message
// stays pending, unlocked, due again at at. reason is kept as
// delivery_error meanwhile, so the history shows why it waits.
func (db *DB) RetryDelivery(ctx context.Context, messageID int64, attempt int, at time.Time, reason string) error {
	res, err := db.bun.NewRaw(`
		UPDATE messages SET next_attempt_at = ?, locked_until = NULL, delivery_error = ?
		WHERE id = ? AND attempts = ? AND `+outboxPending,
		dbTime(at), cleanText(reason, maxReasonLen), messageID, attempt).Exec(ctx)
	return db.settled(res, err, messageID, "retry")
}

// finishDeliverySQL settles an attempt and names the conversation's next
// pending message, which may be another instance's to hand over.
const finishDeliverySQL = `
	UPDATE messages SET delivery_status = ?, delivery_error = ?, next_attempt_at = NULL, locked_until = NULL
	WHERE id = ? AND attempts = ? AND ` + outboxPending + `
	RETURNING coalesce((
		SELECT min(p.id) FROM messages AS p
		WHERE p.line_user_id = messages.line_user_id AND p.seq > messages.seq
			AND p.delivery_status = 'pending' AND p.direction = 'OUTGOING' AND p.sender_role = 'ADMIN'), 0)`

// FinishDeliveries records the final outcome of each attempt, in one
// transaction as ClaimDeliveries, and names each conversation's next
// pending message (0: none). A later attempt took over, or the message is
// settled: that one's Err is ErrConflict.
func (db *DB) FinishDeliveries(ctx context.Context, fs []outbox.Finish) ([]outbox.Finished, error) {
	for _, f := range fs {
		if f.Status != chat.DeliverySent && f.Status != chat.DeliveryFailed {
			return nil, fmt.Errorf("store: finish delivery of message %d as %q: %w", f.MessageID, f.Status, chat.ErrInvalid)
		}
	}
	out := make([]outbox.Finished, len(fs))
	var err error
	if db.dialect == Postgres && len(fs) > 1 {
		err = db.finishDeliveriesPG(ctx, fs, out)
	} else {
		err = db.finishEach(ctx, fs, out)
	}
	if err != nil {
		return nil, fmt.Errorf("store: finish %d deliveries: %w", len(fs), dbErr(err))
	}
	return out, nil
}

// finishEach runs outcomes one statement each (finishDeliverySQL) in one
// transaction (writeBatch), in id order.
func (db *DB) finishEach(ctx context.Context, fs []outbox.Finish, out []outbox.Finished) error {
	return db.writeBatch(ctx, len(fs), func(q queryer) error {
		for _, i := range byID(len(fs), func(i int) int64 { return fs[i].MessageID }) {
			f := fs[i]
			out[i] = outbox.Finished{}
			err := q.stmt(db.stmts.finishDelivery).QueryRowContext(ctx, string(f.Status), cleanText(f.Reason, maxReasonLen), f.MessageID, f.Attempt).Scan(&out[i].Next)
			if errors.Is(err, sql.ErrNoRows) {
				out[i].Err = fmt.Errorf("store: finish delivery of message %d: attempt superseded: %w", f.MessageID, chat.ErrConflict)
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// FinishDelivery is FinishDeliveries for one attempt.
func (db *DB) FinishDelivery(ctx context.Context, messageID int64, attempt int, status chat.DeliveryStatus, reason string) (int64, error) {
	got, err := db.FinishDeliveries(ctx, []outbox.Finish{{MessageID: messageID, Attempt: attempt, Status: status, Reason: reason}})
	if err != nil {
		return 0, err
	}
	return got[0].Next, got[0].Err
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

// FailDelivery records an attempt that failed because of the message
// itself (it cannot be read back or decoded, or pushing it panicked): the
// message stays pending, due again at next, unless this is its
// maxFailures-th such failure (0: never); then it is quarantined: failed, dead, with the reason, and
// no longer holds back its conversation. attempt guards like
// RetryDelivery's; 0 when the attempt number is unknown (the claim could
// not read the row). It returns the message's identifying columns (those
// the server wrote; enough to tell the sender) and whether it is now dead.
func (db *DB) FailDelivery(ctx context.Context, messageID int64, attempt int, reason string, next time.Time, maxFailures int, now time.Time) (outbox.Dead, error) {
	f := Failure{Reason: reason, Next: next, Row: true, Max: maxFailures}
	now = dbTime(now)
	args := []any{dbTime(f.Next), cleanText(f.Reason, maxReasonLen), f.Row}
	args = append(args, f.quarantineArgs()...)
	args = append(args, f.quarantineArgs()...)
	args = append(args, now, messageID, attempt, attempt)
	var rows []struct {
		ID         int64  `bun:"id"`
		LineUserID string `bun:"line_user_id"`
		OperatorID *int64 `bun:"operator_id"`
		TempID     string `bun:"temp_id"`
		Dead       bool   `bun:"dead"`
	}
	err := db.bun.NewRaw(`
		UPDATE messages SET
			next_attempt_at = ?, locked_until = NULL, delivery_error = ?,
			failures = failures + CASE WHEN ? THEN 1 ELSE 0 END,
			delivery_status = CASE WHEN `+quarantine+` THEN 'failed' ELSE delivery_status END,
			dead_at = CASE WHEN `+quarantine+` THEN `+db.timeParam()+` ELSE NULL END
		WHERE id = ? AND (? = 0 OR attempts = ?) AND `+outboxPending+`
		RETURNING id, line_user_id, operator_id, temp_id, dead_at IS NOT NULL AS dead`, args...).Scan(ctx, &rows)
	if err != nil {
		return outbox.Dead{}, fmt.Errorf("store: fail delivery of message %d: %w", messageID, dbErr(err))
	}
	if len(rows) == 0 {
		return outbox.Dead{}, fmt.Errorf("store: fail delivery of message %d: attempt superseded: %w", messageID, chat.ErrConflict)
	}
	r := rows[0]
	return outbox.Dead{MessageID: r.ID, LineUserID: r.LineUserID, OperatorID: r.OperatorID, TempID: r.TempID, Dead: r.Dead}, nil
}

// DeadDeliveries lists quarantined outbox messages, newest first.
func (db *DB) DeadDeliveries(ctx context.Context, limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	err := db.read.NewRaw(`
		SELECT id, line_user_id, operator_id, temp_id, delivery_error AS reason, attempts, dead_at AS at
		FROM messages WHERE dead_at IS NOT NULL
		ORDER BY dead_at DESC, id DESC LIMIT ?`, max(limit, 1)).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("store: dead deliveries: %w", dbErr(err))
	}
	return utcLetters(out), nil
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

// InboxEvent is one LINE webhook event in the inbox (line_webhook_events):
// stored before the webhook answers, processed from here until done.
type InboxEvent struct {
	ID             int64
	WebhookEventID string
	EventType      string
	SourceType     string
	LineUserID     string // empty unless the source is a user
	Body           json.RawMessage
	EventAt        time.Time
	ReceivedAt     time.Time
	Attempts       int
	NextAttemptAt  time.Time
	LockedUntil    *time.Time
	LastError      string
	ProcessedAt    *time.Time
}

type inboxRow struct {
	bun.BaseModel `bun:"table:line_webhook_events,alias:e"`

	ID             int64      `bun:"id,pk,autoincrement"`
	WebhookEventID string     `bun:"webhook_event_id"`
	EventType      string     `bun:"event_type"`
	SourceType     string     `bun:"source_type"`
	LineUserID     *string    `bun:"line_user_id"`
	Body           string     `bun:"body"`
	EventAt        time.Time  `bun:"event_at"`
	ReceivedAt     time.Time  `bun:"received_at"`
	Attempts       int        `bun:"attempts"`
	NextAttemptAt  time.Time  `bun:"next_attempt_at"`
	LockedUntil    *time.Time `bun:"locked_until"`
	LastError      string     `bun:"last_error"`
	ProcessedAt    *time.Time `bun:"processed_at"`
}

func (r inboxRow) event() InboxEvent {
	e := InboxEvent{
		ID:             r.ID,
		WebhookEventID: r.WebhookEventID,
		EventType:      r.EventType,
		SourceType:     r.SourceType,
		Body:           json.RawMessage(r.Body),
		EventAt:        r.EventAt.UTC(),
		ReceivedAt:     r.ReceivedAt.UTC(),
		Attempts:       r.Attempts,
		NextAttemptAt:  r.NextAttemptAt.UTC(),
		LockedUntil:    utcPtr(r.LockedUntil),
		LastError:      r.LastError,
		ProcessedAt:    utcPtr(r.ProcessedAt),
	}
	if r.LineUserID != nil {
		e.LineUserID = *r.LineUserID
	}
	return e
}

// AddInboxEvents stores the events of one webhook call in one transaction,
// each due at once. An event whose webhook_event_id is already stored (a
// redelivery) is skipped; added counts the new ones.
func (db *DB) AddInboxEvents(ctx context.Context, events []InboxEvent, now time.Time) (added int, err error) {
	now = dbTime(now)
	err = db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		added = 0
		for _, e := range events {
			var lineUserID *string
			if e.LineUserID != "" {
				id := e.LineUserID
				lineUserID = &id
			}
			res, err := tx.ExecContext(ctx, `
				INSERT INTO line_webhook_events
					(webhook_event_id, event_type, source_type, line_user_id, body, event_at, received_at, next_attempt_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (webhook_event_id) DO NOTHING`,
				e.WebhookEventID, e.EventType, e.SourceType, lineUserID, string(e.Body), dbTime(e.EventAt), now, now)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: add %d inbox events: %w", len(events), dbErr(err))
	}
	return added, nil
}

// inboxHeads is the SQL for "pending, due, not leased, and the oldest
// pending event of its customer": a customer's events are processed in
// order, so one that waits for a retry holds back the later ones.
const inboxHeads = `
	e.processed_at IS NULL
	AND NOT EXISTS (
		SELECT 1 FROM line_webhook_events p
		WHERE p.processed_at IS NULL AND p.line_user_id = e.line_user_id AND p.id < e.id)`

// DueInboxEvents returns up to limit events that may be processed now,
// oldest first, at most one per customer (see inboxHeads).
func (db *DB) DueInboxEvents(ctx context.Context, now time.Time, limit int) ([]InboxEvent, error) {
	now = dbTime(now)
	var rows []inboxRow
	err := db.bun.NewSelect().Model(&rows).
		Where(inboxHeads).
		Where("e.next_attempt_at <= ?", now).
		Where("(e.locked_until IS NULL OR e.locked_until <= ?)", now).
		Order("e.id ASC").
		Limit(int64(limit)).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: due inbox events: %w", dbErr(err))
	}
	out := make([]InboxEvent, len(rows))
	for i, r := range rows {
		out[i] = r.event()
	}
	return out, nil
}

// NextInboxAttempt is when the earliest event that DueInboxEvents skips
// becomes due (its retry time, or its lease's end); ok is false when
// nothing is pending.
func (db *DB) NextInboxAttempt(ctx context.Context) (next time.Time, ok bool, err error) {
	var rows []struct {
		At time.Time `bun:"due_at"`
	}
	err = db.bun.NewRaw(`
		SELECT CASE WHEN e.locked_until IS NOT NULL AND e.locked_until > e.next_attempt_at
			THEN e.locked_until ELSE e.next_attempt_at END AS due_at
		FROM line_webhook_events e
		WHERE `+inboxHeads+`
		ORDER BY due_at ASC
		LIMIT 1`).Scan(ctx, &rows)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next inbox attempt: %w", dbErr(err))
	}
	if len(rows) == 0 {
		return time.Time{}, false, nil
	}
	return rows[0].At.UTC(), true, nil
}

// ClaimInboxEvent leases a pending event to the caller until until and
// counts the attempt. It reports false when the event is done or another
// worker holds a lease: a conditional update, so exactly one claimer wins.
func (db *DB) ClaimInboxEvent(ctx context.Context, id int64, now, until time.Time) (bool, error) {
	now = dbTime(now)
	res, err := db.bun.NewUpdate().Table("line_webhook_events").
		Set("locked_until = ?", dbTime(until)).
		Set("attempts = attempts + 1").
		Where("id = ?", id).
		Where("processed_at IS NULL").
		Where("(locked_until IS NULL OR locked_until <= ?)", now).
		Exec(ctx)
	if err := oneRow(res, err); err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("store: claim inbox event %d: %w", id, err)
	}
	return true, nil
}

// CompleteInboxEvent marks an event processed. last_error keeps the last
// failure, if there was one, for the record.
func (db *DB) CompleteInboxEvent(ctx context.Context, id int64, now time.Time) error {
	res, err := db.bun.NewUpdate().Table("line_webhook_events").
		Set("processed_at = ?", dbTime(now)).
		Set("locked_until = NULL").
		Where("id = ?", id).
		Exec(ctx)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("store: complete inbox event %d: %w", id, err)
	}
	return nil
}

// AbandonInboxEvent marks an event done without success: it can never be
// processed (invalid data), and must not hold back the customer's later
// events. The body stays, with reason in last_error, for inspection.
func (db *DB) AbandonInboxEvent(ctx context.Context, id int64, reason string, now time.Time) error {
	res, err := db.bun.NewUpdate().Table("line_webhook_events").
		Set("processed_at = ?", dbTime(now)).
		Set("last_error = ?", reason).
		Set("locked_until = NULL").
		Where("id = ?", id).
		Where("processed_at IS NULL").
		Exec(ctx)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("store: abandon inbox event %d: %w", id, err)
	}
	return nil
}

// FailInboxEvent records a failed attempt and when to try again.
func (db *DB) FailInboxEvent(ctx context.Context, id int64, reason string, next time.Time) error {
	res, err := db.bun.NewUpdate().Table("line_webhook_events").
		Set("last_error = ?", reason).
		Set("next_attempt_at = ?", dbTime(next)).
		Set("locked_until = NULL").
		Where("id = ?", id).
		Where("processed_at IS NULL").
		Exec(ctx)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("store: fail inbox event %d: %w", id, err)
	}
	return nil
}

// InboxEvent returns the inbox entry with that webhook event id.
func (db *DB) InboxEvent(ctx context.Context, webhookEventID string) (InboxEvent, error) {
	var row inboxRow
	if err := db.bun.NewSelect().Model(&row).Where("webhook_event_id = ?", webhookEventID).Scan(ctx); err != nil {
		return InboxEvent{}, fmt.Errorf("store: inbox event %s: %w", webhookEventID, dbErr(err))
	}
	return row.event(), nil
}

// CountInboxEvents counts the inbox: all events, and those not yet processed.
func (db *DB) CountInboxEvents(ctx context.Context) (total, pending int, err error) {
	var res struct {
		Total   int `bun:"total"`
		Pending int `bun:"pending"`
	}
	err = db.bun.NewRaw(`
		SELECT count(*) AS total, count(*) - count(processed_at) AS pending
		FROM line_webhook_events`).Scan(ctx, &res)
	if err != nil {
		return 0, 0, fmt.Errorf("store: count inbox events: %w", dbErr(err))
	}
	return res.Total, res.Pending, nil
}

// IncomingMessageByLineID finds a customer's stored message by its LINE
// message id (payload.line_message_id), for processing that is retried
// after the message was stored. No such message: ErrNotFound.
func (db *DB) IncomingMessageByLineID(ctx context.Context, lineUserID, lineMessageID string) (chat.Message, error) {
	// The expression must match messages_line_message_id_idx's.
	expr := "json_extract(m.payload, '$.line_message_id')"
	if db.dialect == Postgres {
		expr = "(m.payload ->> 'line_message_id')"
	}
	var row messageRow
	err := db.bun.NewSelect().Model(&row).
		Where(expr+" = ?", lineMessageID).
		Where("m.direction = ?", string(chat.Incoming)).
		Where("m.payload IS NOT NULL").
		Where("m.line_user_id = ?", lineUserID).
		Order("m.id ASC").
		Limit(1).
		Scan(ctx)
	if err != nil {
		return chat.Message{}, fmt.Errorf("store: message %s of %s: %w", lineMessageID, lineUserID, dbErr(err))
	}
	return row.message(), nil
}

package store

import (
	"context"
	"encoding/json"
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
	Failures       int // attempts that failed because of the event itself
	NextAttemptAt  time.Time
	LockedUntil    *time.Time
	LastError      string
	ProcessedAt    *time.Time
	DeadAt         *time.Time // quarantined
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
	Failures       int        `bun:"failures"`
	NextAttemptAt  time.Time  `bun:"next_attempt_at"`
	LockedUntil    *time.Time `bun:"locked_until"`
	LastError      string     `bun:"last_error"`
	ProcessedAt    *time.Time `bun:"processed_at"`
	DeadAt         *time.Time `bun:"dead_at"`
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
		Failures:       r.Failures,
		NextAttemptAt:  r.NextAttemptAt.UTC(),
		LockedUntil:    utcPtr(r.LockedUntil),
		LastError:      r.LastError,
		ProcessedAt:    utcPtr(r.ProcessedAt),
		DeadAt:         utcPtr(r.DeadAt),
	}
	if r.LineUserID != nil {
		e.LineUserID = *r.LineUserID
	}
	return e
}

// RejectedEvent is a webhook event refused at the door
// (line_webhook_rejects): answered 200, never processed, kept with why.
type RejectedEvent struct {
	ID             int64
	WebhookEventID string // as received, cleaned; "" when it had none
	EventType      string
	Reason         string
	Body           string // the event as received, cleaned and cut to MaxRejectedBody
	ReceivedAt     time.Time
}

// MaxRejectedBody bounds the stored copy of a rejected event.
const MaxRejectedBody = 16 << 10

// Bounds of the other rejected-event columns and of stored error reasons.
const (
	maxRejectedID = 200
	maxReasonLen  = 1000
)

type rejectRow struct {
	bun.BaseModel `bun:"table:line_webhook_rejects,alias:r"`

	ID             int64     `bun:"id,pk,autoincrement"`
	WebhookEventID string    `bun:"webhook_event_id"`
	EventType      string    `bun:"event_type"`
	Reason         string    `bun:"reason"`
	Body           string    `bun:"body"`
	ReceivedAt     time.Time `bun:"received_at"`
}

// AddInboxEvents stores the outcome of one webhook call in one
// transaction: the accepted events, each due at once, and the rejected
// ones. An event whose webhook_event_id is already stored (a redelivery) is
// skipped, in either table; added counts the new accepted events.
// Rejected events are cleaned to what both databases store (see
// cleanText), so that recording a refusal cannot itself fail on the data.
func (db *DB) AddInboxEvents(ctx context.Context, events []InboxEvent, rejected []RejectedEvent, now time.Time) (added int, err error) {
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
		for _, r := range rejected {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO line_webhook_rejects (webhook_event_id, event_type, reason, body, received_at)
				VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (webhook_event_id) WHERE webhook_event_id <> '' DO NOTHING`,
				cleanText(r.WebhookEventID, maxRejectedID), cleanText(r.EventType, maxRejectedID),
				cleanText(r.Reason, maxReasonLen), cleanText(r.Body, MaxRejectedBody), now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: add %d inbox events and %d rejects: %w", len(events), len(rejected), dbErr(err))
	}
	return added, nil
}

// inboxHeads is the SQL for "pending, and the oldest pending event of its
// customer": a customer's events are processed in order, so one that waits
// for a retry holds back the later ones. Dead events are processed_at, so
// they hold back nothing.
const inboxHeads = `
	e.processed_at IS NULL
	AND NOT EXISTS (
		SELECT 1 FROM line_webhook_events p
		WHERE p.processed_at IS NULL AND p.line_user_id = e.line_user_id AND p.id < e.id)`

// DueInboxIDs returns the ids of up to limit events that may be processed
// now, oldest first, at most one per customer (see inboxHeads). Only ids:
// an event whose columns cannot be read back must not fail the batch
// (ClaimInboxEvent reads each one).
func (db *DB) DueInboxIDs(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	now = dbTime(now)
	var ids []int64
	err := db.read.NewRaw(`
		SELECT e.id FROM line_webhook_events AS e
		WHERE `+inboxHeads+`
			AND e.next_attempt_at <= ?
			AND (e.locked_until IS NULL OR e.locked_until <= ?)
		ORDER BY e.id ASC
		LIMIT ?`, now, now, max(limit, 1)).Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("store: due inbox events: %w", dbErr(err))
	}
	return ids, nil
}

// NextInboxAttempt is when the earliest event that DueInboxIDs skips
// becomes due (its retry time, or its lease's end); ok is false when
// nothing is pending.
func (db *DB) NextInboxAttempt(ctx context.Context) (next time.Time, ok bool, err error) {
	var rows []struct {
		At time.Time `bun:"due_at"`
	}
	err = db.read.NewRaw(`
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

// ClaimInboxEvent leases a pending event to the caller until until, counts
// the attempt and reads the event. ok is false when the event is done or
// another worker holds a lease: a conditional update, so exactly one
// claimer wins. An event that cannot be read back is claimed all the same
// and returned with only its ID and Attempts, and an error wrapping
// chat.ErrInvalid: the event's own fault, which FailInboxEvent counts
// toward quarantine.
func (db *DB) ClaimInboxEvent(ctx context.Context, id int64, now, until time.Time) (InboxEvent, bool, error) {
	now = dbTime(now)
	var attempts []int
	err := db.bun.NewRaw(`
		UPDATE line_webhook_events SET locked_until = ?, attempts = attempts + 1
		WHERE id = ? AND processed_at IS NULL AND (locked_until IS NULL OR locked_until <= ?)
		RETURNING attempts`, dbTime(until), id, now).Scan(ctx, &attempts)
	if err != nil {
		return InboxEvent{}, false, fmt.Errorf("store: claim inbox event %d: %w", id, dbErr(err))
	}
	if len(attempts) == 0 {
		return InboxEvent{}, false, nil
	}
	var row inboxRow
	read := func() error { return db.read.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx) }
	if err := db.readRow(ctx, "line_webhook_events", id, read); err != nil {
		return InboxEvent{ID: id, Attempts: attempts[0]}, true, fmt.Errorf("store: read inbox event %d: %w", id, err)
	}
	return row.event(), true, nil
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

// Failure is a failed attempt at an inbox event or an outbox message.
type Failure struct {
	Reason string    // kept as the row's last error
	Next   time.Time // when to try again
	// Row says the row itself is at fault (it cannot be read back or
	// decoded, or its data is invalid): such attempts count toward
	// quarantine. Database and network failures do not.
	Row bool
	// Max quarantines the row at this many of its own failures; 0 never.
	Max int
	Now time.Time
}

// quarantine is the SQL of "this attempt makes the row dead": the
// failures count before the update plus this one reaches the maximum.
const quarantine = `(? AND ? > 0 AND failures + 1 >= ?)`

func (f Failure) quarantineArgs() []any { return []any{f.Row, f.Max, f.Max} }

// FailInboxEvent records a failed attempt and when to try again. A failure
// of the event itself counts; at f.Max of those the event is quarantined
// (dead): processed, with the reason kept, so it is not retried and holds
// back nothing. dead reports that this call quarantined it.
func (db *DB) FailInboxEvent(ctx context.Context, id int64, f Failure) (dead bool, err error) {
	row := 0
	if f.Row {
		row = 1
	}
	now := dbTime(f.Now)
	args := []any{cleanText(f.Reason, maxReasonLen), dbTime(f.Next), row}
	args = append(args, f.quarantineArgs()...)
	args = append(args, now)
	args = append(args, f.quarantineArgs()...)
	args = append(args, now, id)
	var res []struct {
		Dead bool `bun:"dead"`
	}
	err = db.bun.NewRaw(`
		UPDATE line_webhook_events SET
			last_error = ?, next_attempt_at = ?, locked_until = NULL,
			failures = failures + ?,
			dead_at = CASE WHEN `+quarantine+` THEN `+db.timeParam()+` ELSE NULL END,
			processed_at = CASE WHEN `+quarantine+` THEN `+db.timeParam()+` ELSE NULL END
		WHERE id = ? AND processed_at IS NULL
		RETURNING dead_at IS NOT NULL AS dead`, args...).Scan(ctx, &res)
	if err != nil {
		return false, fmt.Errorf("store: fail inbox event %d: %w", id, dbErr(err))
	}
	if len(res) == 0 {
		return false, fmt.Errorf("store: fail inbox event %d: no longer pending: %w", id, chat.ErrNotFound)
	}
	return res[0].Dead, nil
}

// RetryInboxEvent puts a quarantined event back in the queue, due at now,
// with its failure count reset. Not quarantined: ErrNotFound.
func (db *DB) RetryInboxEvent(ctx context.Context, id int64, now time.Time) error {
	res, err := db.bun.NewUpdate().Table("line_webhook_events").
		Set("dead_at = NULL").
		Set("processed_at = NULL").
		Set("locked_until = NULL").
		Set("failures = 0").
		Set("next_attempt_at = ?", dbTime(now)).
		Where("id = ?", id).
		Where("dead_at IS NOT NULL").
		Exec(ctx)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("store: retry inbox event %d: %w", id, err)
	}
	return nil
}

// DeadLetter is a quarantined inbox event or outbox message, as listed
// for operators. Only columns the server wrote are read, so a row whose
// other columns are unreadable is listed all the same.
type DeadLetter struct {
	ID             int64     `bun:"id" json:"id"`
	WebhookEventID string    `bun:"webhook_event_id" json:"webhook_event_id,omitempty"`
	EventType      string    `bun:"event_type" json:"event_type,omitempty"`
	LineUserID     *string   `bun:"line_user_id" json:"line_user_id,omitempty"`
	OperatorID     *int64    `bun:"operator_id" json:"operator_id,omitempty"`
	TempID         string    `bun:"temp_id" json:"temp_id,omitempty"`
	Reason         string    `bun:"reason" json:"reason"`
	Attempts       int       `bun:"attempts" json:"attempts"`
	At             time.Time `bun:"at" json:"time"`
}

// DeadInboxEvents lists quarantined inbox events, newest first.
func (db *DB) DeadInboxEvents(ctx context.Context, limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	err := db.read.NewRaw(`
		SELECT id, webhook_event_id, event_type, line_user_id, last_error AS reason, attempts, dead_at AS at
		FROM line_webhook_events WHERE dead_at IS NOT NULL
		ORDER BY dead_at DESC, id DESC LIMIT ?`, max(limit, 1)).Scan(ctx, &out)
	if err != nil {
		return nil, fmt.Errorf("store: dead inbox events: %w", dbErr(err))
	}
	return utcLetters(out), nil
}

// RejectedInboxEvents lists the webhook events refused at the door, newest first.
func (db *DB) RejectedInboxEvents(ctx context.Context, limit int) ([]RejectedEvent, error) {
	var rows []rejectRow
	err := db.read.NewSelect().Model(&rows).OrderExpr("r.received_at DESC, r.id DESC").Limit(int64(max(limit, 1))).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: rejected inbox events: %w", dbErr(err))
	}
	out := make([]RejectedEvent, len(rows))
	for i, r := range rows {
		out[i] = RejectedEvent{ID: r.ID, WebhookEventID: r.WebhookEventID, EventType: r.EventType, Reason: r.Reason, Body: r.Body, ReceivedAt: r.ReceivedAt.UTC()}
	}
	return out, nil
}

func utcLetters(ls []DeadLetter) []DeadLetter {
	for i := range ls {
		ls[i].At = ls[i].At.UTC()
	}
	return ls
}

// InboxEvent returns the inbox entry with that webhook event id.
func (db *DB) InboxEvent(ctx context.Context, webhookEventID string) (InboxEvent, error) {
	var row inboxRow
	if err := db.read.NewSelect().Model(&row).Where("webhook_event_id = ?", webhookEventID).Scan(ctx); err != nil {
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
	err = db.read.NewRaw(`
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
	err := db.read.NewSelect().Model(&row).
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

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

type messageRow struct {
	bun.BaseModel `bun:"table:messages,alias:m"`

	ID             int64           `bun:"id,pk,autoincrement"`
	LineUserID     string          `bun:"line_user_id"`
	Seq            int64           `bun:"seq"`
	SessionID      *int64          `bun:"session_id"`
	Direction      string          `bun:"direction"`
	MessageType    string          `bun:"message_type"`
	Content        string          `bun:"content"`
	Payload        json.RawMessage `bun:"payload"`
	SenderRole     string          `bun:"sender_role"`
	OperatorID     *int64          `bun:"operator_id"`
	OperatorName   string          `bun:"operator_name"`
	DeliveryStatus string          `bun:"delivery_status"`
	DeliveryError  string          `bun:"delivery_error"`
	RetryKey       *string         `bun:"retry_key"`
	TempID         string          `bun:"temp_id"`
	CreatedAt      time.Time       `bun:"created_at"`
}

func (r messageRow) message() chat.Message {
	return chat.Message{
		ID:             r.ID,
		LineUserID:     r.LineUserID,
		Seq:            r.Seq,
		SessionID:      r.SessionID,
		Direction:      chat.Direction(r.Direction),
		MessageType:    r.MessageType,
		Content:        r.Content,
		Payload:        r.Payload,
		SenderRole:     chat.SenderRole(r.SenderRole),
		OperatorID:     r.OperatorID,
		OperatorName:   r.OperatorName,
		DeliveryStatus: chat.DeliveryStatus(r.DeliveryStatus),
		DeliveryError:  r.DeliveryError,
		RetryKey:       deref(r.RetryKey),
		TempID:         r.TempID,
		CreatedAt:      r.CreatedAt.UTC(),
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func messages(rows []messageRow) []chat.Message {
	ms := make([]chat.Message, len(rows))
	for i, r := range rows {
		ms[i] = r.message()
	}
	return ms
}

// Page sizes for the list methods.
const (
	defaultLimit = 50
	maxLimit     = 100
)

// clampLimit maps n <= 0 to the default and caps it at maxLimit.
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return defaultLimit
	case n > maxLimit:
		return maxLimit
	}
	return n
}

// AppendMessage stores m with the customer's next seq. Incrementing
// customers.last_seq first takes the customer's row lock (Postgres) or the
// write lock (SQLite), which serialises appends per customer: seqs are
// gap-free, and the message with seq = last_seq is always the latest.
//
// The open session is then read; on Postgres FOR UPDATE, so a claim or
// transfer (which lock only the session row) either waits for this append or
// has committed and is seen, and a close (which locks the customer row first)
// is serialised by the customer lock. A guard the session does not satisfy
// rolls the whole transaction back, the seq increment included.
func (db *DB) AppendMessage(ctx context.Context, m *chat.Message, guard *chat.AppendGuard, now time.Time) error {
	now = dbTime(now)
	payload := m.Payload
	if len(payload) == 0 {
		payload = nil // an empty payload is no payload, not invalid JSON
	}
	var (
		seq       int64
		sessionID *int64
		id        int64
	)
	err := db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewRaw(`
			UPDATE customers SET last_seq = last_seq + 1, last_message_at = ?
			WHERE line_user_id = ?
			RETURNING last_seq`, now, m.LineUserID).Scan(ctx, &seq); err != nil {
			return err
		}
		sessionID = nil
		var open []openSessionRow
		q := `SELECT id, status, operator_id FROM chat_sessions WHERE line_user_id = ? AND status IN ` + openStatuses
		if db.dialect == Postgres {
			q += " FOR UPDATE"
		}
		if err := tx.NewRaw(q, m.LineUserID).Scan(ctx, &open); err != nil {
			return err
		}
		if guard != nil {
			if err := checkGuard(*guard, open); err != nil {
				return err
			}
		}
		if len(open) > 0 {
			sessionID = &open[0].ID
		}
		row := messageRow{
			LineUserID:     m.LineUserID,
			Seq:            seq,
			SessionID:      sessionID,
			Direction:      string(m.Direction),
			MessageType:    m.MessageType,
			Content:        m.Content,
			Payload:        payload,
			SenderRole:     string(m.SenderRole),
			OperatorID:     m.OperatorID,
			OperatorName:   m.OperatorName,
			DeliveryStatus: string(m.DeliveryStatus),
			DeliveryError:  m.DeliveryError,
			TempID:         m.TempID,
			CreatedAt:      now,
		}
		if m.RetryKey != "" {
			row.RetryKey = &m.RetryKey
		}
		if _, err := tx.NewInsert().Model(&row).Returning("id").Exec(ctx); err != nil {
			return err
		}
		id = row.ID
		if sessionID == nil {
			return nil
		}
		_, err := tx.NewRaw(`
			UPDATE chat_sessions
			SET last_activity_at = ?, message_count = message_count + 1,
				first_response_at = CASE WHEN first_response_at IS NULL AND ? THEN ? ELSE first_response_at END
			WHERE id = ?`, now, m.SenderRole == chat.SenderAdmin, now, *sessionID).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: append message for %s: %w", m.LineUserID, dbErr(err))
	}
	m.ID, m.Seq, m.SessionID, m.CreatedAt, m.Payload = id, seq, sessionID, now, payload
	return nil
}

// openSessionRow is what AppendMessage reads of the open session.
type openSessionRow struct {
	ID         int64  `bun:"id"`
	Status     string `bun:"status"`
	OperatorID *int64 `bun:"operator_id"`
}

// checkGuard refuses (ErrConflict) unless open holds the ACTIVE session g asks for.
func checkGuard(g chat.AppendGuard, open []openSessionRow) error {
	if len(open) == 0 {
		return fmt.Errorf("no open session: %w", chat.ErrConflict)
	}
	s := open[0]
	switch {
	case g.SessionID != 0 && s.ID != g.SessionID:
		return fmt.Errorf("open session is %d, not %d: %w", s.ID, g.SessionID, chat.ErrConflict)
	case s.Status != string(chat.StatusActive):
		return fmt.Errorf("session %d is %s, not ACTIVE: %w", s.ID, s.Status, chat.ErrConflict)
	case g.Owner != nil && (s.OperatorID == nil || *s.OperatorID != *g.Owner):
		return fmt.Errorf("session %d is not operator %d's: %w", s.ID, *g.Owner, chat.ErrConflict)
	}
	return nil
}

// Message returns the message with id.
func (db *DB) Message(ctx context.Context, id int64) (chat.Message, error) {
	var row messageRow
	if err := db.bun.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return chat.Message{}, fmt.Errorf("store: message %d: %w", id, dbErr(err))
	}
	return row.message(), nil
}

// RecentMessages pages backwards through a conversation: it reads one row
// more than asked to learn whether older messages exist.
func (db *DB) RecentMessages(ctx context.Context, lineUserID string, beforeSeq int64, limit int) ([]chat.Message, bool, error) {
	limit = clampLimit(limit)
	var rows []messageRow
	q := db.bun.NewSelect().Model(&rows).
		Where("line_user_id = ?", lineUserID).
		Order("seq DESC").
		Limit(int64(limit + 1))
	if beforeSeq > 0 {
		q = q.Where("seq < ?", beforeSeq)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("store: recent messages of %s: %w", lineUserID, dbErr(err))
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	slices.Reverse(rows)
	return messages(rows), more, nil
}

// MessagesAfter returns messages with seq > afterSeq, oldest first.
func (db *DB) MessagesAfter(ctx context.Context, lineUserID string, afterSeq int64, limit int) ([]chat.Message, error) {
	var rows []messageRow
	err := db.bun.NewSelect().Model(&rows).
		Where("line_user_id = ?", lineUserID).
		Where("seq > ?", afterSeq).
		Order("seq ASC").
		Limit(int64(clampLimit(limit))).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: messages of %s after %d: %w", lineUserID, afterSeq, dbErr(err))
	}
	return messages(rows), nil
}

// likeEscaper escapes LIKE wildcards and the escape character itself.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// SearchMessages finds messages whose content contains q, ignoring case,
// newest first; lineUserID "" searches every conversation. Both sides go
// through the database's lower() so they fold alike (ASCII only on SQLite).
func (db *DB) SearchMessages(ctx context.Context, q, lineUserID string, limit int) ([]chat.Message, error) {
	if strings.TrimSpace(q) == "" {
		return nil, fmt.Errorf("store: search messages: empty query: %w", chat.ErrInvalid)
	}
	pattern := "%" + likeEscaper.Replace(q) + "%"
	var rows []messageRow
	sel := db.bun.NewSelect().Model(&rows).
		Where(`lower(content) LIKE lower(?) ESCAPE '\'`, pattern).
		OrderExpr("created_at DESC, id DESC").
		Limit(int64(clampLimit(limit)))
	if lineUserID != "" {
		sel = sel.Where("line_user_id = ?", lineUserID)
	}
	if err := sel.Scan(ctx); err != nil {
		return nil, fmt.Errorf("store: search messages: %w", dbErr(err)) // no query: it is message text
	}
	return messages(rows), nil
}

// SetDelivery records the outcome of sending an outgoing message.
func (db *DB) SetDelivery(ctx context.Context, messageID int64, status chat.DeliveryStatus, reason string) error {
	res, err := db.bun.NewUpdate().Table("messages").
		Set("delivery_status = ?", string(status)).
		Set("delivery_error = ?", reason).
		Where("id = ?", messageID).
		Exec(ctx)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("store: set delivery of message %d to %q: %w", messageID, status, err)
	}
	return nil
}

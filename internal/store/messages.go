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
	UnsentAt       *time.Time      `bun:"unsent_at"`
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
		UnsentAt:       utcPtr(r.UnsentAt),
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

// Message returns the message with id.
func (db *DB) Message(ctx context.Context, id int64) (chat.Message, error) {
	var row messageRow
	if err := db.read.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return chat.Message{}, fmt.Errorf("store: message %d: %w", id, dbErr(err))
	}
	return row.message(), nil
}

// RecentMessages pages backwards through a conversation: it reads one row
// more than asked to learn whether older messages exist.
func (db *DB) RecentMessages(ctx context.Context, lineUserID string, beforeSeq int64, limit int) ([]chat.Message, bool, error) {
	limit = clampLimit(limit)
	var rows []messageRow
	q := db.read.NewSelect().Model(&rows).
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

// afterMax caps MessagesAfter: a resume's window at its most (10,000), and
// one more to tell that the client missed more. It is not a page of the
// REST API, whose cap (maxLimit) a resume or a refill must not meet: that
// would cut what they replay short, silently.
const afterMax = 10001

// MessagesAfter returns up to limit (at most afterMax; <= 0: the default
// page) messages with seq > afterSeq, oldest first.
func (db *DB) MessagesAfter(ctx context.Context, lineUserID string, afterSeq int64, limit int) ([]chat.Message, error) {
	switch {
	case limit <= 0:
		limit = defaultLimit
	case limit > afterMax:
		limit = afterMax
	}
	var rows []messageRow
	err := db.read.NewSelect().Model(&rows).
		Where("line_user_id = ?", lineUserID).
		Where("seq > ?", afterSeq).
		Order("seq ASC").
		Limit(int64(limit)).
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
	sel := db.read.NewSelect().Model(&rows).
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

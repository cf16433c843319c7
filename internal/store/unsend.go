package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

// UnsendMessage marks a customer's message unsent (LINE unsend), found by
// its LINE message id: its content is cleared and its payload keeps only
// line_message_id (so a retried event for it is still recognised); its
// seq stays. It returns the message as it is now, and whether this call
// unsent it (false: it was already). No such message: ErrNotFound.
func (db *DB) UnsendMessage(ctx context.Context, lineUserID, lineMessageID string, now time.Time) (chat.Message, bool, error) {
	m, err := db.IncomingMessageByLineID(ctx, lineUserID, lineMessageID)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("store: unsend: %w", err)
	}
	if m.UnsentAt != nil {
		return m, false, nil
	}
	payload, err := json.Marshal(map[string]string{"line_message_id": lineMessageID})
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("store: unsend: %w", err)
	}
	at := dbTime(now)
	changed := false
	err = db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Table("messages").
			Set("content = ''").Set("payload = ?", string(payload)).Set("unsent_at = ?", at).
			Where("id = ?", m.ID).Where("unsent_at IS NULL").
			Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // unsent meanwhile by a retry of the same event
		}
		changed = true
		return redactInboxMessage(ctx, tx, lineUserID, lineMessageID)
	})
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("store: unsend message %d: %w", m.ID, dbErr(err))
	}
	if !changed {
		return m, false, nil
	}
	m.Content, m.Payload, m.UnsentAt = "", payload, &at
	return m, true, nil
}

// redactInboxMessage cuts the inbox's raw copy of a customer's message
// (its webhook event's body) down to the message's id and type: the text,
// file name, location and the rest go with the unsend.
func redactInboxMessage(ctx context.Context, tx bun.Tx, lineUserID, lineMessageID string) error {
	var rows []struct {
		ID   int64  `bun:"id"`
		Body string `bun:"body"`
	}
	// The id is digits only: nothing LIKE takes as a pattern.
	err := tx.NewSelect().Table("line_webhook_events").Column("id", "body").
		Where("line_user_id = ?", lineUserID).Where("event_type = 'message'").
		Where("body LIKE '%' || ? || '%'", lineMessageID).Scan(ctx, &rows)
	if err != nil {
		return fmt.Errorf("inbox copy: %w", err)
	}
	for _, r := range rows {
		var ev map[string]json.RawMessage
		var msg struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(r.Body), &ev) != nil || json.Unmarshal(ev["message"], &msg) != nil || msg.ID != lineMessageID {
			continue
		}
		cut, err := json.Marshal(msg)
		if err != nil {
			return fmt.Errorf("inbox copy: %w", err)
		}
		ev["message"] = cut
		body, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("inbox copy: %w", err)
		}
		if _, err := tx.NewUpdate().Table("line_webhook_events").Set("body = ?", string(body)).Where("id = ?", r.ID).Exec(ctx); err != nil {
			return fmt.Errorf("inbox copy: %w", err)
		}
	}
	return nil
}

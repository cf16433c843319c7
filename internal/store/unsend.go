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

// UnsendMessage marks a customer's message unsent (LINE unsend), found by
// its LINE message id: its content is cleared and its payload keeps only
// line_message_id (so a retried event for it is still recognised); its
// seq stays. The inbox's raw copies of it are cut to its id and type. It
// returns the message as it is now, and whether this call unsent it
// (false: it was already).
//
// A message not stored yet (its event retried or quarantined, coming
// after the unsend) is recorded as unsent, and never stored (Unsent), and
// this is ErrNotFound.
func (db *DB) UnsendMessage(ctx context.Context, lineUserID, lineMessageID string, now time.Time) (chat.Message, bool, error) {
	// Found before the write transaction: a scan of the customer's events
	// must not hold the write lock.
	copies, err := db.inboxCopies(ctx, lineUserID, lineMessageID)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("store: unsend: %w", err)
	}
	m, err := db.IncomingMessageByLineID(ctx, lineUserID, lineMessageID)
	stored := err == nil
	if err != nil && !errors.Is(err, chat.ErrNotFound) {
		return chat.Message{}, false, fmt.Errorf("store: unsend: %w", err)
	}
	if stored && m.UnsentAt != nil && len(copies) == 0 {
		return m, false, nil
	}
	payload, err := json.Marshal(map[string]string{"line_message_id": lineMessageID})
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("store: unsend: %w", err)
	}
	at := dbTime(now)
	changed := false
	err = db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if !stored {
			// Only for a customer we have: an erased one leaves nothing.
			_, err := tx.NewRaw(`INSERT INTO unsent_messages (line_user_id, line_message_id, unsent_at)
				SELECT CAST(? AS TEXT), CAST(? AS TEXT), `+db.timeParam()+` WHERE EXISTS (SELECT 1 FROM customers WHERE line_user_id = ?)
				ON CONFLICT (line_user_id, line_message_id) DO NOTHING`, lineUserID, lineMessageID, at, lineUserID).Exec(ctx)
			if err != nil {
				return err
			}
		} else if m.UnsentAt == nil {
			res, err := tx.NewUpdate().Table("messages").
				Set("content = ''").Set("payload = ?", string(payload)).Set("unsent_at = ?", at).
				Where("id = ?", m.ID).Where("unsent_at IS NULL").
				Exec(ctx)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			changed = n == 1 // 0: unsent meanwhile by a retry of the same event
		}
		return redactCopies(ctx, tx, copies)
	})
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("store: unsend message %s of %s: %w", lineMessageID, lineUserID, dbErr(err))
	}
	if !stored {
		return chat.Message{}, false, fmt.Errorf("store: unsend: message %s of %s not stored (recorded as unsent): %w", lineMessageID, lineUserID, chat.ErrNotFound)
	}
	if changed {
		m.Content, m.Payload, m.UnsentAt = "", payload, &at
	}
	return m, changed, nil
}

// Unsent reports whether a customer unsent a message before it was stored
// (UnsendMessage): the message is then not to be stored.
func (db *DB) Unsent(ctx context.Context, lineUserID, lineMessageID string) (bool, error) {
	n, err := db.read.NewSelect().Table("unsent_messages").
		Where("line_user_id = ?", lineUserID).Where("line_message_id = ?", lineMessageID).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("store: unsent %s of %s: %w", lineMessageID, lineUserID, dbErr(err))
	}
	return n > 0, nil
}

// inboxCopy is a webhook event's body cut down for an unsend.
type inboxCopy struct {
	id   int64
	body string
}

// inboxCopies are the inbox's raw copies of a customer's message (its
// message events' bodies, processed or not), cut to the message's id and
// type: the text, file name, location and the rest go with the unsend.
func (db *DB) inboxCopies(ctx context.Context, lineUserID, lineMessageID string) ([]inboxCopy, error) {
	var rows []struct {
		ID   int64  `bun:"id"`
		Body string `bun:"body"`
	}
	// The id is digits only: nothing LIKE takes as a pattern.
	err := db.read.NewSelect().Table("line_webhook_events").Column("id", "body").
		Where("line_user_id = ?", lineUserID).Where("event_type = 'message'").
		Where("body LIKE '%' || ? || '%'", lineMessageID).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("inbox copies: %w", dbErr(err))
	}
	var out []inboxCopy
	for _, r := range rows {
		var ev map[string]json.RawMessage
		var msg struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(r.Body), &ev) != nil || json.Unmarshal(ev["message"], &msg) != nil || msg.ID != lineMessageID {
			continue
		}
		var whole map[string]json.RawMessage
		if json.Unmarshal(ev["message"], &whole) == nil && len(whole) <= 2 {
			continue // cut already
		}
		cut, err := json.Marshal(msg)
		if err != nil {
			return nil, fmt.Errorf("inbox copies: %w", err)
		}
		ev["message"] = cut
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("inbox copies: %w", err)
		}
		out = append(out, inboxCopy{r.ID, string(body)})
	}
	return out, nil
}

// redactCopies writes the cut copies.
func redactCopies(ctx context.Context, tx bun.Tx, copies []inboxCopy) error {
	for _, c := range copies {
		if _, err := tx.NewUpdate().Table("line_webhook_events").Set("body = ?", c.body).Where("id = ?", c.id).Exec(ctx); err != nil {
			return fmt.Errorf("inbox copy %d: %w", c.id, err)
		}
	}
	return nil
}

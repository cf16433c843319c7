package store

import (
	"context"
	"fmt"

	"livechat/internal/chat"
)

// MarkRead moves the operator's marker forward to seq. The upsert's WHERE
// keeps it from moving backwards when reads arrive out of order.
func (db *DB) MarkRead(ctx context.Context, operatorID int64, lineUserID string, seq int64) error {
	if seq < 0 {
		return fmt.Errorf("store: mark read: negative seq %d: %w", seq, chat.ErrInvalid)
	}
	_, err := db.bun.NewRaw(`
		INSERT INTO read_markers (operator_id, line_user_id, last_read_seq, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (operator_id, line_user_id) DO UPDATE
		SET last_read_seq = excluded.last_read_seq, updated_at = excluded.updated_at
		WHERE read_markers.last_read_seq < excluded.last_read_seq`,
		operatorID, lineUserID, seq, dbNow()).Exec(ctx)
	if err != nil {
		return fmt.Errorf("store: operator %d: mark %s read to %d: %w", operatorID, lineUserID, seq, dbErr(err))
	}
	return nil
}

// Unread counts INCOMING messages after the operator's marker; without a
// marker every incoming message is unread.
func (db *DB) Unread(ctx context.Context, operatorID int64, lineUserID string) (int, error) {
	var n int
	err := db.read.NewRaw(`
		SELECT count(*) FROM messages m
		WHERE m.line_user_id = ? AND m.direction = 'INCOMING'
		  AND m.seq > coalesce((SELECT r.last_read_seq FROM read_markers r
		                        WHERE r.operator_id = ? AND r.line_user_id = m.line_user_id), 0)`,
		lineUserID, operatorID).Scan(ctx, &n)
	if err != nil {
		return 0, fmt.Errorf("store: operator %d: unread in %s: %w", operatorID, lineUserID, dbErr(err))
	}
	return n, nil
}

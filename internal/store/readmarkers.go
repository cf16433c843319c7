package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

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

// MarkReadBy moves the markers of several operators on one conversation
// forward to seq, in one statement (the watchers of a room when a customer
// writes).
func (db *DB) MarkReadBy(ctx context.Context, operatorIDs []int64, lineUserID string, seq int64) error {
	if len(operatorIDs) == 0 {
		return nil
	}
	if seq < 0 {
		return fmt.Errorf("store: mark read: negative seq %d: %w", seq, chat.ErrInvalid)
	}
	now := dbNow()
	values := make([]string, len(operatorIDs))
	args := make([]any, 0, 4*len(operatorIDs))
	for i, id := range operatorIDs {
		values[i] = "(?, ?, ?, ?)"
		args = append(args, id, lineUserID, seq, now)
	}
	_, err := db.bun.NewRaw(`
		INSERT INTO read_markers (operator_id, line_user_id, last_read_seq, updated_at)
		VALUES `+strings.Join(values, ", ")+`
		ON CONFLICT (operator_id, line_user_id) DO UPDATE
		SET last_read_seq = excluded.last_read_seq, updated_at = excluded.updated_at
		WHERE read_markers.last_read_seq < excluded.last_read_seq`, args...).Exec(ctx)
	if err != nil {
		return fmt.Errorf("store: %d operators: mark %s read to %d: %w", len(operatorIDs), lineUserID, seq, dbErr(err))
	}
	return nil
}

// UnreadBy counts, for each of several operators, the INCOMING messages of
// one conversation after its marker, in one query.
func (db *DB) UnreadBy(ctx context.Context, operatorIDs []int64, lineUserID string) (map[int64]int, error) {
	out := make(map[int64]int, len(operatorIDs))
	if len(operatorIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		ID     int64 `bun:"id"`
		Unread int   `bun:"unread"`
	}
	err := db.read.NewRaw(`
		SELECT o.id, (SELECT count(*) FROM messages m
			WHERE m.line_user_id = ? AND m.direction = 'INCOMING'
			  AND m.seq > coalesce((SELECT r.last_read_seq FROM read_markers r
			                        WHERE r.operator_id = o.id AND r.line_user_id = m.line_user_id), 0)) AS unread
		FROM operators o WHERE o.id IN (?)`, lineUserID, bun.In(operatorIDs)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("store: %d operators: unread in %s: %w", len(operatorIDs), lineUserID, dbErr(err))
	}
	for _, r := range rows {
		out[r.ID] = r.Unread
	}
	return out, nil
}

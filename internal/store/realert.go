package store

import (
	"context"
	"fmt"
	"time"

	"livechat/internal/chat"
)

// UnclaimedSessions is up to limit WAITING sessions started at or before
// startedBy, oldest first, after the session after (nil: from the first).
func (db *DB) UnclaimedSessions(ctx context.Context, startedBy time.Time, after *chat.Session, limit int) ([]chat.Session, error) {
	var rows []sessionRow
	q := db.read.NewSelect().Model(&rows).
		Where("status = ?", string(chat.StatusWaiting)).
		Where("started_at <= ?", dbTime(startedBy))
	if after != nil {
		at := dbTime(after.StartedAt)
		q = q.Where("(started_at > ? OR (started_at = ? AND id > ?))", at, at, after.ID)
	}
	err := q.OrderExpr("started_at ASC, id ASC").
		Limit(int64(limit)).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: unclaimed sessions: %w", dbErr(err))
	}
	return sessions(rows), nil
}

// MarkQueueAlert raises a session's queue_alerts to n if it is still
// WAITING and below n, and reports whether this call did: of several
// instances, one sends the n-th repeat.
func (db *DB) MarkQueueAlert(ctx context.Context, sessionID int64, n int) (bool, error) {
	res, err := db.bun.NewUpdate().Table("chat_sessions").Set("queue_alerts = ?", n).
		Where("id = ?", sessionID).Where("status = ?", string(chat.StatusWaiting)).Where("queue_alerts < ?", n).
		Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("store: mark queue alert of session %d: %w", sessionID, dbErr(err))
	}
	rows, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: mark queue alert of session %d: %w", sessionID, dbErr(err))
	}
	return rows == 1, nil
}

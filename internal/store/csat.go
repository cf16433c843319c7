package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

type csatRow struct {
	bun.BaseModel `bun:"table:csat_responses,alias:r"`

	ID         int64     `bun:"id,pk,autoincrement"`
	SessionID  int64     `bun:"session_id"`
	LineUserID string    `bun:"line_user_id"`
	Score      int       `bun:"score"`
	CreatedAt  time.Time `bun:"created_at"`
}

// RecordCSAT stores a rating for a CLOSED session of lineUserID, once: the
// insert selects the session by id and customer, and UNIQUE(session_id)
// turns a second answer into a no-op. The score is mirrored into
// chat_sessions.csat_score in the same transaction, for the session views.
// Errors: ErrInvalid (score not 1..5), ErrConflict (already rated),
// ErrNotFound (no such session of that customer), ErrSessionState (the
// session is still open).
func (db *DB) RecordCSAT(ctx context.Context, sessionID int64, lineUserID string, score int, now time.Time) (chat.CSAT, error) {
	if score < 1 || score > 5 {
		return chat.CSAT{}, fmt.Errorf("store: record csat for session %d: score %d not in 1..5: %w", sessionID, score, chat.ErrInvalid)
	}
	now = dbTime(now)
	var row csatRow
	err := db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO csat_responses (session_id, line_user_id, score, created_at)
			SELECT id, line_user_id, ?, ? FROM chat_sessions
			WHERE id = ? AND line_user_id = ? AND status = 'CLOSED'
			ON CONFLICT (session_id) DO NOTHING`, score, now, sessionID, lineUserID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			if _, err := tx.ExecContext(ctx, `UPDATE chat_sessions SET csat_score = ? WHERE id = ?`, score, sessionID); err != nil {
				return err
			}
			return tx.NewSelect().Model(&row).Where("session_id = ?", sessionID).Scan(ctx)
		}
		return csatRefusal(ctx, tx, sessionID, lineUserID)
	})
	if err != nil {
		return chat.CSAT{}, fmt.Errorf("store: record csat for session %d: %w", sessionID, dbErr(err))
	}
	return row.response(), nil
}

// csatRefusal explains an insert that added nothing.
func csatRefusal(ctx context.Context, tx bun.Tx, sessionID int64, lineUserID string) error {
	s, err := sessionByID(ctx, tx, sessionID)
	if err != nil {
		return err // ErrNotFound: no such session
	}
	if s.LineUserID != lineUserID {
		// Someone else's session: indistinguishable from a missing one.
		return chat.ErrNotFound
	}
	if s.Status != chat.StatusClosed {
		return chat.ErrSessionState
	}
	return chat.ErrConflict
}

func (r csatRow) response() chat.CSAT {
	return chat.CSAT{ID: r.ID, SessionID: r.SessionID, LineUserID: r.LineUserID, Score: r.Score, CreatedAt: r.CreatedAt.UTC()}
}

// CSAT returns the rating of a session, or ErrNotFound.
func (db *DB) CSAT(ctx context.Context, sessionID int64) (chat.CSAT, error) {
	var row csatRow
	if err := db.read.NewSelect().Model(&row).Where("session_id = ?", sessionID).Scan(ctx); err != nil {
		return chat.CSAT{}, fmt.Errorf("store: csat of session %d: %w", sessionID, dbErr(err))
	}
	return row.response(), nil
}

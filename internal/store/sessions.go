package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

type sessionRow struct {
	bun.BaseModel `bun:"table:chat_sessions,alias:s"`

	ID              int64      `bun:"id,pk,autoincrement"`
	LineUserID      string     `bun:"line_user_id"`
	OperatorID      *int64     `bun:"operator_id"`
	Status          string     `bun:"status"`
	StartedAt       time.Time  `bun:"started_at"`
	ClaimedAt       *time.Time `bun:"claimed_at"`
	ClosedAt        *time.Time `bun:"closed_at"`
	FirstResponseAt *time.Time `bun:"first_response_at"`
	LastActivityAt  time.Time  `bun:"last_activity_at"`
	MessageCount    int        `bun:"message_count"`
	ClosedBy        *string    `bun:"closed_by"`
	ClosedByID      *int64     `bun:"closed_by_id"`
	TransferCount   int        `bun:"transfer_count"`
	TransferReason  *string    `bun:"transfer_reason"`
	CSATScore       *int       `bun:"csat_score"`
	QueueAlerts     int        `bun:"queue_alerts"`
}

// sessions converts rows read in a list.
func sessions(rows []sessionRow) []chat.Session {
	out := make([]chat.Session, len(rows))
	for i, r := range rows {
		out[i] = r.session()
	}
	return out
}

func (r sessionRow) session() chat.Session {
	s := chat.Session{
		ID:              r.ID,
		LineUserID:      r.LineUserID,
		OperatorID:      r.OperatorID,
		Status:          chat.Status(r.Status),
		StartedAt:       r.StartedAt.UTC(),
		ClaimedAt:       utcPtr(r.ClaimedAt),
		ClosedAt:        utcPtr(r.ClosedAt),
		FirstResponseAt: utcPtr(r.FirstResponseAt),
		LastActivityAt:  r.LastActivityAt.UTC(),
		QueueAlerts:     r.QueueAlerts,
		MessageCount:    r.MessageCount,
		ClosedByID:      r.ClosedByID,
		TransferCount:   r.TransferCount,
		TransferReason:  r.TransferReason,
		CSATScore:       r.CSATScore,
	}
	if r.ClosedBy != nil {
		by := chat.ClosedBy(*r.ClosedBy)
		s.ClosedBy = &by
	}
	return s
}

// openStatuses is the SQL for "the session is open"; it matches the partial
// unique index's predicate.
const openStatuses = "('WAITING', 'ACTIVE')"

// Session returns the session with id.
func (db *DB) Session(ctx context.Context, id int64) (chat.Session, error) {
	s, err := sessionByID(ctx, db.read, id)
	if err != nil {
		return chat.Session{}, fmt.Errorf("store: session %d: %w", id, err)
	}
	return s, nil
}

func sessionByID(ctx context.Context, q bun.IDB, id int64) (chat.Session, error) {
	var row sessionRow
	if err := q.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return chat.Session{}, dbErr(err)
	}
	return row.session(), nil
}

// OpenSession returns the customer's WAITING or ACTIVE session.
func (db *DB) OpenSession(ctx context.Context, lineUserID string) (chat.Session, error) {
	s, err := openSession(ctx, db.read, lineUserID)
	if err != nil {
		return chat.Session{}, fmt.Errorf("store: open session of %s: %w", lineUserID, err)
	}
	return s, nil
}

func openSession(ctx context.Context, q bun.IDB, lineUserID string) (chat.Session, error) {
	var row sessionRow
	err := q.NewSelect().Model(&row).
		Where("line_user_id = ?", lineUserID).
		Where("status IN " + openStatuses).
		Scan(ctx)
	if err != nil {
		return chat.Session{}, dbErr(err)
	}
	return row.session(), nil
}

// EnsureWaitingSession returns the open session or creates a WAITING one.
// The customer row is updated first so that, on Postgres, concurrent callers
// queue on its row lock and the later ones then see the new session; the
// unique index is the backstop, and a violation means someone else won.
func (db *DB) EnsureWaitingSession(ctx context.Context, lineUserID string, now time.Time) (chat.Session, bool, error) {
	now = dbTime(now)
	for attempt := 0; ; attempt++ {
		var (
			s       chat.Session
			created bool
		)
		err := db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			created = false
			res, err := tx.NewUpdate().Table("customers").
				Set("chat_mode = ?", string(chat.ModeHuman)).
				Set("updated_at = ?", now).
				Where("line_user_id = ?", lineUserID).
				Exec(ctx)
			if err := oneRow(res, err); err != nil {
				return err
			}
			s, err = openSession(ctx, tx, lineUserID)
			if err == nil {
				// Nothing to create: undo the touch of the customer row.
				return errExisting
			}
			if !errors.Is(err, chat.ErrNotFound) {
				return err
			}
			row := sessionRow{
				LineUserID:     lineUserID,
				Status:         string(chat.StatusWaiting),
				StartedAt:      now,
				LastActivityAt: now,
			}
			if _, err := tx.NewInsert().Model(&row).Returning("id").Exec(ctx); err != nil {
				return err
			}
			s, created = row.session(), true
			return nil
		})
		switch {
		case err == nil:
			return s, created, nil
		case errors.Is(err, errExisting):
			return s, false, nil
		case isUnique(err) && attempt < 3:
			// A concurrent creator committed first: read what it made.
			s, err := openSession(ctx, db.read, lineUserID)
			if err == nil {
				return s, false, nil
			}
			if !errors.Is(err, chat.ErrNotFound) {
				return chat.Session{}, false, fmt.Errorf("store: ensure waiting session for %s: %w", lineUserID, err)
			}
			// Closed again in the meantime: try again.
		default:
			return chat.Session{}, false, fmt.Errorf("store: ensure waiting session for %s: %w", lineUserID, dbErr(err))
		}
	}
}

// errExisting rolls back EnsureWaitingSession's transaction when the session
// already exists.
var errExisting = errors.New("store: session exists")

// ClaimSession moves a WAITING session to ACTIVE for operatorID in one
// conditional update, so exactly one of concurrent claimers wins.
func (db *DB) ClaimSession(ctx context.Context, sessionID, operatorID int64, now time.Time) (chat.Session, error) {
	now = dbTime(now)
	var row sessionRow
	err := db.bun.NewRaw(`
		UPDATE chat_sessions
		SET status = 'ACTIVE', operator_id = ?, claimed_at = ?, last_activity_at = ?
		WHERE id = ? AND status = 'WAITING'
		RETURNING `+db.columns(sessionRow{}, "", ""), operatorID, now, now, sessionID).Scan(ctx, &row)
	if err != nil {
		return chat.Session{}, fmt.Errorf("store: claim session %d: %w", sessionID, db.noRowCause(ctx, sessionID, err, chat.ErrAlreadyClaimed))
	}
	return row.session(), nil
}

// noRowCause explains a conditional update that matched nothing: the session
// is missing (ErrNotFound) or in another state (ifExists).
func (db *DB) noRowCause(ctx context.Context, sessionID int64, err, ifExists error) error {
	if !errors.Is(err, sql.ErrNoRows) {
		return dbErr(err)
	}
	exists, err := db.read.NewSelect().Table("chat_sessions").Where("id = ?", sessionID).Exists(ctx)
	if err != nil {
		return dbErr(err)
	}
	if exists {
		return ifExists
	}
	return chat.ErrNotFound
}

// CloseSession closes a session that is in state from (and, when owner is
// set, owned by *owner) and hands the customer back to the bot. The customer
// row is locked before the session row, the same order AppendMessage uses, so
// the two cannot deadlock on Postgres.
func (db *DB) CloseSession(ctx context.Context, sessionID int64, from chat.Status, owner *int64, by chat.ClosedBy, byID *int64, now time.Time) (chat.Session, error) {
	if from != chat.StatusWaiting && from != chat.StatusActive {
		return chat.Session{}, fmt.Errorf("store: close session %d: from status %q: %w", sessionID, from, chat.ErrInvalid)
	}
	cond, args := "id = ? AND status = ?", []any{sessionID, string(from)}
	what := string(from)
	if owner != nil {
		cond += " AND operator_id = ?"
		args = append(args, *owner)
		what += fmt.Sprintf(" of operator %d", *owner)
	}
	return db.closeWhere(ctx, sessionID, what, cond, args, by, byID, now)
}

// staleColumn is what makes a session in status stale: an ACTIVE one's
// last activity, a WAITING one's start.
func staleColumn(status chat.Status) (string, error) {
	switch status {
	case chat.StatusActive:
		return "last_activity_at", nil
	case chat.StatusWaiting:
		return "started_at", nil
	}
	return "", fmt.Errorf("store: stale sessions: status %q: %w", status, chat.ErrInvalid)
}

// StaleSessions returns up to limit sessions in status that went stale
// before cutoff (ACTIVE: no activity since; WAITING: started before),
// stalest first.
func (db *DB) StaleSessions(ctx context.Context, status chat.Status, cutoff time.Time, limit int) ([]chat.Session, error) {
	col, err := staleColumn(status)
	if err != nil {
		return nil, err
	}
	var rows []sessionRow
	err = db.read.NewSelect().Model(&rows).
		Where("status = ?", string(status)).
		Where(col+" < ?", dbTime(cutoff)).
		OrderExpr(col + " ASC, id ASC").
		Limit(int64(limit)).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: stale %s sessions: %w", status, dbErr(err))
	}
	return sessions(rows), nil
}

// CloseStale closes a session that is still in from and still stale before
// cutoff, as CloseSession does, by by with no operator: a customer message
// since the read keeps it open, and of several instances sweeping at once
// one closes it. Zero rows: ErrConflict.
func (db *DB) CloseStale(ctx context.Context, sessionID int64, from chat.Status, cutoff time.Time, by chat.ClosedBy, now time.Time) (chat.Session, error) {
	col, err := staleColumn(from)
	if err != nil {
		return chat.Session{}, err
	}
	cond := "id = ? AND status = ? AND " + col + " < ?"
	return db.closeWhere(ctx, sessionID, "stale "+string(from), cond, []any{sessionID, string(from), dbTime(cutoff)}, by, nil, now)
}

// closeWhere closes the session matching cond (with args) and hands its
// customer back to the bot, in one transaction.
func (db *DB) closeWhere(ctx context.Context, sessionID int64, what, cond string, condArgs []any, by chat.ClosedBy, byID *int64, now time.Time) (chat.Session, error) {
	now = dbTime(now)
	args := append([]any{now, string(by), byID}, condArgs...)
	var row sessionRow
	err := db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewRaw(`
			UPDATE customers SET chat_mode = ?, updated_at = ?
			WHERE line_user_id = (SELECT line_user_id FROM chat_sessions WHERE id = ?)`,
			string(chat.ModeBot), now, sessionID).Exec(ctx); err != nil {
			return err
		}
		return tx.NewRaw(`
			UPDATE chat_sessions
			SET status = 'CLOSED', closed_at = ?, closed_by = ?, closed_by_id = ?
			WHERE `+cond+`
			RETURNING `+db.columns(sessionRow{}, "", ""), args...).Scan(ctx, &row)
	})
	if err != nil {
		return chat.Session{}, fmt.Errorf("store: close session %d from %s: %w", sessionID, what, db.noRowCause(ctx, sessionID, err, chat.ErrConflict))
	}
	return row.session(), nil
}

// TransferSession hands an ACTIVE session from one operator to another.
func (db *DB) TransferSession(ctx context.Context, sessionID, from, to int64, reason *string, now time.Time) (chat.Session, error) {
	if reason != nil && utf8.RuneCountInString(*reason) > 255 {
		return chat.Session{}, fmt.Errorf("store: transfer session %d: reason longer than 255 characters: %w", sessionID, chat.ErrInvalid)
	}
	now = dbTime(now)
	var row sessionRow
	err := db.bun.NewRaw(`
		UPDATE chat_sessions
		SET operator_id = ?, transfer_count = transfer_count + 1, transfer_reason = ?, last_activity_at = ?
		WHERE id = ? AND status = 'ACTIVE' AND operator_id = ?
		RETURNING `+db.columns(sessionRow{}, "", ""), to, reason, now, sessionID, from).Scan(ctx, &row)
	if err != nil {
		return chat.Session{}, fmt.Errorf("store: transfer session %d from operator %d to %d: %w", sessionID, from, to, db.noRowCause(ctx, sessionID, err, chat.ErrConflict))
	}
	return row.session(), nil
}

// QueuePosition ranks a WAITING session by (started_at, id) in one query.
func (db *DB) QueuePosition(ctx context.Context, sessionID int64) (int, int, error) {
	var res struct {
		Status   string `bun:"status"`
		Position int    `bun:"position"`
		Total    int    `bun:"total"`
	}
	err := db.read.NewRaw(`
		SELECT s.status,
			(SELECT count(*) FROM chat_sessions w
			 WHERE w.status = 'WAITING'
			   AND (w.started_at < s.started_at OR (w.started_at = s.started_at AND w.id <= s.id))) AS position,
			(SELECT count(*) FROM chat_sessions w WHERE w.status = 'WAITING') AS total
		FROM chat_sessions s
		WHERE s.id = ?`, sessionID).Scan(ctx, &res)
	if err != nil {
		return 0, 0, fmt.Errorf("store: queue position of session %d: %w", sessionID, dbErr(err))
	}
	if res.Status != string(chat.StatusWaiting) {
		return 0, res.Total, nil
	}
	return res.Position, res.Total, nil
}

// ActiveChats counts ACTIVE sessions per operator.
func (db *DB) ActiveChats(ctx context.Context) (map[int64]int, error) {
	var rows []struct {
		OperatorID int64 `bun:"operator_id"`
		N          int   `bun:"n"`
	}
	err := db.read.NewRaw(`
		SELECT operator_id, count(*) AS n FROM chat_sessions
		WHERE status = 'ACTIVE' AND operator_id IS NOT NULL
		GROUP BY operator_id`).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("store: active chats: %w", dbErr(err))
	}
	m := make(map[int64]int, len(rows))
	for _, r := range rows {
		m[r.OperatorID] = r.N
	}
	return m, nil
}

// SessionStats counts open sessions and those started since.
func (db *DB) SessionStats(ctx context.Context, since time.Time) (chat.SessionStats, error) {
	var st struct {
		Waiting int `bun:"waiting"`
		Active  int `bun:"active"`
		Today   int `bun:"today"`
	}
	err := db.read.NewRaw(`
		SELECT
			(SELECT count(*) FROM chat_sessions WHERE status = 'WAITING') AS waiting,
			(SELECT count(*) FROM chat_sessions WHERE status = 'ACTIVE') AS active,
			(SELECT count(*) FROM chat_sessions WHERE started_at >= ?) AS today`, dbTime(since)).Scan(ctx, &st)
	if err != nil {
		return chat.SessionStats{}, fmt.Errorf("store: session stats: %w", dbErr(err))
	}
	return chat.SessionStats{Waiting: st.Waiting, Active: st.Active, Today: st.Today}, nil
}

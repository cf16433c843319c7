package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"livechat/internal/chat"
)

// AppendMessage stores m with the customer's next seq, links the open
// session (if any) and counts the message as session activity, all or
// nothing: seqs stay gap-free, and the message with seq = last_seq is the
// latest. With a guard, the open session must satisfy it at the moment of
// the write, or nothing is stored (see guardError).
//
// On SQLite the group writer runs it with the other messages queued at
// the same time in one transaction (group commit); the caller returns once
// that transaction committed. On Postgres it is one prepared statement:
// one round trip, the customer row locked before the session row (the
// order CloseSession uses), the session FOR UPDATE so that a claim or
// transfer committed meanwhile is seen.
func (db *DB) AppendMessage(ctx context.Context, m *chat.Message, guard *chat.AppendGuard, now time.Time) error {
	now = dbTime(now)
	if len(m.Payload) == 0 {
		m.Payload = nil // an empty payload is no payload, not invalid JSON
	}
	var (
		r   appended
		err error
	)
	if db.writer != nil {
		r, err = db.writer.append(ctx, m, guard, now)
	} else {
		r, err = db.appendPostgres(ctx, m, guard, now)
	}
	var dup *duplicate
	if errors.As(err, &dup) {
		// Read once the writer's batch committed (the original may be
		// in it), from the table as it is now.
		orig, rerr := db.Message(ctx, dup.id)
		if rerr != nil {
			return fmt.Errorf("store: append message for %s: read message %d, the original of temp_id %q: %w", m.LineUserID, dup.id, m.TempID, rerr)
		}
		err = &chat.DuplicateSendError{Original: orig}
	}
	if err != nil {
		return fmt.Errorf("store: append message for %s: %w", m.LineUserID, err)
	}
	m.ID, m.Seq, m.SessionID, m.CreatedAt = r.id, r.seq, r.sessionID, now
	return nil
}

// duplicate is an append refused because its operator already used its
// temp_id in the conversation: id is the message stored under it.
// AppendMessage answers it as a *chat.DuplicateSendError.
type duplicate struct{ id int64 }

func (d *duplicate) Error() string { return fmt.Sprintf("temp_id already used by message %d", d.id) }
func (d *duplicate) Unwrap() error { return chat.ErrDuplicateSend }

// keyed reports whether m is an operator message with a temp_id, the ones
// messages_temp_id_idx keeps unique.
func keyed(m *chat.Message) bool { return m.TempID != "" && m.OperatorID != nil }

// isTempIDConflict reports a violation of messages_temp_id_idx.
func isTempIDConflict(err error) bool {
	if !isUnique(err) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName == "messages_temp_id_idx"
	}
	return strings.Contains(err.Error(), "messages.line_user_id, messages.operator_id, messages.temp_id")
}

// appended is what an append stored.
type appended struct {
	id, seq   int64
	sessionID *int64
}

// openRow is the customer's open session as an append reads it.
type openRow struct {
	id         int64
	status     string
	operatorID *int64
}

// guardError explains a guard that the open session does not satisfy. It
// wraps chat.ErrConflict and the cause: chat.ErrSessionNotFound (no open
// session), chat.ErrSessionState (not ACTIVE, or another session than the
// one asked for) or chat.ErrForbidden (another operator's).
func guardError(g chat.AppendGuard, open *openRow) error {
	switch {
	case open == nil:
		return fmt.Errorf("%w: no open session: %w", chat.ErrConflict, chat.ErrSessionNotFound)
	case g.SessionID != 0 && open.id != g.SessionID:
		return fmt.Errorf("%w: the open session is %d, not %d: %w", chat.ErrConflict, open.id, g.SessionID, chat.ErrSessionState)
	case open.status != string(chat.StatusActive):
		return fmt.Errorf("%w: session %d is %s, not ACTIVE: %w", chat.ErrConflict, open.id, open.status, chat.ErrSessionState)
	case g.Owner != nil && (open.operatorID == nil || *open.operatorID != *g.Owner):
		return fmt.Errorf("%w: session %d is not operator %d's: %w", chat.ErrConflict, open.id, *g.Owner, chat.ErrForbidden)
	}
	return nil
}

// messageArgs are the message's columns from direction to temp_id, in the
// order the insert statements take them.
func messageArgs(m *chat.Message) []any {
	var payload, retryKey any
	if m.Payload != nil {
		payload = string(m.Payload)
	}
	if m.RetryKey != "" {
		retryKey = m.RetryKey
	}
	return []any{string(m.Direction), m.MessageType, m.Content, payload, string(m.SenderRole),
		m.OperatorID, m.OperatorName, string(m.DeliveryStatus), m.DeliveryError, retryKey, m.TempID}
}

// findTempIDSQL is the message its operator already stored under a
// temp_id in the conversation. Its last term repeats the partial index's
// WHERE literally, so that both databases use the index (Postgres also in a
// generic plan).
const findTempIDSQL = `SELECT id FROM messages WHERE line_user_id = ? AND operator_id = ? AND temp_id = ? AND temp_id <> ''`

const sqliteOpenSession = `SELECT id, status, operator_id FROM chat_sessions WHERE line_user_id = ? AND status IN ('WAITING', 'ACTIVE')`

const sqliteBumpSeq = `UPDATE customers SET last_seq = last_seq + 1, last_message_at = ? WHERE line_user_id = ? RETURNING last_seq`

const sqliteInsertMessage = `
	INSERT INTO messages (line_user_id, seq, session_id, direction, message_type, content, payload, sender_role,
		operator_id, operator_name, delivery_status, delivery_error, retry_key, temp_id, created_at, sent_ip, sent_user_agent)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	RETURNING id`

const sqliteTouchSession = `
	UPDATE chat_sessions
	SET last_activity_at = ?, message_count = message_count + 1,
		first_response_at = CASE WHEN first_response_at IS NULL AND ? THEN ? ELSE first_response_at END
	WHERE id = ?`

// appendSQLite is one append inside the group writer's transaction, under
// the write lock: nobody else writes meanwhile, so a temp_id already used
// (also by an earlier append of the same batch) and the guard are checked
// before anything is written, and a failure after the seq was taken rolls
// back to the savepoint, refusing only this append.
func (db *DB) appendSQLite(ctx context.Context, tx *sql.Tx, m *chat.Message, guard *chat.AppendGuard, now time.Time) (appended, error) {
	s := db.stmts
	if keyed(m) {
		dup, err := findTempID(ctx, tx.StmtContext(ctx, s.findTempID), m)
		if err != nil {
			return appended{}, err
		}
		if dup != nil {
			return appended{}, dup
		}
	}
	open, err := querySession(ctx, tx.StmtContext(ctx, s.openSession), m.LineUserID)
	if err != nil {
		return appended{}, dbErr(err)
	}
	if guard != nil {
		if err := guardError(*guard, open); err != nil {
			return appended{}, err
		}
	}
	var r appended
	if open != nil {
		r.sessionID = &open.id
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT append"); err != nil {
		return appended{}, dbErr(err)
	}
	err = func() error {
		t := db.timeArg(now)
		if err := tx.StmtContext(ctx, s.bumpSeq).QueryRowContext(ctx, t, m.LineUserID).Scan(&r.seq); err != nil {
			return err
		}
		args := append(append([]any{m.LineUserID, r.seq, r.sessionID}, messageArgs(m)...), t, m.SentIP, cleanText(m.SentUserAgent, 500))
		if err := tx.StmtContext(ctx, s.insertMessage).QueryRowContext(ctx, args...).Scan(&r.id); err != nil {
			return err
		}
		if open != nil {
			_, err := tx.StmtContext(ctx, s.touchSession).ExecContext(ctx, t, m.SenderRole == chat.SenderAdmin, t, open.id)
			return err
		}
		return nil
	}()
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO append"); rerr != nil {
			return appended{}, &brokenBatch{errors.Join(dbErr(err), rerr)}
		}
	}
	if _, rerr := tx.ExecContext(ctx, "RELEASE append"); rerr != nil {
		return appended{}, &brokenBatch{errors.Join(dbErr(err), rerr)}
	}
	if err != nil {
		if keyed(m) && isTempIDConflict(err) {
			// Not expected under the write lock, which the check above
			// holds; should another writer have come first all the same,
			// answer the message it stored.
			if dup, ferr := findTempID(ctx, tx.StmtContext(ctx, s.findTempID), m); ferr == nil && dup != nil {
				return appended{}, dup
			}
		}
		return appended{}, dbErr(err)
	}
	return r, nil
}

// findTempID runs findTempIDSQL for m: a *duplicate, or nil when the
// temp_id is new.
func findTempID(ctx context.Context, st *sql.Stmt, m *chat.Message) (*duplicate, error) {
	var id int64
	err := st.QueryRowContext(ctx, m.LineUserID, *m.OperatorID, m.TempID).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, dbErr(err)
	}
	return &duplicate{id: id}, nil
}

// brokenBatch is a savepoint that could not be rolled back or released:
// what the transaction holds is no longer known, so the whole batch is
// rolled back and every append in it fails.
type brokenBatch struct{ err error }

func (b *brokenBatch) Error() string { return "savepoint: " + b.err.Error() }
func (b *brokenBatch) Unwrap() error { return b.err }

func querySession(ctx context.Context, st *sql.Stmt, lineUserID string) (*openRow, error) {
	rows, err := st.QueryContext(ctx, lineUserID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var open *openRow
	for rows.Next() {
		var o openRow
		if err := rows.Scan(&o.id, &o.status, &o.operatorID); err != nil {
			return nil, err
		}
		open = &o
	}
	return open, rows.Err()
}

// pgAppendMessage is the whole append on Postgres. lck locks the customer
// row, and s's WHERE needs lck before it locks the open session, so the
// locks are taken in CloseSession's order (customer, then session). g is
// what the guard needs; d is the message its operator already stored
// under the temp_id (no operator_id or an empty temp_id finds none); c takes
// the seq only if there is none and the guard passes, so a refused message
// uses none. The last SELECT answers whether or not a message was stored,
// with what the guard saw and the original, so a refusal needs no second
// query.
//
// d reads the statement's snapshot, taken before lck waited: a concurrent
// append of the same temp_id that committed meanwhile is not in it, and
// its row makes the INSERT fail on messages_temp_id_idx instead, which
// undoes the whole statement, seq included (see appendPostgres).
//
// $1 line_user_id, $2 now, $3 guarded, $4 the guard's session (0: any),
// $5 the guard's owner (NULL: any), $6..$16 messageArgs ($11 operator_id,
// $16 temp_id), $17 "the sender is an operator" (the session's first
// response), $18 sent_ip, $19 sent_user_agent.
const pgAppendMessage = `
	WITH lck AS (
		SELECT 1 FROM customers WHERE line_user_id = $1 FOR UPDATE
	), d AS (
		SELECT id FROM messages
		WHERE line_user_id = $1 AND operator_id = $11::bigint AND temp_id = $16 AND temp_id <> ''
	), s AS (
		SELECT id, status, operator_id FROM chat_sessions
		WHERE line_user_id = $1 AND status IN ('WAITING', 'ACTIVE') AND EXISTS (SELECT 1 FROM lck)
		FOR UPDATE
	), g AS (
		SELECT EXISTS (SELECT 1 FROM lck) AS customer,
			(SELECT id FROM s) AS session_id, (SELECT status FROM s) AS status, (SELECT operator_id FROM s) AS operator_id
	), c AS (
		UPDATE customers SET last_seq = last_seq + 1, last_message_at = $2
		WHERE line_user_id = $1 AND NOT EXISTS (SELECT 1 FROM d) AND (SELECT
			NOT $3::boolean OR (g.status = 'ACTIVE' AND ($4::bigint = 0 OR g.session_id = $4::bigint)
				AND ($5::bigint IS NULL OR g.operator_id = $5::bigint))
			FROM g)
		RETURNING last_seq
	), m AS (
		INSERT INTO messages (line_user_id, seq, session_id, direction, message_type, content, payload, sender_role,
			operator_id, operator_name, delivery_status, delivery_error, retry_key, temp_id, created_at, sent_ip, sent_user_agent)
		SELECT $1, c.last_seq, (SELECT session_id FROM g), $6, $7, $8, $9::jsonb, $10, $11::bigint, $12, $13, $14, $15, $16, $2, $18, $19
		FROM c
		RETURNING id, seq, session_id
	), t AS (
		UPDATE chat_sessions
		SET last_activity_at = $2, message_count = message_count + 1,
			first_response_at = CASE WHEN first_response_at IS NULL AND $17::boolean THEN $2 ELSE first_response_at END
		WHERE id = (SELECT session_id FROM m)
	)
	SELECT g.customer, g.session_id, g.status, g.operator_id, m.id, m.seq, (SELECT id FROM d) FROM g LEFT JOIN m ON true`

// appendPostgres runs pgAppendMessage and explains a refusal from what it
// answered.
func (db *DB) appendPostgres(ctx context.Context, m *chat.Message, guard *chat.AppendGuard, now time.Time) (appended, error) {
	var (
		guarded      = guard != nil
		guardSession int64
		guardOwner   *int64
	)
	if guard != nil {
		guardSession, guardOwner = guard.SessionID, guard.Owner
	}
	args := append([]any{m.LineUserID, now, guarded, guardSession, guardOwner}, messageArgs(m)...)
	args = append(args, m.SenderRole == chat.SenderAdmin, m.SentIP, cleanText(m.SentUserAgent, 500))
	var (
		customer bool
		open     openRow
		openID   *int64
		status   *string
		id, seq  *int64
		dupID    *int64
	)
	err := db.stmts.appendMessage.QueryRowContext(ctx, args...).Scan(&customer, &openID, &status, &open.operatorID, &id, &seq, &dupID)
	if err != nil {
		if keyed(m) && isTempIDConflict(err) {
			return appended{}, db.committedTempID(ctx, m, err)
		}
		return appended{}, dbErr(err)
	}
	if dupID != nil {
		return appended{}, &duplicate{id: *dupID}
	}
	if id != nil {
		return appended{id: *id, seq: *seq, sessionID: openID}, nil
	}
	if !customer {
		return appended{}, fmt.Errorf("no customer %s: %w", m.LineUserID, chat.ErrNotFound)
	}
	var seen *openRow
	if openID != nil {
		open.id, open.status = *openID, *status
		seen = &open
	}
	if err := guardError(*guard, seen); err != nil {
		return appended{}, err
	}
	return appended{}, fmt.Errorf("store: append stored nothing, and the guard passed: %w", chat.ErrConflict)
}

// committedTempID answers an append that lost the race for its temp_id to
// one that committed first: a *duplicate with that one's id. conflict is
// the insert's error.
func (db *DB) committedTempID(ctx context.Context, m *chat.Message, conflict error) error {
	var id int64
	err := db.bun.DB.QueryRowContext(ctx, db.sqlText(findTempIDSQL), m.LineUserID, *m.OperatorID, m.TempID).Scan(&id)
	if err != nil {
		return fmt.Errorf("find the message that took temp_id %q: %w (after %w)", m.TempID, dbErr(err), dbErr(conflict))
	}
	return &duplicate{id: id}
}

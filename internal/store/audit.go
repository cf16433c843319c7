package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"livechat/internal/chat"
)

// auditMaxLimit bounds a page of the audit log.
const auditMaxLimit = 200

type auditRow struct {
	ID           int64     `bun:"id"`
	At           time.Time `bun:"at"`
	ActorID      *int64    `bun:"actor_id"`
	Actor        string    `bun:"actor"`
	Action       string    `bun:"action"`
	ResourceType string    `bun:"resource_type"`
	ResourceID   string    `bun:"resource_id"`
	IP           string    `bun:"ip"`
	UserAgent    string    `bun:"user_agent"`
	Details      string    `bun:"details"`
	Count        int       `bun:"count"`
}

// Audit appends a row; a repeatable security event (chat.Aggregated) is
// counted into its source's row of the minute instead.
func (db *DB) Audit(ctx context.Context, e chat.AuditEntry) error { return db.AuditCount(ctx, e, 1) }

// AuditCount is Audit for n occurrences of an aggregated event at once
// (n is 1 for any other).
func (db *DB) AuditCount(ctx context.Context, e chat.AuditEntry, n int) error {
	if n < 1 || !chat.Aggregated(e.Action) {
		n = 1
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	at := dbTime(e.At)
	details := []byte("{}")
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("store: audit %s: details: %w", e.Action, err)
		}
		details = b
	}
	var aggKey *string
	if chat.Aggregated(e.Action) {
		k := e.Action + "|" + e.IP + "|" + at.Truncate(time.Minute).Format(time.RFC3339)
		aggKey = &k
	}
	_, err := db.bun.NewRaw(`
		INSERT INTO audit_log (at, actor_id, actor, action, resource_type, resource_id, ip, user_agent, details, count, agg_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (agg_key) DO UPDATE SET count = audit_log.count + excluded.count`,
		at, e.ActorID, cleanText(e.Actor, 200), e.Action, e.ResourceType, cleanText(e.ResourceID, 200), e.IP,
		cleanText(e.UserAgent, 500), string(details), n, aggKey).Exec(ctx)
	if err != nil {
		return fmt.Errorf("store: audit %s: %w", e.Action, dbErr(err))
	}
	return nil
}

// AuditLog reads the audit log, newest first, from its two sources: the
// rows of audit_log, and the operators' messages, each the row of its
// send (message.send: the message is the resource; where it was sent
// from is kept on it). Each source is read newest first below its
// cursor (audit_log by time then id: an erasure's copies of sends get new
// ids but keep their times), and the two are merged by time, taking from
// the front of each, so that pages never skip nor repeat a row.
func (db *DB) AuditLog(ctx context.Context, q chat.AuditQuery) ([]chat.AuditEntry, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = 50
	case limit > auditMaxLimit:
		limit = auditMaxLimit
	}
	logs, err := db.auditRows(ctx, q, limit)
	if err != nil {
		return nil, err
	}
	var sends []chat.AuditEntry
	if q.Action == "" || q.Action == chat.AuditSend {
		if sends, err = db.sendRows(ctx, q, limit); err != nil {
			return nil, err
		}
	}
	out := make([]chat.AuditEntry, 0, min(limit, len(logs)+len(sends)))
	for len(out) < limit && (len(logs) > 0 || len(sends) > 0) {
		if len(sends) == 0 || (len(logs) > 0 && !logs[0].At.Before(sends[0].At)) {
			out, logs = append(out, logs[0]), logs[1:]
		} else {
			out, sends = append(out, sends[0]), sends[1:]
		}
	}
	return out, nil
}

// auditRows reads audit_log's side of AuditLog.
func (db *DB) auditRows(ctx context.Context, q chat.AuditQuery, limit int) ([]chat.AuditEntry, error) {
	sel := db.read.NewSelect().Table("audit_log").
		Column("id", "at", "actor_id", "actor", "action", "resource_type", "resource_id", "ip", "user_agent", "count", "details").
		OrderExpr("at DESC, id DESC").Limit(int64(limit))
	if q.Cursor.Log > 0 {
		at := dbTime(q.Cursor.LogAt)
		sel = sel.Where("(at < ? OR (at = ? AND id < ?))", at, at, q.Cursor.Log)
	}
	if q.ActorID != nil {
		sel = sel.Where("actor_id = ?", *q.ActorID)
	}
	if q.Action != "" {
		sel = sel.Where("action = ?", q.Action)
	}
	if q.Since != nil {
		sel = sel.Where("at >= ?", dbTime(*q.Since))
	}
	var rows []auditRow
	if err := sel.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("store: audit log: %w", dbErr(err))
	}
	out := make([]chat.AuditEntry, len(rows))
	for i, r := range rows {
		e := chat.AuditEntry{ID: r.ID, At: r.At.UTC(), ActorID: r.ActorID, Actor: r.Actor, Action: r.Action,
			ResourceType: r.ResourceType, ResourceID: r.ResourceID, IP: r.IP, UserAgent: r.UserAgent, Count: r.Count}
		if r.Details != "" && r.Details != "{}" {
			_ = json.Unmarshal([]byte(r.Details), &e.Details)
		}
		out[i] = e
	}
	return out, nil
}

// sendRows reads the sends' side of AuditLog: the operators' messages.
// (No index serves an actor or a time filter here: the messages are read
// newest first.)
func (db *DB) sendRows(ctx context.Context, q chat.AuditQuery, limit int) ([]chat.AuditEntry, error) {
	var rows []struct {
		ID          int64     `bun:"id"`
		CreatedAt   time.Time `bun:"created_at"`
		OperatorID  int64     `bun:"operator_id"`
		Username    string    `bun:"username"`
		LineUserID  string    `bun:"line_user_id"`
		SessionID   *int64    `bun:"session_id"`
		MessageType string    `bun:"message_type"`
		SentIP      string    `bun:"sent_ip"`
		SentUA      string    `bun:"sent_user_agent"`
	}
	sel := db.read.NewSelect().TableExpr("messages AS m").
		ColumnExpr("m.id, m.created_at, m.operator_id, m.line_user_id, m.session_id, m.message_type, m.sent_ip, m.sent_user_agent").
		ColumnExpr("coalesce(o.username, '') AS username").
		Join("LEFT JOIN operators AS o ON o.id = m.operator_id").
		Where("m.sender_role = ?", string(chat.SenderAdmin)).Where("m.operator_id IS NOT NULL").
		OrderExpr("m.id DESC").Limit(int64(limit))
	if q.Cursor.Send > 0 {
		sel = sel.Where("m.id < ?", q.Cursor.Send)
	}
	if q.ActorID != nil {
		sel = sel.Where("m.operator_id = ?", *q.ActorID)
	}
	if q.Since != nil {
		sel = sel.Where("m.created_at >= ?", dbTime(*q.Since))
	}
	if err := sel.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("store: audit log: sends: %w", dbErr(err))
	}
	out := make([]chat.AuditEntry, len(rows))
	for i, r := range rows {
		op := r.OperatorID
		details := map[string]any{"line_user_id": r.LineUserID, "message_type": r.MessageType}
		if r.SessionID != nil {
			details["session_id"] = *r.SessionID
		}
		out[i] = chat.AuditEntry{ID: r.ID, At: r.CreatedAt.UTC(), ActorID: &op, Actor: r.Username, Action: chat.AuditSend,
			ResourceType: "message", ResourceID: strconv.FormatInt(r.ID, 10), IP: r.SentIP, UserAgent: r.SentUA,
			Details: details, Count: 1, FromMessage: true}
	}
	return out, nil
}

// PurgeAudit deletes the rows older than before.
func (db *DB) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.bun.NewDelete().Table("audit_log").Where("at < ?", dbTime(before)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: purge audit: %w", dbErr(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

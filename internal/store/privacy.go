package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

// ExportCustomer reads a customer's data in one read-only transaction, so
// the parts agree. Unknown customer: ErrNotFound.
func (db *DB) ExportCustomer(ctx context.Context, lineUserID string) (chat.CustomerExport, error) {
	out := chat.CustomerExport{LineUserID: lineUserID}
	err := db.read.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		var cust []map[string]any
		if err := tx.NewSelect().Table("customers").Where("line_user_id = ?", lineUserID).Scan(ctx, &cust); err != nil {
			return err
		}
		if len(cust) == 0 {
			return sql.ErrNoRows
		}
		out.Customer = cust[0]
		for _, part := range []struct {
			table, order string
			into         *[]map[string]any
		}{
			{"chat_sessions", "id", &out.Sessions},
			{"messages", "seq", &out.Messages},
			{"csat_responses", "id", &out.CSAT},
		} {
			*part.into = []map[string]any{}
			if err := tx.NewSelect().Table(part.table).Where("line_user_id = ?", lineUserID).Order(part.order).Scan(ctx, part.into); err != nil {
				return err
			}
		}
		tags, err := conversationTags(ctx, tx, []string{lineUserID})
		out.Tags = tags[lineUserID]
		return err
	})
	if err != nil {
		return chat.CustomerExport{}, fmt.Errorf("store: export customer %s: %w", lineUserID, dbErr(err))
	}
	for _, rows := range [][]map[string]any{{out.Customer}, out.Sessions, out.Messages, out.CSAT} {
		for _, r := range rows {
			textBytes(r)
		}
	}
	if out.Tags == nil {
		out.Tags = []chat.Tag{}
	}
	for _, m := range out.Messages { // the operator's, not the customer's: the audit's
		delete(m, "sent_ip")
		delete(m, "sent_user_agent")
	}
	return out, nil
}

// textBytes turns the byte columns a driver hands back (SQLite's text,
// JSON payloads) into strings, which JSON shows as text, not base64.
func textBytes(r map[string]any) {
	for k, v := range r {
		if b, ok := v.([]byte); ok {
			r[k] = string(b)
		}
	}
}

// EraseCustomer deletes everything stored of a customer, in one
// transaction: the ratings, SLA alerts, read markers, messages (with the
// outbox's payloads, which are the messages' own columns), sessions, the
// raw webhook bodies of the inbox and of the rejected events, and the
// profile. A customer with an open session is refused (ErrSessionState):
// close it first. Unknown customer: ErrNotFound.
func (db *DB) EraseCustomer(ctx context.Context, lineUserID string) (chat.Erased, error) {
	erased := chat.Erased{}
	err := db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Table("customers").Where("line_user_id = ?", lineUserID).Count(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return sql.ErrNoRows
		}
		open, err := tx.NewSelect().Table("chat_sessions").Where("line_user_id = ?", lineUserID).
			Where("status IN (?)", bun.In([]string{string(chat.StatusWaiting), string(chat.StatusActive)})).Count(ctx)
		if err != nil {
			return err
		}
		if open > 0 {
			return chat.E(chat.ErrSessionState, "The customer has an open session: close it before erasing")
		}
		// The sends' audit rows are their messages: copy them into
		// audit_log, the customer's id hashed, before the messages go.
		details := "json_object('line_user_id', ?, 'session_id', m.session_id, 'message_type', m.message_type)"
		if db.dialect == Postgres {
			details = "jsonb_build_object('line_user_id', ?::text, 'session_id', m.session_id, 'message_type', m.message_type)"
		}
		res, err := tx.NewRaw(`INSERT INTO audit_log (at, actor_id, actor, action, resource_type, resource_id, ip, user_agent, details)
			SELECT m.created_at, m.operator_id, coalesce(o.username, ''), ?, 'message', CAST(m.id AS TEXT), m.sent_ip, m.sent_user_agent, `+details+`
			FROM messages m LEFT JOIN operators o ON o.id = m.operator_id
			WHERE m.line_user_id = ? AND m.sender_role = ? AND m.operator_id IS NOT NULL
			ORDER BY m.id`, chat.AuditSend, chat.HashedCustomerID(lineUserID), lineUserID, string(chat.SenderAdmin)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("audit_log (sends): %w", err)
		}
		if n, err := res.RowsAffected(); err == nil {
			erased["audit_log (sends kept)"] = n
		}
		for _, del := range []struct{ table, where string }{
			{"csat_responses", "line_user_id = ?"},
			{"sla_alerts", "line_user_id = ?"},
			{"read_markers", "line_user_id = ?"},
			{"unsent_messages", "line_user_id = ?"},
			{"conversation_tags", "line_user_id = ?"},
			{"messages", "line_user_id = ?"},
			{"chat_sessions", "line_user_id = ?"},
			{"line_webhook_events", "line_user_id = ?"},
			// A rejected event's body is all that holds its user id; the id
			// is U and 32 hex digits, nothing LIKE would take as a pattern.
			{"line_webhook_rejects", "body LIKE '%' || ? || '%'"},
			{"customers", "line_user_id = ?"},
		} {
			res, err := tx.NewDelete().Table(del.table).Where(del.where, lineUserID).Exec(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", del.table, err)
			}
			if n, err := res.RowsAffected(); err == nil {
				erased[del.table] = n
			}
		}
		// The audit log keeps its rows, with the id hashed.
		details = "details = replace(details, ?, ?)"
		if db.dialect == Postgres {
			details = "details = replace(details::text, ?, ?)::jsonb"
		}
		hashed := chat.HashedCustomerID(lineUserID)
		res, err = tx.NewRaw(`UPDATE audit_log SET resource_id = replace(resource_id, ?, ?), `+details+`
			WHERE resource_id = ? OR details`+map[bool]string{true: "::text", false: ""}[db.dialect == Postgres]+` LIKE '%' || ? || '%'`,
			lineUserID, hashed, lineUserID, hashed, lineUserID, lineUserID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("audit_log: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil {
			erased["audit_log (hashed)"] = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: erase customer %s: %w", lineUserID, dbErr(err))
	}
	return erased, nil
}

// ExpiredCustomers returns up to limit customers with no open session whose
// last message (or, without one, their creation) is older than before,
// oldest first: what retention purges.
func (db *DB) ExpiredCustomers(ctx context.Context, before time.Time, limit int) ([]string, error) {
	var ids []string
	err := db.read.NewRaw(`
		SELECT c.line_user_id FROM customers AS c
		WHERE coalesce(c.last_message_at, c.created_at) < ?
		  AND NOT EXISTS (SELECT 1 FROM chat_sessions AS s WHERE s.line_user_id = c.line_user_id AND s.status IN ('WAITING', 'ACTIVE'))
		ORDER BY coalesce(c.last_message_at, c.created_at), c.id
		LIMIT ?`, dbTime(before), max(limit, 1)).Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("store: expired customers: %w", dbErr(err))
	}
	return ids, nil
}

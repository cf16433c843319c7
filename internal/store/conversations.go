package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"livechat/internal/chat"
)

// conversationRow is one inbox row: the customer, its chosen session and its
// last message side by side, told apart by column prefix.
type conversationRow struct {
	Customer customerRow `bun:"embed:c_"`
	Session  sessionRow  `bun:"embed:s_"`
	Message  messageRow  `bun:"embed:m_"`
	Unread   int         `bun:"unread"`
	Tags     string      `bun:"tags"` // a JSON array of the customer's tags, by name
}

// tagsColumn is the select expression of a conversation's tags (c is its
// customer), as a JSON array by name, in the inbox's one query.
func (db *DB) tagsColumn() string {
	if db.dialect == Postgres {
		return `(SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name, 'color', t.color) ORDER BY t.name_key, t.id), '[]'::json)
			FROM conversation_tags AS ct JOIN tags AS t ON t.id = ct.tag_id WHERE ct.line_user_id = c.line_user_id)::text`
	}
	return `(SELECT json_group_array(json_object('id', x.id, 'name', x.name, 'color', x.color)) FROM (
			SELECT t.id, t.name, t.color FROM conversation_tags AS ct JOIN tags AS t ON t.id = ct.tag_id
			WHERE ct.line_user_id = c.line_user_id ORDER BY t.name_key, t.id) AS x)`
}

// ListConversations builds the inbox in one query. Each customer is joined
// with its open session, or failing that its latest one; with the message
// whose seq is the customer's last_seq (the latest, see AppendMessage); and
// with the reader's marker for the unread count.
func (db *DB) ListConversations(ctx context.Context, f chat.ConversationFilter) (chat.ConversationPage, error) {
	var where []string
	var args []any
	args = append(args, f.OperatorID)

	switch f.Status {
	case "":
	case string(chat.StatusWaiting), string(chat.StatusActive):
		// The chosen session is the open one whenever there is one.
		where = append(where, "s.status = ?")
		args = append(args, f.Status)
	case string(chat.StatusClosed):
		// Chosen session closed: there is no open one, and the latest is closed.
		where = append(where, "s.status = 'CLOSED'")
	case "BOT":
		where = append(where, "(s.id IS NULL OR s.status = 'CLOSED')")
	default:
		return chat.ConversationPage{}, fmt.Errorf("store: list conversations: status %q: %w", f.Status, chat.ErrInvalid)
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return chat.ConversationPage{}, fmt.Errorf("store: list conversations: %w", err)
		}
		where = append(where, "(coalesce(c.last_message_at, c.created_at) < ? OR (coalesce(c.last_message_at, c.created_at) = ? AND c.id < ?))")
		args = append(args, at, at, id)
	}
	if f.Tag != "" {
		where = append(where, `EXISTS (SELECT 1 FROM conversation_tags AS ct JOIN tags AS t ON t.id = ct.tag_id
			WHERE ct.line_user_id = c.line_user_id AND t.name_key = ?)`)
		args = append(args, TagKey(f.Tag))
	}
	cond := ""
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	limit := clampLimit(f.Limit)
	args = append(args, limit+1)

	query := `
		SELECT ` + db.columns(customerRow{}, "c", "c_") + `,
			` + db.columns(sessionRow{}, "s", "s_") + `,
			` + db.columns(messageRow{}, "m", "m_") + `,
			(SELECT count(*) FROM messages u
			 WHERE u.line_user_id = c.line_user_id AND u.direction = 'INCOMING'
			   AND u.seq > coalesce(rm.last_read_seq, 0)) AS unread,
			` + db.tagsColumn() + ` AS tags
		FROM customers AS c
		LEFT JOIN read_markers AS rm ON rm.operator_id = ? AND rm.line_user_id = c.line_user_id
		LEFT JOIN chat_sessions AS s ON s.id = (
			SELECT s2.id FROM chat_sessions AS s2
			WHERE s2.line_user_id = c.line_user_id
			ORDER BY CASE WHEN s2.status IN ` + openStatuses + ` THEN 0 ELSE 1 END, s2.id DESC
			LIMIT 1)
		LEFT JOIN messages AS m ON m.line_user_id = c.line_user_id AND m.seq = c.last_seq
		` + cond + `
		ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC
		LIMIT ?`

	var rows []conversationRow
	if err := db.read.NewRaw(query, args...).Scan(ctx, &rows); err != nil {
		return chat.ConversationPage{}, fmt.Errorf("store: list conversations: %w", dbErr(err))
	}

	var page chat.ConversationPage
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1].Customer
		at := last.CreatedAt
		if last.LastMessageAt != nil {
			at = *last.LastMessageAt
		}
		page.NextCursor = encodeCursor(at, last.ID)
	}
	page.Items = make([]chat.Conversation, len(rows))
	for i, r := range rows {
		c := chat.Conversation{Customer: r.Customer.customer(), Unread: r.Unread, Tags: []chat.Tag{}}
		if r.Tags != "" {
			if err := json.Unmarshal([]byte(r.Tags), &c.Tags); err != nil {
				return chat.ConversationPage{}, fmt.Errorf("store: list conversations: tags of %s: %w", c.Customer.LineUserID, err)
			}
		}
		if r.Session.ID != 0 {
			s := r.Session.session()
			c.Session = &s
		}
		if r.Message.ID != 0 {
			m := r.Message.message()
			c.LastMessage = &m
		}
		page.Items[i] = c
	}

	return page, nil
}

// A cursor is the last row's sort key, (activity time in µs, customer id),
// in URL-safe base64 so clients treat it as opaque.
func encodeCursor(at time.Time, id int64) string {
	raw := strconv.FormatInt(at.UTC().UnixMicro(), 10) + ":" + strconv.FormatInt(id, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// The range of cursor times.
var (
	minCursorTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxCursorTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

func decodeCursor(s string) (time.Time, int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("cursor %q: %w", s, chat.ErrInvalid)
	}
	us, id, ok := strings.Cut(string(raw), ":")
	if !ok {
		return time.Time{}, 0, fmt.Errorf("cursor %q: %w", s, chat.ErrInvalid)
	}
	micros, err1 := strconv.ParseInt(us, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	// A time outside years 1-9999 is none this server issued, and Postgres
	// would refuse it.
	at := time.UnixMicro(micros).UTC()
	if err1 != nil || err2 != nil || at.Before(minCursorTime) || at.After(maxCursorTime) {
		return time.Time{}, 0, fmt.Errorf("cursor %q: %w", s, chat.ErrInvalid)
	}
	return at, n, nil
}

package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

var _ chat.TagStore = (*DB)(nil)

type tagRow struct {
	bun.BaseModel `bun:"table:tags,alias:t"`

	ID        int64     `bun:"id,pk,autoincrement"`
	Name      string    `bun:"name"`
	NameKey   string    `bun:"name_key"` // TagKey(Name): unique
	Color     string    `bun:"color"`
	CreatedAt time.Time `bun:"created_at"`
}

// TagKey is a tag name folded as the unique index and the inbox filter
// compare it (Unicode case, the same on both databases).
func TagKey(name string) string { return strings.ToLower(name) }

// ListTags is every tag, by name.
func (db *DB) ListTags(ctx context.Context) ([]chat.Tag, error) {
	var rows []tagRow
	if err := db.read.NewSelect().Model(&rows).OrderExpr("name_key, id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("store: list tags: %w", dbErr(err))
	}
	out := make([]chat.Tag, len(rows))
	for i, r := range rows {
		out[i] = chat.Tag{ID: r.ID, Name: r.Name, Color: r.Color}
	}
	return out, nil
}

// CreateTag stores t and sets its ID; a name in use, whatever its case, is
// ErrConflict.
func (db *DB) CreateTag(ctx context.Context, t *chat.Tag, now time.Time) error {
	row := tagRow{Name: t.Name, NameKey: TagKey(t.Name), Color: t.Color, CreatedAt: dbTime(now)}
	if _, err := db.bun.NewInsert().Model(&row).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("store: create tag %q: %w", t.Name, dbErr(err))
	}
	t.ID = row.ID
	return nil
}

// DeleteTag deletes a tag, and takes it off every conversation (ON DELETE
// CASCADE), in one transaction; it returns the customers whose
// conversations had it. ErrNotFound when unknown.
func (db *DB) DeleteTag(ctx context.Context, id int64) ([]string, error) {
	var had []string
	err := db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Table("conversation_tags").Column("line_user_id").Where("tag_id = ?", id).
			Order("line_user_id").Scan(ctx, &had); err != nil {
			return err
		}
		res, err := tx.NewDelete().Table("tags").Where("id = ?", id).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("no tag %d: %w", id, chat.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: delete tag %d: %w", id, dbErr(err))
	}
	return had, nil
}

// SetConversationTags replaces a customer's tags with tagIDs in one
// transaction and returns them by name: ErrNotFound for an unknown
// customer, ErrInvalid (tag_ids) for an unknown tag.
func (db *DB) SetConversationTags(ctx context.Context, lineUserID string, tagIDs []int64, by int64, now time.Time) ([]chat.Tag, error) {
	var tags []chat.Tag
	err := db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		// The customer row locked first (Postgres; SQLite's transaction
		// holds the write lock): two replaces at once apply one after the
		// other, never as their union.
		q := tx.NewSelect().Table("customers").Column("line_user_id").Where("line_user_id = ?", lineUserID)
		if db.dialect == Postgres {
			q = q.For("UPDATE")
		}
		var found []string
		if err := q.Scan(ctx, &found); err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("no customer %s: %w", lineUserID, chat.ErrNotFound)
		}
		if len(tagIDs) > 0 {
			n, err := tx.NewSelect().Table("tags").Where("id IN (?)", bun.In(tagIDs)).Count(ctx)
			if err != nil {
				return err
			}
			if int(n) != len(tagIDs) {
				return &chat.Error{Kind: chat.ErrInvalid, Message: "tag_ids names a tag that does not exist", Field: "tag_ids"}
			}
		}
		if _, err := tx.NewDelete().Table("conversation_tags").Where("line_user_id = ?", lineUserID).Exec(ctx); err != nil {
			return err
		}
		at := dbTime(now)
		for _, id := range tagIDs {
			if _, err := tx.NewRaw(`INSERT INTO conversation_tags (line_user_id, tag_id, added_by, added_at) VALUES (?, ?, ?, ?)`,
				lineUserID, id, by, at).Exec(ctx); err != nil {
				if constraintKind(err) == kindForeignKey { // the tag deleted since the count
					return &chat.Error{Kind: chat.ErrInvalid, Message: "tag_ids names a tag that does not exist", Field: "tag_ids"}
				}
				return err
			}
		}
		m, err := conversationTags(ctx, tx, []string{lineUserID})
		tags = m[lineUserID]
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: set tags of %s: %w", lineUserID, dbErr(err))
	}
	if tags == nil {
		tags = []chat.Tag{}
	}
	return tags, nil
}

// ConversationTags is the tags of each customer of lineUserIDs, by name.
func (db *DB) ConversationTags(ctx context.Context, lineUserIDs []string) (map[string][]chat.Tag, error) {
	m, err := conversationTags(ctx, db.read, lineUserIDs)
	if err != nil {
		return nil, fmt.Errorf("store: conversation tags: %w", dbErr(err))
	}
	return m, nil
}

func conversationTags(ctx context.Context, q bun.IDB, lineUserIDs []string) (map[string][]chat.Tag, error) {
	out := map[string][]chat.Tag{}
	if len(lineUserIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		LineUserID string `bun:"line_user_id"`
		ID         int64  `bun:"id"`
		Name       string `bun:"name"`
		Color      string `bun:"color"`
	}
	err := q.NewSelect().TableExpr("conversation_tags AS ct").
		ColumnExpr("ct.line_user_id, t.id, t.name, t.color").
		Join("JOIN tags AS t ON t.id = ct.tag_id").
		Where("ct.line_user_id IN (?)", bun.In(lineUserIDs)).
		OrderExpr("ct.line_user_id, t.name_key, t.id").
		Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.LineUserID] = append(out[r.LineUserID], chat.Tag{ID: r.ID, Name: r.Name, Color: r.Color})
	}
	return out, nil
}

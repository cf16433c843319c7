package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

type cannedRow struct {
	bun.BaseModel `bun:"table:canned_responses,alias:cr"`

	ID         int64     `bun:"id,pk,autoincrement"`
	Shortcut   string    `bun:"shortcut"`
	Title      string    `bun:"title"`
	Content    string    `bun:"content"`
	Category   string    `bun:"category"`
	UsageCount int64     `bun:"usage_count"`
	IsActive   bool      `bun:"is_active"`
	CreatedBy  *int64    `bun:"created_by"`
	CreatedAt  time.Time `bun:"created_at"`
	UpdatedAt  time.Time `bun:"updated_at"`
}

func (r cannedRow) canned() chat.CannedResponse {
	return chat.CannedResponse{
		ID:         r.ID,
		Shortcut:   r.Shortcut,
		Title:      r.Title,
		Content:    r.Content,
		Category:   r.Category,
		UsageCount: r.UsageCount,
		Active:     r.IsActive,
		CreatedBy:  r.CreatedBy,
		CreatedAt:  r.CreatedAt.UTC(),
		UpdatedAt:  r.UpdatedAt.UTC(),
	}
}

// ListCannedResponses returns the active canned responses, all of them or
// those of one category (exact match), ordered by category, then shortcut
// (bytewise on both databases).
func (db *DB) ListCannedResponses(ctx context.Context, category string) ([]chat.CannedResponse, error) {
	var rows []cannedRow
	q := db.read.NewSelect().Model(&rows).Where("is_active")
	if category != "" {
		q = q.Where("category = ?", category)
	}
	if err := q.Order("category", "shortcut").Scan(ctx); err != nil {
		return nil, fmt.Errorf("store: list canned responses: %w", dbErr(err))
	}
	out := make([]chat.CannedResponse, len(rows))
	for i, r := range rows {
		out[i] = r.canned()
	}
	return out, nil
}

// CreateCannedResponse validates and normalises c (see chat.CannedPatch.Clean),
// inserts it as an active row with no usage, and fills c's ID, normalised
// fields, Active, UsageCount and timestamps. A shortcut already used by an
// active row is ErrConflict; an invalid field is ErrInvalid.
func (db *DB) CreateCannedResponse(ctx context.Context, c *chat.CannedResponse, now time.Time) error {
	p, err := chat.CannedPatch{Shortcut: &c.Shortcut, Title: &c.Title, Content: &c.Content, Category: &c.Category}.Clean()
	if err != nil {
		return fmt.Errorf("store: create canned response %q: %w", c.Shortcut, err)
	}
	now = dbTime(now)
	row := cannedRow{
		Shortcut:  *p.Shortcut,
		Title:     *p.Title,
		Content:   *p.Content,
		Category:  *p.Category,
		IsActive:  true,
		CreatedBy: c.CreatedBy,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if _, err := db.bun.NewInsert().Model(&row).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("store: create canned response %q: %w", row.Shortcut, dbErr(err))
	}
	*c = row.canned()
	return nil
}

// UpdateCannedResponse applies the present fields of p (validated and
// normalised by p.Clean) to an active row and returns it as it now is. An
// unknown or deleted id is ErrNotFound; a shortcut another active row uses
// is ErrConflict; an invalid field is ErrInvalid. An empty patch changes
// nothing, not even updated_at.
func (db *DB) UpdateCannedResponse(ctx context.Context, id int64, p chat.CannedPatch, now time.Time) (chat.CannedResponse, error) {
	p, err := p.Clean()
	if err != nil {
		return chat.CannedResponse{}, fmt.Errorf("store: canned response %d: update: %w", id, err)
	}
	var row cannedRow
	err = db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if !p.Empty() {
			q := tx.NewUpdate().Table("canned_responses").Set("updated_at = ?", dbTime(now))
			for _, f := range []struct {
				col string
				v   *string
			}{{"shortcut", p.Shortcut}, {"title", p.Title}, {"content", p.Content}, {"category", p.Category}} {
				if f.v != nil {
					q = q.Set("? = ?", bun.Ident(f.col), *f.v)
				}
			}
			if err := oneRow(q.Where("id = ?", id).Where("is_active").Exec(ctx)); err != nil {
				return err
			}
		}
		return activeCanned(ctx, tx, id, &row)
	})
	if err != nil {
		return chat.CannedResponse{}, fmt.Errorf("store: canned response %d: update: %w", id, err)
	}
	return row.canned(), nil
}

// DeleteCannedResponse soft-deletes an active row (is_active = false),
// which frees its shortcut. An unknown or already deleted id is ErrNotFound.
func (db *DB) DeleteCannedResponse(ctx context.Context, id int64, now time.Time) error {
	res, err := db.bun.NewUpdate().Table("canned_responses").
		Set("is_active = ?", false).
		Set("updated_at = ?", dbTime(now)).
		Where("id = ?", id).
		Where("is_active").
		Exec(ctx)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("store: canned response %d: delete: %w", id, err)
	}
	return nil
}

// UseCannedResponse counts one use of an active row and returns the row.
// Using is not editing: updated_at stays. An unknown or deleted id is
// ErrNotFound.
func (db *DB) UseCannedResponse(ctx context.Context, id int64) (chat.CannedResponse, error) {
	var row cannedRow
	err := db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Table("canned_responses").
			Set("usage_count = usage_count + 1").
			Where("id = ?", id).
			Where("is_active").
			Exec(ctx)
		if err := oneRow(res, err); err != nil {
			return err
		}
		return activeCanned(ctx, tx, id, &row)
	})
	if err != nil {
		return chat.CannedResponse{}, fmt.Errorf("store: canned response %d: use: %w", id, err)
	}
	return row.canned(), nil
}

// activeCanned reads the active row id into row.
func activeCanned(ctx context.Context, idb bun.IDB, id int64, row *cannedRow) error {
	if err := idb.NewSelect().Model(row).Where("id = ?", id).Where("is_active").Scan(ctx); err != nil {
		return dbErr(err)
	}
	return nil
}

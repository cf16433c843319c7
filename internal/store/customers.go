package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

type customerRow struct {
	bun.BaseModel `bun:"table:customers,alias:c"`

	ID            int64      `bun:"id,pk,autoincrement"`
	LineUserID    string     `bun:"line_user_id"`
	DisplayName   string     `bun:"display_name"`
	PictureURL    string     `bun:"picture_url"`
	ChatMode      string     `bun:"chat_mode"`
	FriendStatus  string     `bun:"friend_status"`
	LastSeq       int64      `bun:"last_seq"`
	LastMessageAt *time.Time `bun:"last_message_at"`
	CreatedAt     time.Time  `bun:"created_at"`
	UpdatedAt     time.Time  `bun:"updated_at"`
}

func (r customerRow) customer() chat.Customer {
	return chat.Customer{
		ID:            r.ID,
		LineUserID:    r.LineUserID,
		DisplayName:   r.DisplayName,
		PictureURL:    r.PictureURL,
		ChatMode:      chat.ChatMode(r.ChatMode),
		FriendStatus:  r.FriendStatus,
		LastSeq:       r.LastSeq,
		LastMessageAt: utcPtr(r.LastMessageAt),
		CreatedAt:     r.CreatedAt.UTC(),
		UpdatedAt:     r.UpdatedAt.UTC(),
	}
}

// UpsertCustomer creates the customer or refreshes its non-empty profile
// fields. Chat mode and seq are left alone on refresh: sessions and messages
// own them.
func (db *DB) UpsertCustomer(ctx context.Context, c chat.Customer) (chat.Customer, error) {
	if !chat.ValidLineUserID(c.LineUserID) {
		return chat.Customer{}, fmt.Errorf("store: upsert customer %q: malformed LINE user id: %w", c.LineUserID, chat.ErrInvalid)
	}
	mode := c.ChatMode
	if mode == "" {
		mode = chat.ModeBot
	}
	friend := c.FriendStatus
	if friend == "" {
		friend = "ACTIVE"
	}
	now := dbNow()
	var row customerRow
	err := db.bun.NewRaw(`
		INSERT INTO customers (line_user_id, display_name, picture_url, chat_mode, friend_status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (line_user_id) DO UPDATE SET
			display_name  = CASE WHEN ? <> '' THEN excluded.display_name ELSE customers.display_name END,
			picture_url   = CASE WHEN ? <> '' THEN excluded.picture_url ELSE customers.picture_url END,
			friend_status = CASE WHEN ? <> '' THEN excluded.friend_status ELSE customers.friend_status END,
			updated_at    = excluded.updated_at
		RETURNING `+db.columns(customerRow{}, "", ""),
		c.LineUserID, c.DisplayName, c.PictureURL, string(mode), friend, now, now,
		c.DisplayName, c.PictureURL, c.FriendStatus,
	).Scan(ctx, &row)
	if err != nil {
		return chat.Customer{}, fmt.Errorf("store: upsert customer %s: %w", c.LineUserID, dbErr(err))
	}
	return row.customer(), nil
}

// Customer returns the customer with that LINE user id.
func (db *DB) Customer(ctx context.Context, lineUserID string) (chat.Customer, error) {
	var row customerRow
	if err := db.read.NewSelect().Model(&row).Where("line_user_id = ?", lineUserID).Scan(ctx); err != nil {
		return chat.Customer{}, fmt.Errorf("store: customer %s: %w", lineUserID, dbErr(err))
	}
	return row.customer(), nil
}

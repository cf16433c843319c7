package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

type operatorRow struct {
	bun.BaseModel `bun:"table:operators,alias:o"`

	ID           int64     `bun:"id,pk,autoincrement"`
	Username     string    `bun:"username"`
	DisplayName  string    `bun:"display_name"`
	Role         string    `bun:"role"`
	PasswordHash string    `bun:"password_hash"`
	Active       bool      `bun:"active"`
	CreatedAt    time.Time `bun:"created_at"`
	UpdatedAt    time.Time `bun:"updated_at"`
}

func (r operatorRow) operator() chat.Operator {
	return chat.Operator{
		ID:           r.ID,
		Username:     r.Username,
		DisplayName:  r.DisplayName,
		Role:         chat.Role(r.Role),
		PasswordHash: r.PasswordHash,
		Active:       r.Active,
		CreatedAt:    r.CreatedAt.UTC(),
		UpdatedAt:    r.UpdatedAt.UTC(),
	}
}

// CreateOperator inserts o as given (including Active) and fills ID and the
// timestamps.
func (db *DB) CreateOperator(ctx context.Context, o *chat.Operator) error {
	if _, err := chat.ParseRole(string(o.Role)); err != nil {
		return fmt.Errorf("store: create operator: %w", err)
	}
	if o.Username == "" {
		return fmt.Errorf("store: create operator: empty username: %w", chat.ErrInvalid)
	}
	now := dbNow()
	row := operatorRow{
		Username:     o.Username,
		DisplayName:  o.DisplayName,
		Role:         string(o.Role),
		PasswordHash: o.PasswordHash,
		Active:       o.Active,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if _, err := db.bun.NewInsert().Model(&row).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("store: create operator: %w", dbErr(err)) // no username: errors reach logs
	}
	o.ID, o.CreatedAt, o.UpdatedAt = row.ID, now, now
	return nil
}

// Operator returns the operator with id.
func (db *DB) Operator(ctx context.Context, id int64) (chat.Operator, error) {
	var row operatorRow
	if err := db.read.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return chat.Operator{}, fmt.Errorf("store: operator %d: %w", id, dbErr(err))
	}
	return row.operator(), nil
}

// OperatorByUsername returns the operator with that exact username.
func (db *DB) OperatorByUsername(ctx context.Context, username string) (chat.Operator, error) {
	var row operatorRow
	if err := db.read.NewSelect().Model(&row).Where("username = ?", username).Scan(ctx); err != nil {
		// No username in the error: it reaches logs, and people type passwords there.
		return chat.Operator{}, fmt.Errorf("store: operator by username: %w", dbErr(err))
	}
	return row.operator(), nil
}

// ListOperators returns every operator ordered by id.
func (db *DB) ListOperators(ctx context.Context) ([]chat.Operator, error) {
	var rows []operatorRow
	if err := db.read.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("store: list operators: %w", dbErr(err))
	}
	ops := make([]chat.Operator, len(rows))
	for i, r := range rows {
		ops[i] = r.operator()
	}
	return ops, nil
}

// SetOperatorActive enables or disables an operator.
func (db *DB) SetOperatorActive(ctx context.Context, id int64, active bool) error {
	return db.updateOperator(ctx, "set active", id, "active", active)
}

// SetOperatorRole changes an operator's role.
func (db *DB) SetOperatorRole(ctx context.Context, id int64, role chat.Role) error {
	if _, err := chat.ParseRole(string(role)); err != nil {
		return fmt.Errorf("store: operator %d: set role: %w", id, err)
	}
	return db.updateOperator(ctx, "set role", id, "role", string(role))
}

// SetOperatorPassword stores a new password hash.
func (db *DB) SetOperatorPassword(ctx context.Context, id int64, hash string) error {
	return db.updateOperator(ctx, "set password", id, "password_hash", hash)
}

func (db *DB) updateOperator(ctx context.Context, what string, id int64, column string, value any) error {
	res, err := db.bun.NewUpdate().Table("operators").
		Set("? = ?", bun.Ident(column), value).
		Set("updated_at = ?", dbNow()).
		Where("id = ?", id).
		Exec(ctx)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("store: operator %d: %s: %w", id, what, err)
	}
	return nil
}

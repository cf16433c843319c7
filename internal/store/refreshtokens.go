package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

type refreshTokenRow struct {
	bun.BaseModel `bun:"table:refresh_tokens,alias:rt"`

	ID         int64      `bun:"id,pk,autoincrement"`
	OperatorID int64      `bun:"operator_id"`
	TokenHash  string     `bun:"token_hash"`
	ExpiresAt  time.Time  `bun:"expires_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
	CreatedAt  time.Time  `bun:"created_at"`
}

func (r refreshTokenRow) token() chat.RefreshToken {
	return chat.RefreshToken{
		ID:         r.ID,
		OperatorID: r.OperatorID,
		TokenHash:  r.TokenHash,
		ExpiresAt:  r.ExpiresAt.UTC(),
		RevokedAt:  utcPtr(r.RevokedAt),
		CreatedAt:  r.CreatedAt.UTC(),
	}
}

// CreateRefreshToken stores t and fills its ID (and CreatedAt if zero). The
// times it stores are normalised the same way in t.
func (db *DB) CreateRefreshToken(ctx context.Context, t *chat.RefreshToken) error {
	if t.TokenHash == "" {
		return fmt.Errorf("store: create refresh token: empty hash: %w", chat.ErrInvalid)
	}
	created := dbNow()
	if !t.CreatedAt.IsZero() {
		created = dbTime(t.CreatedAt)
	}
	row := refreshTokenRow{
		OperatorID: t.OperatorID,
		TokenHash:  t.TokenHash,
		ExpiresAt:  dbTime(t.ExpiresAt),
		RevokedAt:  nil,
		CreatedAt:  created,
	}
	if t.RevokedAt != nil {
		r := dbTime(*t.RevokedAt)
		row.RevokedAt = &r
	}
	if _, err := db.bun.NewInsert().Model(&row).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("store: create refresh token for operator %d: %w", t.OperatorID, dbErr(err))
	}
	*t = row.token()
	return nil
}

// RefreshTokenByHash returns the token with that hash, revoked or not.
func (db *DB) RefreshTokenByHash(ctx context.Context, hash string) (chat.RefreshToken, error) {
	var row refreshTokenRow
	if err := db.read.NewSelect().Model(&row).Where("token_hash = ?", hash).Scan(ctx); err != nil {
		return chat.RefreshToken{}, fmt.Errorf("store: refresh token: %w", dbErr(err))
	}
	return row.token(), nil
}

// RevokeRefreshToken revokes a live token; a conditional update, so a token
// can be revoked (and thus rotated) only once.
func (db *DB) RevokeRefreshToken(ctx context.Context, hash string, now time.Time) error {
	res, err := db.bun.NewUpdate().Table("refresh_tokens").
		Set("revoked_at = ?", dbTime(now)).
		Where("token_hash = ?", hash).
		Where("revoked_at IS NULL").
		Exec(ctx)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("store: revoke refresh token: %w", err)
	}
	return nil
}

// RevokeOperatorRefreshTokens revokes every live token of an operator in one
// update; tokens revoked earlier keep their revoked_at.
func (db *DB) RevokeOperatorRefreshTokens(ctx context.Context, operatorID int64, now time.Time) (int, error) {
	res, err := db.bun.NewUpdate().Table("refresh_tokens").
		Set("revoked_at = ?", dbTime(now)).
		Where("operator_id = ?", operatorID).
		Where("revoked_at IS NULL").
		Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: revoke refresh tokens of operator %d: %w", operatorID, dbErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: revoke refresh tokens of operator %d: %w", operatorID, err)
	}
	return int(n), nil
}

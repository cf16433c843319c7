package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestRefreshTokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)

		tok := chat.RefreshToken{OperatorID: op.ID, TokenHash: "hash-1", ExpiresAt: at(30 * 24 * time.Hour)}
		if err := db.CreateRefreshToken(ctx, &tok); err != nil {
			t.Fatal(err)
		}
		if tok.ID == 0 || tok.CreatedAt.IsZero() || tok.RevokedAt != nil {
			t.Fatalf("created token = %+v", tok)
		}
		eqTime(t, "ExpiresAt", tok.ExpiresAt, at(30*24*time.Hour))
		got, err := db.RefreshTokenByHash(ctx, "hash-1")
		if err != nil || !reflect.DeepEqual(got, tok) {
			t.Fatalf("RefreshTokenByHash = %+v, %v; want %+v", got, err, tok)
		}

		creates := []struct {
			name string
			tok  chat.RefreshToken
			want error
		}{
			{"duplicate hash", chat.RefreshToken{OperatorID: op.ID, TokenHash: "hash-1", ExpiresAt: at(time.Hour)}, chat.ErrConflict},
			{"unknown operator", chat.RefreshToken{OperatorID: 1 << 40, TokenHash: "hash-2", ExpiresAt: at(time.Hour)}, chat.ErrNotFound},
			{"empty hash", chat.RefreshToken{OperatorID: op.ID, ExpiresAt: at(time.Hour)}, chat.ErrInvalid},
			{"explicit created_at", chat.RefreshToken{OperatorID: op.ID, TokenHash: "hash-3", ExpiresAt: at(time.Hour), CreatedAt: at(0)}, nil},
		}
		for _, tt := range creates {
			tok := tt.tok
			wantErr(t, tt.name, db.CreateRefreshToken(ctx, &tok), tt.want)
			if tt.want == nil {
				eqTime(t, tt.name+" CreatedAt", tok.CreatedAt, at(0))
			}
		}

		revokes := []struct {
			name string
			hash string
			want error
		}{
			{"live token", "hash-1", nil},
			{"already revoked", "hash-1", chat.ErrNotFound},
			{"unknown", "nope", chat.ErrNotFound},
		}
		for _, tt := range revokes {
			wantErr(t, "revoke "+tt.name, db.RevokeRefreshToken(ctx, tt.hash, at(time.Hour)), tt.want)
		}
		got, _ = db.RefreshTokenByHash(ctx, "hash-1")
		eqTimePtr(t, "RevokedAt", got.RevokedAt, at(time.Hour))

		_, err = db.RefreshTokenByHash(ctx, "nope")
		wantErr(t, "RefreshTokenByHash(unknown)", err, chat.ErrNotFound)
	})
}

// Rotation relies on revoke being once-only: of concurrent revokers exactly
// one succeeds.
func TestRevokeRefreshTokenConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		tok := chat.RefreshToken{OperatorID: op.ID, TokenHash: "h", ExpiresAt: at(time.Hour)}
		if err := db.CreateRefreshToken(t.Context(), &tok); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 20)
		parallel(len(errs), func(i int) { errs[i] = db.RevokeRefreshToken(t.Context(), "h", at(0)) })
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, chat.ErrNotFound):
				t.Errorf("revoke: %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d revocations succeeded, want 1", ok)
		}
	})
}

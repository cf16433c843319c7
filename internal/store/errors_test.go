package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// Values Postgres cannot store are bad input (a 400), never an internal
// error: the data exceptions only input causes map to chat.ErrInvalid. (The
// checks at the door keep such values out; this is the safety net. SQLite
// stores any value, so the test is Postgres only.)
func TestDataExceptionsAreInvalidInput(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.Postgres)
	for code, query := range map[string]string{
		"22021": `SELECT convert_from('\xff'::bytea, 'UTF8')`,
		"22P05": `SELECT ('{"a":"\u0000"}'::jsonb)->>'a'`,
		"22008": `SELECT '294277-01-01'::timestamptz`,
		"22009": `SELECT '-1199-02-15 14:13:20+00:00'::timestamptz`,
		"22003": `SELECT 2147483648::int4`,
		"22007": `SELECT 'nope'::timestamptz`,
	} {
		_, err := db.Bun().ExecContext(t.Context(), query)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != code {
			t.Fatalf("%s: %v, want SQLSTATE %s", query, err, code)
		}
		if mapped := store.DBErr(err); !errors.Is(mapped, chat.ErrInvalid) {
			t.Errorf("SQLSTATE %s maps to %v, want chat.ErrInvalid", code, mapped)
		}
	}
}

// Store errors reach the logs when a request fails: they name no username.
func TestErrorsNameNoUsername(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // every query fails
		_, err1 := db.OperatorByUsername(ctx, "alice")
		err2 := db.CreateOperator(ctx, &chat.Operator{Username: "alice", DisplayName: "A", Role: chat.RoleAgent, PasswordHash: "x", Active: true})
		for _, err := range []error{err1, err2} {
			if err == nil || strings.Contains(err.Error(), "alice") {
				t.Errorf("error %v: want one that does not name the username", err)
			}
		}
	})
}

// Package storetest runs tests against every database the store supports:
// SQLite always, Postgres when LIVECHAT_TEST_POSTGRES_DSN is set. Each DB is
// fresh (a temp dir, or a schema of its own dropped afterwards), so tests and
// packages can run in parallel against one Postgres server.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"livechat/internal/chat"
	"livechat/internal/store"
)

// EnvPostgresDSN names the variable holding the Postgres server to test on,
// e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgresDSN = "LIVECHAT_TEST_POSTGRES_DSN"

// Dialects are the subtest names Each runs, in order.
var Dialects = []string{store.SQLite, store.Postgres}

// Each runs fn as subtest "sqlite" and "postgres", each on a fresh DB. The
// postgres subtest skips when EnvPostgresDSN is unset and fails when the
// server is unreachable.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a fresh, migrated DB of the given dialect, closed (and on
// Postgres dropped) when t ends.
func Open(t testing.TB, dialect string) *store.DB {
	t.Helper()
	ctx := context.Background()
	var cfg store.Config
	switch dialect {
	case store.SQLite:
		cfg.DataDir = t.TempDir()
	case store.Postgres:
		cfg.URL = postgresSchema(t)
	default:
		t.Fatalf("storetest: unknown dialect %q", dialect)
	}
	db, err := store.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("storetest: open %s: %v", dialect, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("storetest: close %s: %v", dialect, err)
		}
	})
	return db
}

// PostgresURL creates a schema of the test's own on EnvPostgresDSN's server
// and returns a URL whose search_path selects it, for processes the test
// starts (servers, CLI calls); the schema is dropped when t ends. It skips
// when EnvPostgresDSN is unset and fails when the server is unreachable.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return postgresSchema(t)
}

// postgresSchema creates a schema with a random name and returns a URL whose
// search_path selects it. The schema is dropped in cleanup, after the store
// (registered later, so cleaned up earlier) has closed.
func postgresSchema(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgresDSN)
	if dsn == "" {
		t.Skip(EnvPostgresDSN + " not set: skipping Postgres")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("storetest: parse %s: %v", EnvPostgresDSN, err)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("storetest: open postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		t.Fatalf("storetest: postgres at %s unreachable: %v", u.Redacted(), err)
	}
	schema := "lc_test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("storetest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Operator creates an active operator with display name = username.
func Operator(t testing.TB, db *store.DB, username string, role chat.Role) chat.Operator {
	t.Helper()
	o := chat.Operator{
		Username:     username,
		DisplayName:  username,
		Role:         role,
		PasswordHash: "$2a$10$storetest",
		Active:       true,
	}
	if err := db.CreateOperator(context.Background(), &o); err != nil {
		t.Fatalf("storetest: create operator %q: %v", username, err)
	}
	return o
}

// Customer creates a customer with a random valid LINE user id.
func Customer(t testing.TB, db *store.DB) chat.Customer {
	t.Helper()
	c, err := db.UpsertCustomer(context.Background(), chat.Customer{
		LineUserID:  LineUserID(),
		DisplayName: "Customer",
	})
	if err != nil {
		t.Fatalf("storetest: create customer: %v", err)
	}
	return c
}

// LineUserID returns a random id in the LINE format: U and 32 lowercase hex.
func LineUserID() string { return "U" + randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

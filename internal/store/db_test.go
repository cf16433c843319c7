package store_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestOpenRejectsUnknownSchemes(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"mysql://u:secret@h/db", "sqlite:///tmp/x.db", "file:x.db", "postgres:/x"} {
		t.Run(url, func(t *testing.T) {
			db, err := store.Open(t.Context(), store.Config{URL: url, DataDir: t.TempDir()}, nil)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), "postgres://") || strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q should name the supported schemes and hide the password", err)
			}
		})
	}
}

func TestOpenUnreachablePostgres(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback refuses at once.
	db, err := store.Open(t.Context(), store.Config{URL: "postgres://u@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}, slog.New(slog.DiscardHandler))
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded")
	}
}

func TestOpenSQLiteCreatesDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	db, err := store.Open(t.Context(), store.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.Customer(t, db)
	if got := db.Dialect(); got != store.SQLite {
		t.Errorf("Dialect = %q", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode = %v, want 0700", perm)
	}
	if _, err := os.Stat(filepath.Join(dir, "livechat.db")); err != nil {
		t.Fatal(err)
	}

	// Reopening keeps the data and re-runs the (already applied) migrations.
	db, err = store.Open(t.Context(), store.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Customer(t.Context(), c.LineUserID); err != nil {
		t.Fatalf("customer after reopen: %v", err)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		if err := db.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if db.Bun() == nil {
			t.Fatal("Bun() is nil")
		}
		if got := db.Dialect(); got != t.Name()[strings.LastIndex(t.Name(), "/")+1:] {
			t.Errorf("Dialect = %q", got)
		}
		// Concurrent runs must neither fail nor apply anything twice.
		errs := make([]error, 4)
		parallel(len(errs), func(i int) { errs[i] = db.Migrate(ctx) })
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var versions []int
		if err := db.Bun().NewRaw("SELECT version FROM schema_migrations ORDER BY version").Scan(ctx, &versions); err != nil {
			t.Fatal(err)
		}
		if len(versions) == 0 || versions[0] != 1 {
			t.Fatalf("schema_migrations = %v", versions)
		}
		for i := 1; i < len(versions); i++ {
			if versions[i] == versions[i-1] {
				t.Fatalf("schema_migrations has duplicates: %v", versions)
			}
		}
	})
}

// Times go in with nanoseconds and a zone, come back as UTC microseconds, and
// compare and sort in SQL as instants, also across a change of second and
// between values with different numbers of fractional digits.
func TestTimesRoundTripAndOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		sec := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
		times := []time.Time{ // insertion order, deliberately not sorted
			sec.Add(500 * time.Millisecond),
			sec,
			sec.Add(450 * time.Millisecond),
			sec.Add(time.Microsecond),
			sec.Add(time.Second),
			sec.Add(999999 * time.Microsecond),
			sec.Add(-time.Microsecond).In(time.FixedZone("X", -5*3600)),
			sec.Add(100*time.Millisecond + 789*time.Nanosecond),
		}
		c := storetest.Customer(t, db)
		ids := map[int64]time.Time{}
		for i, tm := range times {
			m := mustAppend(t, db, incoming(c.LineUserID, "m"), tm)
			eqTime(t, "returned CreatedAt", m.CreatedAt, tm)
			got, err := db.Message(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			eqTime(t, "read CreatedAt", got.CreatedAt, tm)
			ids[m.ID] = times[i]
		}

		var ordered []struct {
			ID        int64     `bun:"id"`
			CreatedAt time.Time `bun:"created_at"`
		}
		if err := db.Bun().NewRaw("SELECT id, created_at FROM messages WHERE created_at > ? ORDER BY created_at",
			sec).Scan(ctx, &ordered); err != nil {
			t.Fatal(err)
		}
		var want []time.Time
		for _, tm := range times {
			if stored(tm).After(sec) {
				want = append(want, stored(tm))
			}
		}
		slices.SortFunc(want, time.Time.Compare)
		if len(ordered) != len(want) {
			t.Fatalf("got %d rows after %v, want %d", len(ordered), sec, len(want))
		}
		for i, row := range ordered {
			if !row.CreatedAt.Equal(want[i]) {
				t.Errorf("ORDER BY created_at [%d] = %v, want %v", i, row.CreatedAt, want[i])
			}
			if !row.CreatedAt.Equal(stored(ids[row.ID])) {
				t.Errorf("row %d: created_at %v, want %v", row.ID, row.CreatedAt, stored(ids[row.ID]))
			}
		}

		var n int
		if err := db.Bun().NewRaw("SELECT count(*) FROM messages WHERE created_at = ?", sec).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("equality on a whole second matched %d rows, want 1", n)
		}
	})
}

func TestStoreSatisfiesInterface(t *testing.T) {
	var _ chat.Store = (*store.DB)(nil)
}

// Read-then-write transactions (as later packages may write through Bun())
// must queue on SQLite rather than fail with SQLITE_BUSY when upgrading a
// read snapshot: the DSN makes every transaction BEGIN IMMEDIATE.
func TestSQLiteReadThenWriteTransactions(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	c := storetest.Customer(t, db)
	const rounds, n = 3, 50
	for range rounds {
		errs := make([]error, n)
		parallel(n, func(i int) {
			errs[i] = db.Bun().RunInTx(t.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
				var seq int64
				if err := tx.NewRaw("SELECT last_seq FROM customers WHERE line_user_id = ?", c.LineUserID).Scan(ctx, &seq); err != nil {
					return err
				}
				_, err := tx.NewRaw("UPDATE customers SET last_seq = ? WHERE line_user_id = ?", seq+1, c.LineUserID).Exec(ctx)
				return err
			})
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("tx %d: %v", i, err)
			}
		}
	}
	got, err := db.Customer(t.Context(), c.LineUserID)
	if err != nil || got.LastSeq != rounds*n {
		t.Fatalf("last_seq = %d, %v; want %d (no lost updates)", got.LastSeq, err, rounds*n)
	}
}

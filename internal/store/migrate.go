package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Migrations are plain SQL per dialect, named NNNN_description.sql. A new
// schema change adds a file to both directories with the same version.
//
//go:embed migrations
var migrationFiles embed.FS

// migrateLockKey is the pg_advisory_xact_lock key shared by every process
// migrating this schema ("livechat" in ASCII).
const migrateLockKey = 0x6c69766563686174

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var list []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must start with a positive version", name)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", name, err)
		}
		list = append(list, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].version < list[j].version })
	for i := 1; i < len(list); i++ {
		if list[i].version == list[i-1].version {
			return nil, fmt.Errorf("store: migrations %s and %s share a version", list[i-1].name, list[i].name)
		}
	}
	return list, nil
}

// Migrate applies pending migrations, each in its own transaction. It is
// idempotent and safe to run from several processes at once: Postgres
// serialises on an advisory lock, SQLite on its immediate write lock.
func (db *DB) Migrate(ctx context.Context) error {
	list, err := loadMigrations(db.dialect)
	if err != nil {
		return err
	}
	for _, m := range list {
		applied, err := db.applyMigration(ctx, m)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if applied {
			db.log.Info("store: applied migration", "name", m.name, "dialect", db.dialect)
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, m migration) (applied bool, err error) {
	err = db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if db.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(migrateLockKey)); err != nil {
				return err
			}
		}
		// Created under the lock: concurrent CREATE TABLE IF NOT EXISTS races on Postgres.
		ts := "TIMESTAMP"
		if db.dialect == Postgres {
			ts = "TIMESTAMPTZ"
		}
		if _, err := tx.Tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			applied_at `+ts+` NOT NULL)`); err != nil {
			return err
		}
		var n int
		if err := tx.NewRaw("SELECT count(*) FROM schema_migrations WHERE version = ?", m.version).Scan(ctx, &n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		// The embedded *sql.Tx runs the file verbatim: bun would treat '?' as a placeholder.
		if _, err := tx.Tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
			m.version, time.Now().UTC()); err != nil {
			return err
		}
		applied = true
		return nil
	})
	return applied, err
}

// Package store implements chat.Store on bun, over SQLite (the default,
// pure Go) or Postgres.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"livechat/internal/chat"
)

// Dialect names returned by DB.Dialect.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Config selects the database. An empty URL means SQLite in DataDir.
type Config struct {
	URL     string
	DataDir string
}

// DB is the bun-backed chat.Store.
//
// On SQLite, which has one writer at a time, bun (every write) runs on a
// pool of one connection, so writers queue in Go instead of sleeping on
// SQLITE_BUSY, and read (the read-only methods) on a pool of its own that
// WAL lets run beside the writer. On Postgres both are the same pool.
// Operator messages, the hot path, go through writer (group commit) on
// SQLite and one prepared statement on Postgres (append.go).
type DB struct {
	bun     *bun.DB
	read    *bun.DB
	dialect string
	log     *slog.Logger
	stmts   *statements
	writer  *groupWriter // SQLite only
}

var _ chat.Store = (*DB)(nil)

// sqliteParams: WAL lets readers run beside the writer; immediate write
// transactions take the write lock up front, so read-then-write transactions
// wait on busy_timeout instead of failing with SQLITE_BUSY on upgrade.
const sqliteParams = "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
	"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// Open connects, pings and migrates.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		db  *DB
		err error
	)
	switch {
	case cfg.URL == "":
		db, err = openSQLite(cfg.DataDir, log)
	case strings.HasPrefix(cfg.URL, "postgres://"), strings.HasPrefix(cfg.URL, "postgresql://"):
		db, err = openPostgres(cfg.URL, log)
	default:
		return nil, fmt.Errorf("store: unsupported database URL scheme in %q: use postgres:// or postgresql://, or leave it empty for SQLite", redact(cfg.URL))
	}
	if err != nil {
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(dir string, log *slog.Logger) (*DB, error) {
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	path := filepath.Join(dir, "livechat.db")
	write, err := sql.Open("sqlite", "file:"+path+sqliteParams)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	// One writer connection: SQLite serialises writers anyway.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", "file:"+path+sqliteParams+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	read.SetMaxOpenConns(4)
	read.SetMaxIdleConns(4)
	log.Info("store: using sqlite", "path", path)
	return &DB{bun: bun.NewDB(write, sqlitedialect.New()), read: bun.NewDB(read, sqlitedialect.New()), dialect: SQLite, log: log}, nil
}

func openPostgres(url string, log *slog.Logger) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse postgres URL: %w", err)
	}
	// bun interpolates arguments itself, so every query text is distinct:
	// caching prepared statements per text would only fill the cache.
	if !strings.Contains(url, "default_query_exec_mode=") {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	sqldb := stdlib.OpenDB(*cfg)
	// Every operator message is one statement (append.go): the pool keeps
	// enough connections, idle ones included, for the senders of a busy
	// instance without reconnecting.
	sqldb.SetMaxOpenConns(32)
	sqldb.SetMaxIdleConns(16)
	log.Info("store: using postgres", "host", cfg.Host, "database", cfg.Database)
	b := bun.NewDB(sqldb, pgdialect.New())
	return &DB{bun: b, read: b, dialect: Postgres, log: log}, nil
}

// redact hides a password in a URL-looking string for error messages.
func redact(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	return s[:scheme+3] + "…" + s[at:]
}

// Close stops the group writer and closes the connection pools.
func (db *DB) Close() error {
	if db.writer != nil {
		db.writer.stop()
	}
	if db.stmts != nil {
		db.stmts.close()
	}
	err := db.bun.Close()
	if db.read != db.bun {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.bun.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", db.dialect, err)
	}
	return nil
}

// AddQueryHook adds h to every connection pool (tests count queries).
func (db *DB) AddQueryHook(h bun.QueryHook) {
	db.bun.AddQueryHook(h)
	if db.read != db.bun {
		db.read.AddQueryHook(h)
	}
}

// Dialect is "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Bun exposes the handle for packages that need their own queries.
func (db *DB) Bun() *bun.DB { return db.bun }

// inTx runs fn in a transaction (BEGIN IMMEDIATE on SQLite).
func (db *DB) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return db.bun.RunInTx(ctx, nil, fn)
}

// dbNow is the store's clock for methods that take no now.
func dbNow() time.Time { return dbTime(time.Now()) }

// dbTime is t as stored: UTC with microsecond precision (both databases keep
// microseconds), so a value handed back to the caller equals the one read later.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// timeParam is a time placeholder where the type cannot be inferred (a
// CASE branch): bun inlines times as text, which Postgres would keep as
// text; SQLite stores times as text anyway.
func (db *DB) timeParam() string {
	if db.dialect == Postgres {
		return "CAST(? AS TIMESTAMPTZ)"
	}
	return "?"
}

// utcPtr normalises a nullable time read from the driver.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// oneRow turns an update result into nil, ErrNotFound (no row matched) or a
// mapped driver error.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return dbErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return chat.ErrNotFound
	}
	return nil
}

// columns lists model's columns for raw SQL, as "alias.col AS prefixcol"
// (alias and prefix optional). Never "*": a column added by a later migration
// would make bun refuse to scan the row.
func (db *DB) columns(model any, alias, prefix string) string {
	table := db.bun.Table(reflect.TypeOf(model))
	cols := make([]string, len(table.Fields))
	for i, f := range table.Fields {
		col := f.Name
		if alias != "" {
			col = alias + "." + col
		}
		if prefix != "" {
			col += " AS " + prefix + f.Name
		}
		cols[i] = col
	}
	return strings.Join(cols, ", ")
}

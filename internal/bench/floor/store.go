package floor

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the driver livechat uses
)

// Store is the store floor: one INSERT per message in its own transaction,
// on one connection, with the pragmas livechat's SQLite runs with (WAL,
// synchronous=NORMAL) and a statement prepared once.
type Store struct {
	db     *sql.DB
	insert *sql.Stmt
}

const schema = `CREATE TABLE IF NOT EXISTS messages (
	id         INTEGER PRIMARY KEY,
	room       TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	temp_id    TEXT    NOT NULL,
	content    TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_room_seq ON messages (room, seq)`

// OpenStore opens (creating) dir/floor.db.
func OpenStore(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("floor: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "floor.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("floor: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer, as SQLite has
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("floor: create schema in %s: %w", path, err)
	}
	insert, err := db.PrepareContext(ctx, `INSERT INTO messages (room, seq, temp_id, content, created_at) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("floor: prepare insert: %w", err)
	}
	return &Store{db: db, insert: insert}, nil
}

// Insert stores one message and returns its id.
func (s *Store) Insert(ctx context.Context, room string, seq int64, tempID, text string, at time.Time) (int64, error) {
	res, err := s.insert.ExecContext(ctx, room, seq, tempID, text, at.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("floor: insert: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("floor: insert id: %w", err)
	}
	return id, nil
}

// Count is the number of stored messages.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil {
		return 0, fmt.Errorf("floor: count: %w", err)
	}
	return n, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.insert.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("floor: close: %w", err)
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"unicode/utf8"

	"livechat/internal/chat"
)

// unreadable explains err, the failure to read row id of table into its
// model. It reads the row again with every column as text, which any
// stored value survives (a year-10000 time on SQLite, 'infinity' on
// Postgres). If that works, the database answers and the row itself cannot
// be decoded: the error wraps chat.ErrInvalid, so that the caller counts it
// against the row and not the database. If not, err is the database's.
func (db *DB) unreadable(ctx context.Context, table string, id int64, err error) error {
	if errors.Is(err, sql.ErrNoRows) || ctx.Err() != nil {
		return dbErr(err)
	}
	rows, qerr := db.bun.QueryContext(ctx, "SELECT * FROM "+table+" WHERE id = ?", id)
	if qerr != nil {
		return dbErr(err)
	}
	defer rows.Close()
	cols, cerr := rows.Columns()
	if cerr != nil || !rows.Next() {
		return dbErr(err)
	}
	vals := make([]any, len(cols))
	for i := range vals {
		vals[i] = new(sql.NullString)
	}
	if rows.Scan(vals...) != nil || rows.Err() != nil {
		return dbErr(err)
	}
	return fmt.Errorf("%w: the row cannot be read back: %w", chat.ErrInvalid, err)
}

// cleanText makes s storable in every column of both databases
// (chat.StripUnstorable), at most n bytes, cut on a rune boundary. For text
// the server writes from what others sent (LINE's error messages, rejected
// events): recording it must not fail on its bytes.
func cleanText(s string, n int) string {
	s = chat.StripUnstorable(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

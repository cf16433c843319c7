package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"livechat/internal/chat"
)

// readRow reads row id of table with read, which scans it into its model,
// and tells a row that cannot be decoded from a database that failed: the
// row's own fault (quarantine material) is reported wrapping
// chat.ErrInvalid, anything else as the database's error. A row is at
// fault only when the failure is not the driver's or the database's, the
// same read fails again, and reading the row with every column as text,
// which any stored value survives (a year-10000 time on SQLite, 'infinity'
// on Postgres), works. A dropped connection or a timeout therefore never
// counts against a row.
func (db *DB) readRow(ctx context.Context, table string, id int64, read func() error) error {
	err := read()
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) || ctx.Err() != nil || databaseFailed(err) {
		return dbErr(err)
	}
	if err = read(); err == nil {
		return nil
	} else if ctx.Err() != nil || databaseFailed(err) {
		return dbErr(err)
	}
	rows, qerr := db.read.QueryContext(ctx, "SELECT * FROM "+table+" WHERE id = ?", id)
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

// databaseFailed reports an error of the driver, the database or the
// network, as opposed to a value that did not decode (those come from
// database/sql's and bun's conversions, as plain errors).
func databaseFailed(err error) bool {
	var (
		pgErr   *pgconn.PgError
		connErr *pgconn.ConnectError
		liteErr *sqlite.Error
		netErr  net.Error
	)
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &pgErr) || errors.As(err, &connErr) || errors.As(err, &liteErr) || errors.As(err, &netErr) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err)
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

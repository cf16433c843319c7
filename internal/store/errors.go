package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"livechat/internal/chat"
)

// SQLite extended result codes for constraint failures.
const (
	sqliteConstraintCheck      = 275
	sqliteConstraintForeignKey = 787
	sqliteConstraintNotNull    = 1299
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// dbErr maps driver errors onto the chat sentinels, keeping the driver error
// in the chain for logs. A foreign key violation means a referenced row
// (customer, operator, session) does not exist, hence ErrNotFound; CHECK and
// NOT NULL violations, and the data exceptions of values Postgres cannot
// store, are bad input.
func dbErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return chat.ErrNotFound
	}
	switch constraintKind(err) {
	case kindUnique:
		return fmt.Errorf("%w: %w", chat.ErrConflict, err)
	case kindForeignKey:
		return fmt.Errorf("%w: %w", chat.ErrNotFound, err)
	case kindInvalid:
		return fmt.Errorf("%w: %w", chat.ErrInvalid, err)
	}
	return err
}

type kind int

const (
	kindOther kind = iota
	kindUnique
	kindForeignKey
	kindInvalid
)

func constraintKind(err error) kind {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return kindUnique
		case "23503": // foreign_key_violation
			return kindForeignKey
		case "23514", "23502", "22001", "22P02": // check, not null, too long, bad text (e.g. JSON)
			return kindInvalid
		// Data exceptions only bad input causes; a safety net behind the
		// checks at the door, so that none becomes a 500.
		case "22021", // character_not_in_repertoire: invalid UTF-8
			"22P05", // untranslatable_character: e.g. \u0000 in jsonb
			"22008", // datetime_field_overflow: e.g. the year 300000
			"22009", // invalid_time_zone_displacement_value: e.g. a year before 1
			"22003", // numeric_value_out_of_range
			"22007": // invalid_datetime_format
			return kindInvalid
		}
		return kindOther
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() {
		case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
			return kindUnique
		case sqliteConstraintForeignKey:
			return kindForeignKey
		case sqliteConstraintCheck, sqliteConstraintNotNull:
			return kindInvalid
		}
	}
	// The message is the fallback if the code is only the primary one (19).
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE constraint failed"):
		return kindUnique
	case strings.Contains(msg, "FOREIGN KEY constraint failed"):
		return kindForeignKey
	case strings.Contains(msg, "CHECK constraint failed"), strings.Contains(msg, "NOT NULL constraint failed"):
		return kindInvalid
	}
	return kindOther
}

// isUnique reports a unique violation, e.g. a concurrent session creator.
func isUnique(err error) bool { return constraintKind(err) == kindUnique }

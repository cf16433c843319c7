package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// statements are the hot path's SQL, prepared once: bun inlines arguments
// into the text, so SQLite would parse and plan every statement anew and
// Postgres could not reuse a plan. These take placeholders instead.
// database/sql prepares each on a connection the first time it runs
// there and keeps it.
type statements struct {
	// SQLite: an operator message is four small statements in the group
	// writer's transaction (five with a temp_id).
	// findTempID first, for an operator message with a temp_id.
	findTempID, openSession, bumpSeq, insertMessage, touchSession *sql.Stmt
	// Postgres: the whole append is one statement.
	appendMessage *sql.Stmt
	// Both: the outbox's claim and outcome of one attempt.
	claimDelivery, finishDelivery *sql.Stmt
	// Postgres: those of a batch, one statement each (outbox_pg.go).
	claimDeliveries, finishDeliveries *sql.Stmt
}

// sqlText turns ?-placeholders into Postgres' $1, $2, … (the statements
// here hold no ? inside literals).
func (db *DB) sqlText(q string) string {
	if db.dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// prepare prepares the statements and, on SQLite, starts the group writer.
func (db *DB) prepare(ctx context.Context) error {
	s := &statements{}
	db.stmts = s
	sqldb := db.bun.DB
	prep := func(dst **sql.Stmt, q string) error {
		st, err := sqldb.PrepareContext(ctx, db.sqlText(q))
		if err != nil {
			return fmt.Errorf("store: prepare %.60s…: %w", strings.TrimSpace(q), err)
		}
		*dst = st
		return nil
	}
	var err error
	if db.dialect == SQLite {
		err = errors.Join(
			prep(&s.findTempID, findTempIDSQL),
			prep(&s.openSession, sqliteOpenSession),
			prep(&s.bumpSeq, sqliteBumpSeq),
			prep(&s.insertMessage, sqliteInsertMessage),
			prep(&s.touchSession, sqliteTouchSession),
		)
	} else {
		err = errors.Join(prep(&s.appendMessage, pgAppendMessage),
			prep(&s.claimDeliveries, pgClaimDeliveries), prep(&s.finishDeliveries, pgFinishDeliveries))
	}
	if err == nil {
		err = errors.Join(prep(&s.claimDelivery, claimDeliverySQL), prep(&s.finishDelivery, finishDeliverySQL))
	}
	if err != nil {
		return err
	}
	if db.dialect == SQLite {
		db.writer = newGroupWriter(db)
	}
	return nil
}

func (s *statements) close() {
	for _, st := range []*sql.Stmt{s.findTempID, s.openSession, s.bumpSeq, s.insertMessage, s.touchSession, s.appendMessage, s.claimDelivery, s.finishDelivery, s.claimDeliveries, s.finishDeliveries} {
		if st != nil {
			_ = st.Close()
		}
	}
}

// timeArg is t as a statement argument: on SQLite the text bun writes
// (times are compared as text there, so every writer must agree), on
// Postgres a timestamptz.
func (db *DB) timeArg(t time.Time) any {
	if db.dialect == SQLite {
		return t.UTC().Format(sqliteTimeLayout)
	}
	return t.UTC()
}

// sqliteTimeLayout is bun's SQLite time format.
const sqliteTimeLayout = "2006-01-02 15:04:05.999999-07:00"

// nullTime is timeArg for a nullable time.
func (db *DB) nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return db.timeArg(*t)
}

// queryer runs the prepared statements in a batch: inside its transaction,
// or, for one statement on Postgres, on its own (one round trip).
type queryer struct{ tx *sql.Tx }

func (q queryer) stmt(st *sql.Stmt) *sql.Stmt {
	if q.tx == nil {
		return st
	}
	return q.tx.Stmt(st)
}

// writeBatch runs fn, n statements, as one transaction: one commit on
// SQLite whatever n is, and on Postgres when n > 1 (one statement commits
// by itself).
func (db *DB) writeBatch(ctx context.Context, n int, fn func(queryer) error) error {
	if n == 1 && db.dialect == Postgres {
		return fn(queryer{})
	}
	tx, err := db.bun.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(queryer{tx: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// byID orders the n rows of a batch by message id: every instance locks
// rows in the same order, so two batches on Postgres cannot deadlock.
func byID(n int, id func(int) int64) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(id(a), id(b)) })
	return order
}

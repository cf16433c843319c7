package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"livechat/internal/chat"
)

// A read that fails because the database or the network did is never the
// row's fault, however readable the row is: only a value that does not
// decode, again and again, counts toward quarantine.
func TestReadRowBlamesTheRowOnlyForWhatItHolds(t *testing.T) {
	db, err := Open(context.Background(), Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	c, err := db.UpsertCustomer(ctx, chat.Customer{LineUserID: "U0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	m := &chat.Message{LineUserID: c.LineUserID, Direction: chat.Incoming, MessageType: "text", Content: "fine", SenderRole: chat.SenderUser}
	if err := db.AppendMessage(ctx, m, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	failing := func(err error) func() error { return func() error { return err } }
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, e := range []error{driver.ErrBadConn, reset, fmt.Errorf("query: %w", context.DeadlineExceeded), syscall.EPIPE} {
		if got := db.readRow(ctx, "messages", m.ID, failing(e)); got == nil || errors.Is(got, chat.ErrInvalid) {
			t.Errorf("%v: %v, want the database's error, not the row's", e, got)
		}
	}
	// A blip: the second read works.
	n := 0
	blip := func() error {
		if n++; n == 1 {
			return errors.New("sql: Scan error on column index 3: weird")
		}
		return nil
	}
	if got := db.readRow(ctx, "messages", m.ID, blip); got != nil {
		t.Errorf("a read that works the second time: %v", got)
	}
	// A value that does not decode, twice, on a row the text read can see.
	decode := failing(errors.New(`sql: Scan error on column index 6, name "event_at": parsing time "10000-01-01"`))
	if got := db.readRow(ctx, "messages", m.ID, decode); !errors.Is(got, chat.ErrInvalid) {
		t.Errorf("an undecodable row: %v, want ErrInvalid", got)
	}
}

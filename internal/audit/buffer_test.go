package audit_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/audit"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// A flood of failed logins from one source costs one write per flush, and
// the row counts them all; other rows are written at once.
func TestBufferCountsRepeatableEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 10, 0, time.UTC))
		b := audit.New(db, clk, slog.New(slog.DiscardHandler))
		var writes int
		db.AddQueryHook(counter{&writes})
		for range 500 {
			if err := b.Audit(ctx, chat.AuditEntry{Action: chat.AuditLoginFailed, IP: "203.0.113.9"}); err != nil {
				t.Fatal(err)
			}
		}
		if writes != 0 {
			t.Fatalf("%d writes before the flush", writes)
		}
		if err := b.Audit(ctx, chat.AuditEntry{Action: chat.AuditOperatorCreate, Actor: "cli"}); err != nil {
			t.Fatal(err)
		}
		b.Flush(ctx)
		for range 3 {
			_ = b.Audit(ctx, chat.AuditEntry{Action: chat.AuditLoginFailed, IP: "203.0.113.9"})
		}
		b.Flush(ctx)
		rows, err := db.AuditLog(ctx, chat.AuditQuery{Action: chat.AuditLoginFailed})
		if err != nil || len(rows) != 1 || rows[0].Count != 503 {
			t.Fatalf("rows %+v, %v; want one counting 503", rows, err)
		}
		if writes != 3 {
			t.Fatalf("%d writes, want 3 (the operator row, two flushes)", writes)
		}
	})
}

// counter counts the INSERT statements.
type counter struct{ n *int }

func (c counter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (c counter) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if strings.HasPrefix(strings.TrimSpace(e.Query), "INSERT") {
		*c.n++
	}
}

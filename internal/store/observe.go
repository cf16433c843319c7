package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Observe has f told of every statement, with its operation (SELECT,
// INSERT, …) and how long it took: the metrics' database latency.
func (db *DB) Observe(f func(op string, d time.Duration)) { db.AddQueryHook(queryHook(f)) }

type queryHook func(op string, d time.Duration)

func (queryHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (f queryHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	f(operation(e.Query), time.Since(e.StartTime))
}

// operation is a statement's first word, upper-cased (WITH for a CTE).
func operation(q string) string {
	q = strings.TrimLeft(q, " \t\r\n(")
	if i := strings.IndexAny(q, " \t\r\n("); i > 0 {
		q = q[:i]
	}
	switch op := strings.ToUpper(q); op {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "CREATE", "ALTER", "DROP":
		return op
	}
	return "OTHER" // bounded labels
}

// Backlog counts the inbox's events not yet processed and quarantined, and
// the outbox's messages not yet delivered and quarantined.
func (db *DB) Backlog(ctx context.Context) (inboxPending, inboxDead, outPending, outDead int, err error) {
	var res struct {
		InboxPending  int `bun:"inbox_pending"`
		InboxDead     int `bun:"inbox_dead"`
		OutboxPending int `bun:"outbox_pending"`
		OutboxDead    int `bun:"outbox_dead"`
	}
	err = db.read.NewRaw(`
		SELECT
			(SELECT count(*) FROM line_webhook_events WHERE processed_at IS NULL) AS inbox_pending,
			(SELECT count(*) FROM line_webhook_events WHERE dead_at IS NOT NULL) AS inbox_dead,
			(SELECT count(*) FROM messages AS m WHERE `+outboxPending+`) AS outbox_pending,
			(SELECT count(*) FROM messages WHERE dead_at IS NOT NULL) AS outbox_dead`).Scan(ctx, &res)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("store: backlog: %w", dbErr(err))
	}
	return res.InboxPending, res.InboxDead, res.OutboxPending, res.OutboxDead, nil
}

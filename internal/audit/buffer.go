// Package audit keeps the audit log's writes bounded: the events an
// attacker can repeat at will (failed logins, rejected tokens) are counted
// in memory per source and minute and written every few seconds, one
// statement per source, instead of one write per attempt; every other row
// goes straight to the store.
package audit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
)

// Store writes audit rows (AuditCount adds n occurrences of an aggregated
// one), reads them and purges the old.
type Store interface {
	Audit(ctx context.Context, e chat.AuditEntry) error
	AuditCount(ctx context.Context, e chat.AuditEntry, n int) error
	AuditLog(ctx context.Context, q chat.AuditQuery) ([]chat.AuditEntry, error)
	PurgeAudit(ctx context.Context, before time.Time) (int64, error)
}

// AuditLog reads the store's rows (counts still in memory are not in them).
func (b *Buffer) AuditLog(ctx context.Context, q chat.AuditQuery) ([]chat.AuditEntry, error) {
	return b.store.AuditLog(ctx, q)
}

// PurgeAudit purges the store's rows older than before.
func (b *Buffer) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	return b.store.PurgeAudit(ctx, before)
}

// flushEvery is how often the counted events are written.
const flushEvery = 5 * time.Second

// maxKeys bounds the sources counted between two writes; past it, an
// event's count goes to one row for all ("ip" overflow).
const maxKeys = 10000

// Buffer is a chat.Auditor over a Store. Run writes the counts; Close
// (Run's end) writes what is left.
type Buffer struct {
	store Store
	clock clock.Clock
	log   *slog.Logger

	mu      sync.Mutex
	pending map[key]*counted
}

type key struct{ action, ip, minute string }

type counted struct {
	e chat.AuditEntry
	n int
}

// New buffers st's aggregated events.
func New(st Store, c clock.Clock, log *slog.Logger) *Buffer {
	return &Buffer{store: st, clock: c, log: log, pending: map[key]*counted{}}
}

// Audit counts an aggregated event, or writes any other at once.
func (b *Buffer) Audit(ctx context.Context, e chat.AuditEntry) error {
	if !chat.Aggregated(e.Action) {
		return b.store.Audit(ctx, e)
	}
	if e.At.IsZero() {
		e.At = b.clock.Now()
	}
	k := key{e.Action, e.IP, e.At.UTC().Truncate(time.Minute).Format(time.RFC3339)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.pending[k]; c != nil {
		c.n++
		return nil
	}
	if len(b.pending) >= maxKeys {
		k.ip, e.IP = "overflow", "overflow"
		if c := b.pending[k]; c != nil {
			c.n++
			return nil
		}
	}
	b.pending[k] = &counted{e: e, n: 1}
	return nil
}

// Flush writes the counts so far.
func (b *Buffer) Flush(ctx context.Context) {
	b.mu.Lock()
	batch := b.pending
	b.pending = map[key]*counted{}
	b.mu.Unlock()
	for _, c := range batch {
		if err := b.store.AuditCount(ctx, c.e, c.n); err != nil {
			b.log.Warn("audit not recorded", "action", c.e.Action, "count", c.n, "err", err)
		}
	}
}

// Run flushes every flushEvery until ctx ends, then once more.
func (b *Buffer) Run(ctx context.Context) {
	tick := make(chan struct{}, 1)
	for {
		t := b.clock.AfterFunc(flushEvery, func() {
			select {
			case tick <- struct{}{}:
			default:
			}
		})
		select {
		case <-ctx.Done():
			t.Stop()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			b.Flush(fctx)
			cancel()
			return
		case <-tick:
			b.Flush(ctx)
		}
	}
}

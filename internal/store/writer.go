package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"livechat/internal/chat"
)

// Group commit on SQLite. One goroutine owns the writes of operator and
// customer messages: it takes whatever is queued, up to maxBatch, runs each
// append in one transaction (a savepoint each, so one refused message, by
// its guard or as a repeated temp_id, does not undo the others) and
// commits once. Every caller returns after the
// commit: nothing is acknowledged before it is durable. The queue is
// bounded, so a sender that outruns the disk waits (and its socket's TCP
// window fills) instead of piling up memory.
const (
	maxBatch     = 128
	writeQueue   = 1024
	batchTimeout = 30 * time.Second
)

// errWriterClosed answers appends after Close.
var errWriterClosed = errors.New("store: closed")

type groupWriter struct {
	db       *DB
	reqs     chan *appendReq
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// appendReq is one queued append. state moves queued → taken (the writer
// will answer) or queued → abandoned (the caller left first).
type appendReq struct {
	m     *chat.Message
	guard *chat.AppendGuard
	now   time.Time
	state atomic.Int32
	res   appended
	err   error
	done  chan struct{}
}

const (
	queued int32 = iota
	taken
	abandoned
)

func newGroupWriter(db *DB) *groupWriter {
	w := &groupWriter{db: db, reqs: make(chan *appendReq, writeQueue), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// append queues one append and waits for its batch. A caller whose context
// ends while its append is in a batch waits for the outcome all the same:
// the message may be committed, and must then not be reported as failed.
func (w *groupWriter) append(ctx context.Context, m *chat.Message, guard *chat.AppendGuard, now time.Time) (appended, error) {
	r := &appendReq{m: m, guard: guard, now: now, done: make(chan struct{})}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return appended{}, ctx.Err()
	case <-w.quit:
		return appended{}, errWriterClosed
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, abandoned) {
			return appended{}, ctx.Err()
		}
		<-r.done
	case <-w.done: // closed after r was queued, before the writer took it
		if r.state.CompareAndSwap(queued, abandoned) {
			return appended{}, errWriterClosed
		}
		<-r.done
	}
	return r.res, r.err
}

func (w *groupWriter) run() {
	defer close(w.done)
	batch := make([]*appendReq, 0, maxBatch)
	for {
		select {
		case <-w.quit:
			for {
				select {
				case r := <-w.reqs:
					r.err = errWriterClosed
					close(r.done)
				default:
					return
				}
			}
		case r := <-w.reqs:
			batch = append(batch[:0], r)
		more:
			for len(batch) < maxBatch {
				select {
				case r := <-w.reqs:
					batch = append(batch, r)
				default:
					break more
				}
			}
			w.commit(batch)
		}
	}
}

// commit runs one batch in one transaction.
func (w *groupWriter) commit(batch []*appendReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(queued, taken) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	defer func() {
		for _, r := range live {
			close(r.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	tx, err := w.db.bun.DB.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range live {
			r.err = fmt.Errorf("begin: %w", dbErr(err))
		}
		return
	}
	for _, r := range live {
		r.res, r.err = w.db.appendSQLite(ctx, tx, r.m, r.guard, r.now)
		var broken *brokenBatch
		if errors.As(r.err, &broken) {
			_ = tx.Rollback()
			for _, r := range live {
				r.res, r.err = appended{}, fmt.Errorf("batch rolled back: %w", broken)
			}
			return
		}
	}
	if err := tx.Commit(); err != nil {
		for _, r := range live {
			// A duplicate may name a message of this batch, which is
			// not stored after all.
			var dup *duplicate
			if r.err == nil || errors.As(r.err, &dup) {
				r.res, r.err = appended{}, fmt.Errorf("commit: %w", dbErr(err))
			}
		}
	}
}

// stop answers what is queued with errWriterClosed and waits for the
// batch in flight.
func (w *groupWriter) stop() {
	w.stopOnce.Do(func() { close(w.quit) })
	<-w.done
}

package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/logctx"
	"livechat/internal/store"
)

// Worker timing. A failed event is retried after 1s, 2s, 4s … up to
// maxBackoff. Failures of the database or of LINE are retried for as long
// as they last: events are never dropped for them. Failures of the event
// itself (it cannot be read back or decoded, its data is invalid, or its
// processing panicked) count: after Options.MaxFailures of those it is
// quarantined, kept with its last error for `livechat inbox list`, and
// no longer holds back its customer's later events. The lease outlives
// processTimeout, so a live worker never loses its event to another; a
// dead one's events are taken over when the lease ends.
const (
	batchSize      = 50
	lease          = 2 * time.Minute
	processTimeout = 30 * time.Second
	bookkeeping    = 5 * time.Second
	minBackoff     = time.Second
	maxBackoff     = 5 * time.Minute
	pollInterval   = 30 * time.Second // a safety net: Kick and retry timers do the work
	minDelay       = 10 * time.Millisecond
	maxErrorLen    = 1000
	loudAttempts   = 5 // from this attempt on, failures are logged as errors
	// DefaultMaxFailures is Options.MaxFailures' default.
	DefaultMaxFailures = 10
)

// Deps are the worker's collaborators. Profiles and Replier may be nil:
// then customers get no profile and no automatic replies.
type Deps struct {
	Store    Store
	Chat     Chat
	Profiles Profiles
	Replier  Replier
	Clock    clock.Clock
	Log      *slog.Logger
}

// Worker processes the inbox: one goroutine (Run) owns the loop. Several
// instances may run a worker on one database: leases make each event
// processed by one of them at a time, and a customer's events go in order.
type Worker struct {
	store       Store
	proc        *processor
	clock       clock.Clock
	log         *slog.Logger
	kick        chan struct{}
	maxFailures int

	lastAttempt atomic.Int64 // unix ns of the last claim (or Run's start), for Health

	passed func() // tests: called when Run goes idle after a drain
}

// NewWorker builds the worker.
func NewWorker(d Deps, o Options) *Worker {
	log := d.Log.With("component", "inbox")
	o = o.withDefaults()
	return &Worker{
		store:       d.Store,
		proc:        newProcessor(d, o, log),
		clock:       d.Clock,
		log:         log,
		kick:        make(chan struct{}, 1),
		maxFailures: o.MaxFailures,
	}
}

// Kick wakes Run: new events are in the inbox. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run processes due events until ctx ends: on start (what a previous run
// left behind), on Kick, when a retry falls due, and every pollInterval.
// Cancelling ctx stops it; an event being processed is then retried later.
func (w *Worker) Run(ctx context.Context) {
	w.lastAttempt.Store(w.clock.Now().UnixNano())
	w.log.Info("inbox worker started")
	defer w.log.Info("inbox worker stopped")
	for {
		w.drain(ctx)
		if ctx.Err() != nil {
			return
		}
		t := w.clock.AfterFunc(w.nextDelay(ctx), w.Kick)
		if w.passed != nil {
			w.passed() // idle, its wake-up set
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.kick:
			t.Stop()
		}
	}
}

// drain processes until nothing is due.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := w.ProcessDue(ctx)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("inbox: read due events", "err", err)
			}
			return
		}
		if n == 0 {
			return
		}
	}
}

// nextDelay is how long Run may sleep: until the next retry or lease end,
// at most pollInterval.
func (w *Worker) nextDelay(ctx context.Context) time.Duration {
	next, ok, err := w.store.NextInboxAttempt(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("inbox: next attempt", "err", err)
		}
		return pollInterval
	}
	if !ok {
		return pollInterval
	}
	return min(max(next.Sub(w.clock.Now()), minDelay), pollInterval)
}

// ProcessDue claims and processes the events due now, one batch, and
// returns how many it attempted (succeeded or failed). Run calls it; tests
// call it to process synchronously.
func (w *Worker) ProcessDue(ctx context.Context) (int, error) {
	ids, err := w.store.DueInboxIDs(ctx, w.clock.Now(), batchSize)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return n, nil
		}
		now := w.clock.Now()
		w.lastAttempt.Store(now.UnixNano())
		ev, ok, err := w.store.ClaimInboxEvent(ctx, id, now, now.Add(lease))
		switch {
		case errors.Is(err, chat.ErrInvalid):
			// Claimed, but it cannot be read back: a failure of this row,
			// never of the batch.
			w.failed(ctx, ev, err)
			n++
			continue
		case err != nil:
			return n, err
		case !ok:
			continue // another worker has it
		}
		w.process(ctx, ev)
		n++
	}
	return n, nil
}

// process runs one claimed event and records the outcome. What is logged
// while it runs carries the event's inbox_id (the worker's own lines name it).
func (w *Worker) process(ctx context.Context, ev store.InboxEvent) {
	pctx, cancel := context.WithTimeout(logctx.With(ctx, slog.Int64("inbox_id", ev.ID)), processTimeout)
	err := w.handle(pctx, ev)
	cancel()
	if err != nil {
		w.failed(ctx, ev, err)
		return
	}
	// The outcome is recorded even when ctx just ended (shutdown).
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	if err := w.store.CompleteInboxEvent(bctx, ev.ID, w.clock.Now()); err != nil {
		// The lease ends and the event runs again; its effects dedup.
		w.log.Error("inbox: mark processed", "webhook_event_id", ev.WebhookEventID, "err", err)
	}
}

// failed records a failed attempt: retried with backoff, and quarantined
// after maxFailures failures of the event itself (rowFault).
func (w *Worker) failed(ctx context.Context, ev store.InboxEvent, err error) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	now := w.clock.Now()
	delay := backoff(ev.Attempts)
	row := rowFault(err)
	dead, ferr := w.store.FailInboxEvent(bctx, ev.ID, store.Failure{
		Reason: truncate(err.Error(), maxErrorLen), Next: now.Add(delay), Row: row, Max: w.maxFailures, Now: now,
	})
	if ferr != nil {
		w.log.Error("inbox: record failure", "inbox_id", ev.ID, "webhook_event_id", ev.WebhookEventID, "err", ferr)
		return
	}
	if dead {
		w.log.Error("inbox: event quarantined: it keeps failing on its own; see livechat inbox list --dead",
			"inbox_id", ev.ID, "webhook_event_id", ev.WebhookEventID, "event_type", ev.EventType,
			"failures", w.maxFailures, "err", err)
		return
	}
	level := slog.LevelWarn
	if ev.Attempts >= loudAttempts {
		level = slog.LevelError
	}
	w.log.Log(ctx, level, "inbox: event failed, will retry", "inbox_id", ev.ID, "webhook_event_id", ev.WebhookEventID,
		"event_type", ev.EventType, "attempt", ev.Attempts, "own_fault", row, "retry_in", delay, "err", err)
}

// errPanic marks processing that panicked: a failure of the event itself
// as far as the worker can tell.
var errPanic = errors.New("inbox: processing panicked")

// rowFault reports a failure of the event itself, which no retry of the
// database or of LINE can fix: invalid or unreadable data, or a panic.
func rowFault(err error) bool { return errors.Is(err, chat.ErrInvalid) || errors.Is(err, errPanic) }

// handle is the processor, with a panic turned into a failure of the event.
func (w *Worker) handle(ctx context.Context, ev store.InboxEvent) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	return w.proc.handle(ctx, ev)
}

// backoff is the wait before attempt+1.
func backoff(attempt int) time.Duration { return clock.Backoff(attempt, minBackoff, maxBackoff) }

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Health says why the inbox is not being worked, if it is not: an event
// due for longer than stall that no attempt has touched for as long (the
// worker is stuck, or runs nowhere). Readiness probes call it beside Run.
func (w *Worker) Health(ctx context.Context, stall time.Duration) []string {
	now := w.clock.Now()
	next, ok, err := w.store.NextInboxAttempt(ctx)
	switch {
	case err != nil:
		return []string{"inbox: cannot read the queue"}
	case ok && now.Sub(next) >= stall && now.Sub(time.Unix(0, w.lastAttempt.Load())) >= stall:
		return []string{fmt.Sprintf("inbox: an event due since %s has not been attempted for %s", next.UTC().Format(time.RFC3339), stall)}
	}
	return nil
}

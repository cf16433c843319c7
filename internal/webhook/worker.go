package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/store"
)

// Worker timing. A failed event is retried after 1s, 2s, 4s … up to
// maxBackoff, for as long as it fails: events are never dropped. Only
// invalid data (chat.ErrInvalid), which no retry can fix, is given up on,
// and stays in the inbox with the reason. The lease
// outlives processTimeout, so a live worker never loses its event to
// another; a dead one's events are taken over when the lease ends.
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
	store Store
	proc  *processor
	clock clock.Clock
	log   *slog.Logger
	kick  chan struct{}

	passed func() // tests: called when Run goes idle after a drain
}

// NewWorker builds the worker.
func NewWorker(d Deps, o Options) *Worker {
	log := d.Log.With("component", "inbox")
	return &Worker{
		store: d.Store,
		proc:  newProcessor(d, o.withDefaults(), log),
		clock: d.Clock,
		log:   log,
		kick:  make(chan struct{}, 1),
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
	events, err := w.store.DueInboxEvents(ctx, w.clock.Now(), batchSize)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ev := range events {
		if ctx.Err() != nil {
			return n, nil
		}
		now := w.clock.Now()
		ok, err := w.store.ClaimInboxEvent(ctx, ev.ID, now, now.Add(lease))
		if err != nil {
			return n, err
		}
		if !ok {
			continue // another worker has it
		}
		ev.Attempts++
		w.process(ctx, ev)
		n++
	}
	return n, nil
}

// process runs one claimed event and records the outcome.
func (w *Worker) process(ctx context.Context, ev store.InboxEvent) {
	pctx, cancel := context.WithTimeout(ctx, processTimeout)
	err := w.handle(pctx, ev)
	cancel()
	// The outcome is recorded even when ctx just ended (shutdown).
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	now := w.clock.Now()
	if err == nil {
		if err := w.store.CompleteInboxEvent(bctx, ev.ID, now); err != nil {
			// The lease ends and the event runs again; its effects dedup.
			w.log.Error("inbox: mark processed", "webhook_event_id", ev.WebhookEventID, "err", err)
		}
		return
	}
	if errors.Is(err, chat.ErrInvalid) {
		// Retrying cannot help, and would hold back the customer's later
		// events for good. The event stays in the inbox with the reason.
		w.log.Error("inbox: event cannot be processed, giving up", "webhook_event_id", ev.WebhookEventID,
			"event_type", ev.EventType, "attempt", ev.Attempts, "err", err)
		if err := w.store.AbandonInboxEvent(bctx, ev.ID, truncate("gave up: "+err.Error(), maxErrorLen), now); err != nil {
			w.log.Error("inbox: record abandonment", "webhook_event_id", ev.WebhookEventID, "err", err)
		}
		return
	}
	delay := backoff(ev.Attempts)
	level := slog.LevelWarn
	if ev.Attempts >= loudAttempts {
		level = slog.LevelError
	}
	w.log.Log(ctx, level, "inbox: event failed, will retry", "webhook_event_id", ev.WebhookEventID,
		"event_type", ev.EventType, "attempt", ev.Attempts, "retry_in", delay, "err", err)
	if err := w.store.FailInboxEvent(bctx, ev.ID, truncate(err.Error(), maxErrorLen), now.Add(delay)); err != nil {
		w.log.Error("inbox: record failure", "webhook_event_id", ev.WebhookEventID, "err", err)
	}
}

// handle is the processor, with a panic turned into a retried failure.
func (w *Worker) handle(ctx context.Context, ev store.InboxEvent) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
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

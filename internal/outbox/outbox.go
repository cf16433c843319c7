// Package outbox delivers operator messages to LINE reliably. The message
// row is the outbox entry: it is stored pending, gets a fixed
// X-Line-Retry-Key before the first push, and is retried with backoff
// (5xx, timeouts, 429 after its Retry-After) with that same key until LINE
// accepts it (2xx, or 409 for a key it already accepted) or rejects it
// (other 4xx: failed, and the sender gets message_failed). A conversation's
// messages go out in seq order: a message waits until every earlier one is
// settled. A restart resumes pending rows; the retry key makes a push that
// LINE already accepted before the crash a 409, not a second message.
//
// One goroutine (Run) owns the schedule. Chat sends wake it with Kick, an
// injectable clock wakes it for retries, and a poll catches rows left by
// other instances. Pushes run on goroutines it starts and waits for.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/line"
)

// Delivery is a pending operator message with its delivery bookkeeping.
type Delivery struct {
	Message  chat.Message
	RetryKey string // the X-Line-Retry-Key; empty until fixed
	TempID   string // the sending tab's id, for message_failed
	Attempts int    // pushes started, the claimed one included
}

// Store is what the outbox needs from persistence (internal/store). A
// delivery is a pending OUTGOING message with sender role ADMIN.
type Store interface {
	// DueDeliveries returns the ids of up to limit conversation heads (a
	// conversation's lowest-seq pending message) whose next attempt (at
	// first: their creation) is at or before now and that no attempt
	// holds, longest waiting first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]int64, error)
	// NextDeliveryAt is the earliest time a head becomes due (its next
	// attempt, or the end of the lock on it); ok is false when none is pending.
	NextDeliveryAt(ctx context.Context) (at time.Time, ok bool, err error)
	// ClaimDelivery takes a due message for one attempt: it counts the
	// attempt, locks the row until lockUntil and fixes the retry key to
	// retryKey unless it has one, in one conditional update. Taken
	// meanwhile or no longer due: ErrConflict. A row that cannot be read
	// back: an error wrapping ErrInvalid.
	ClaimDelivery(ctx context.Context, messageID int64, now, lockUntil time.Time, retryKey string) (Delivery, error)
	// RetryDelivery ends attempt number attempt with the message still
	// pending, unlocked and due at at; reason is shown meanwhile. A later
	// attempt took over, or the message is settled: ErrConflict.
	RetryDelivery(ctx context.Context, messageID int64, attempt int, at time.Time, reason string) error
	// FinishDelivery records sent or failed for attempt number attempt;
	// ErrConflict as for RetryDelivery.
	FinishDelivery(ctx context.Context, messageID int64, attempt int, status chat.DeliveryStatus, reason string) error
	// FailDelivery records a failure of the message itself, which counts
	// toward quarantine: pending and due at next, or at the maxFailures-th
	// such failure dead (failed for good). attempt as for RetryDelivery,
	// or 0 when unknown.
	FailDelivery(ctx context.Context, messageID int64, attempt int, reason string, next time.Time, maxFailures int, now time.Time) (Dead, error)
}

// Dead is what FailDelivery tells about the message: who to tell, and
// whether it is now quarantined.
type Dead struct {
	MessageID  int64
	LineUserID string
	OperatorID *int64
	TempID     string
	Dead       bool
}

// Pusher sends LINE push messages; *line.Client implements it.
type Pusher interface {
	Push(ctx context.Context, to string, msgs []line.Message, retryKey string) error
}

// Notifier tells the sender how a delivery ended; the WebSocket hub
// implements it (as part of chat.Notifier). It must return quickly.
type Notifier interface {
	MessageFailed(ctx context.Context, m chat.Message, tempID, reason string, retryable bool)
	MessageDelivered(ctx context.Context, m chat.Message, tempID string)
}

var (
	_ Pusher        = (*line.Client)(nil)
	_ Notifier      = chat.Notifier(nil)
	_ chat.Enqueuer = (*Outbox)(nil)
)

// Config tunes the outbox; zero values take the defaults.
type Config struct {
	// Workers bounds concurrent pushes (each conversation has at most one).
	Workers int
	// AttemptTimeout bounds one push.
	AttemptTimeout time.Duration
	// Lock is how long a claimed attempt holds its row: after it, another
	// instance (or this one after a crash) may retry. Longer than AttemptTimeout.
	Lock time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry, doubling per attempt.
	MinBackoff, MaxBackoff time.Duration
	// GiveUpAfter fails a message still not accepted this long after it
	// was sent: LINE keeps a retry key for 24 h only, so a later retry
	// could deliver it twice.
	GiveUpAfter time.Duration
	// PollInterval is the longest the outbox sleeps without looking at the
	// table: it finds rows that other instances enqueued.
	PollInterval time.Duration
	// MaxFailures quarantines a message after this many attempts that
	// failed because of the message itself (it cannot be read back, or
	// pushing it panicked); LINE and database failures do not count.
	MaxFailures int
	// Observe, if set, is called from the owner goroutine after each
	// attempt's outcome is stored and the next wake-up is scheduled (tests,
	// metrics). It must return quickly.
	Observe func(Result)
}

// Defaults.
const (
	DefaultWorkers        = 8
	DefaultAttemptTimeout = 15 * time.Second
	DefaultLock           = time.Minute
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultGiveUpAfter    = 23 * time.Hour
	DefaultPollInterval   = 30 * time.Second
	DefaultMaxFailures    = 10
)

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	def(&c.AttemptTimeout, DefaultAttemptTimeout)
	def(&c.Lock, max(DefaultLock, 2*c.AttemptTimeout))
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.GiveUpAfter, DefaultGiveUpAfter)
	def(&c.PollInterval, DefaultPollInterval)
	if c.MaxFailures <= 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	return c
}

// Result is the outcome of one attempt, for Config.Observe.
type Result struct {
	MessageID  int64
	LineUserID string
	Attempt    int
	// Status is sent, failed, or pending (a retry is scheduled at NextAttempt).
	Status      chat.DeliveryStatus
	Reason      string
	NextAttempt time.Time
}

// Outbox delivers pending operator messages. Create it with New, run it
// with Run, and hand it stored messages with Enqueue.
type Outbox struct {
	store  Store
	push   Pusher
	notify Notifier
	clock  clock.Clock
	log    *slog.Logger
	cfg    Config

	kick    chan struct{}      // capacity 1: wakes Run
	syncc   chan chan struct{} // Sync's requests
	results chan outcome       // attempts report here
	running atomic.Bool

	// For Health, written by Run.
	lastAttempt atomic.Int64           // unix ns of the last claim (or Run's start)
	paused      atomic.Int64           // unix ns until which LINE asked us to wait
	lineTrouble atomic.Pointer[string] // the last transient LINE failure; nil after a success

	// Owned by the Run goroutine.
	inflight    map[int64]bool // message ids being pushed
	stopping    bool           // Run's ctx ended; draining
	settled     []Result       // settled by scan itself, for Observe
	timer       clock.Timer
	pausedUntil time.Time     // after a 429: LINE's rate limit is per channel
	rowFailures map[int64]int // this run's failures of a message itself, for their backoff
}

// outcome is what an attempt goroutine reports.
type outcome struct {
	d   Delivery
	err error
}

// New returns an outbox; notify may be nil.
func New(store Store, push Pusher, notify Notifier, clk clock.Clock, log *slog.Logger, cfg Config) *Outbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	return &Outbox{
		store:       store,
		push:        push,
		notify:      notify,
		clock:       clk,
		log:         log.With("component", "outbox"),
		cfg:         cfg,
		kick:        make(chan struct{}, 1),
		syncc:       make(chan chan struct{}),
		results:     make(chan outcome, cfg.Workers),
		inflight:    map[int64]bool{},
		rowFailures: map[int64]int{},
	}
}

// Enqueue takes a stored, pending operator message for delivery and wakes
// Run. chat.Service stores the retry key and temp id with the message, so
// there is nothing left to write; a message stored without a key still gets
// one before its first push (ClaimDelivery fixes it).
func (o *Outbox) Enqueue(context.Context, chat.Message, string) error {
	o.Kick()
	return nil
}

// Kick wakes Run to look for due messages. It never blocks.
func (o *Outbox) Kick() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Sync makes Run look for due messages now, and returns once it has and
// has scheduled its next wake-up. Tests call it after moving a fake clock,
// so that the next Advance finds the outbox's timer in place.
func (o *Outbox) Sync(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case o.syncc <- done:
	case <-ctx.Done():
		return fmt.Errorf("outbox: sync: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("outbox: sync: %w", ctx.Err())
	}
}

// Run delivers until ctx ends, then waits for the pushes in flight (they
// are cancelled with ctx and stay pending, due at once for the next start).
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("outbox: already running")
	}
	defer o.running.Store(false)
	o.lastAttempt.Store(o.clock.Now().UnixNano())
	o.log.Info("outbox started", "workers", o.cfg.Workers)
	o.scan(ctx)
	for {
		select {
		case <-ctx.Done():
			o.stop(ctx)
			o.log.Info("outbox stopped")
			return nil
		case <-o.kick:
			o.scan(ctx)
		case done := <-o.syncc:
			select {
			case <-o.kick: // this scan answers it
			default:
			}
			o.scan(ctx)
			close(done)
		case r := <-o.results:
			if ctx.Err() != nil {
				// Cut short by the shutdown: settle it with the others.
				o.stop(ctx, r)
				o.log.Info("outbox stopped")
				return nil
			}
			res := o.settle(ctx, r)
			o.scan(ctx)
			o.observe(res)
		}
	}
}

// stop settles the attempts in flight (received: already reported), with
// a short context of their own, ctx being over.
func (o *Outbox) stop(ctx context.Context, received ...outcome) {
	o.stopping = true
	defer func() { o.stopping = false }()
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for len(o.inflight) > 0 {
		var r outcome
		if len(received) > 0 {
			r, received = received[0], received[1:]
		} else {
			r = <-o.results
		}
		o.observe(o.settle(sctx, r))
	}
}

// scan claims due heads while workers are free, then schedules the next
// wake-up.
func (o *Outbox) scan(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	now := o.clock.Now()
	if now.Before(o.pausedUntil) {
		o.wakeAt(o.pausedUntil)
		return
	}
	for progress := true; progress && len(o.inflight) < o.cfg.Workers; {
		progress = false
		due, err := o.store.DueDeliveries(ctx, now, o.cfg.Workers-len(o.inflight))
		if err != nil {
			o.log.Error("list due deliveries", "err", err)
			break
		}
		for _, id := range due {
			if o.inflight[id] {
				continue
			}
			if o.claim(ctx, id, now) {
				progress = true
			}
		}
	}
	wake := now.Add(o.cfg.PollInterval)
	next, ok, err := o.store.NextDeliveryAt(ctx)
	if err != nil {
		o.log.Error("next delivery", "err", err)
	} else if ok && next.After(now) && next.Before(wake) {
		wake = next
	}
	o.wakeAt(wake)
	for _, res := range o.settled {
		o.observe(res)
	}
	o.settled = o.settled[:0]
}

func (o *Outbox) observe(res Result) {
	if o.cfg.Observe != nil {
		o.cfg.Observe(res)
	}
}

// claim takes message id for an attempt and starts its push; it reports
// whether the message changed state (so that the conversation's next
// message may be due).
func (o *Outbox) claim(ctx context.Context, id int64, now time.Time) bool {
	o.lastAttempt.Store(now.UnixNano())
	c, err := o.store.ClaimDelivery(ctx, id, now, now.Add(o.cfg.Lock), uuid.NewString())
	switch {
	case errors.Is(err, chat.ErrConflict):
		return false // another instance took it
	case errors.Is(err, chat.ErrInvalid):
		// The row itself: one failure toward quarantine, not a stuck queue.
		o.settled = append(o.settled, o.rowFailed(ctx, Delivery{Message: chat.Message{ID: id}}, err.Error()))
		return true
	case err != nil:
		o.log.Error("claim delivery", "message_id", id, "err", err)
		return false
	}
	// Tried before and out of LINE's 24 h retry-key window (the server was
	// down): a push now might be a second copy, so give up instead.
	if c.Attempts > 1 && now.Sub(c.Message.CreatedAt) >= o.cfg.GiveUpAfter {
		const reason = "LINE did not confirm the delivery in time; please resend"
		o.finish(ctx, c, chat.DeliveryFailed, reason, true)
		o.settled = append(o.settled, Result{MessageID: c.Message.ID, LineUserID: c.Message.LineUserID,
			Attempt: c.Attempts, Status: chat.DeliveryFailed, Reason: reason})
		return true
	}
	o.inflight[c.Message.ID] = true
	go o.attempt(ctx, c)
	return true
}

// errPanic marks an attempt whose push panicked: the message's own fault
// as far as the outbox can tell, so it counts toward quarantine.
var errPanic = errors.New("outbox: push panicked")

// attempt is one push; Run owns it and waits for its outcome.
func (o *Outbox) attempt(ctx context.Context, d Delivery) {
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
		o.results <- outcome{d: d, err: err}
	}()
	actx, cancel := context.WithTimeout(ctx, o.cfg.AttemptTimeout)
	defer cancel()
	err = o.push.Push(actx, d.Message.LineUserID, []line.Message{line.Text(d.Message.Content)}, d.RetryKey)
}

// settle stores an attempt's outcome and tells the sender about a failure.
func (o *Outbox) settle(ctx context.Context, r outcome) Result {
	d := r.d
	delete(o.inflight, d.Message.ID)
	if errors.Is(r.err, errPanic) {
		return o.rowFailed(ctx, d, r.err.Error())
	}
	now := o.clock.Now()
	res := Result{MessageID: d.Message.ID, LineUserID: d.Message.LineUserID, Attempt: d.Attempts}
	v := classify(r.err)
	var wait time.Duration
	switch {
	case v.status != chat.DeliveryPending:
	case o.stopping:
		// Shutdown cut the push short: due at once for the next start.
		v.reason = "interrupted by shutdown; will retry"
	default:
		wait = o.backoff(d.Attempts)
		if v.retryAfter > 0 {
			wait = v.retryAfter
		}
		if now.Add(wait).Sub(d.Message.CreatedAt) >= o.cfg.GiveUpAfter {
			// The retry would fall outside the retry key's lifetime.
			v = verdict{status: chat.DeliveryFailed, retryable: true,
				reason: fmt.Sprintf("LINE did not accept the message after %d attempts (last: %s); please resend", d.Attempts, v.reason)}
		} else if v.retryAfter > 0 {
			o.pausedUntil = now.Add(wait)
			o.paused.Store(o.pausedUntil.UnixNano())
		}
	}
	o.noteLINE(r.err, v)
	res.Status, res.Reason = v.status, v.reason
	if v.status != chat.DeliveryPending {
		o.finish(ctx, d, v.status, v.reason, v.retryable)
		return res
	}
	res.NextAttempt = now.Add(wait)
	o.log.Warn("delivery will be retried", "message_id", d.Message.ID, "line_user_id", d.Message.LineUserID,
		"attempt", d.Attempts, "retry_in", wait, "reason", v.reason)
	if err := o.store.RetryDelivery(ctx, d.Message.ID, d.Attempts, res.NextAttempt, v.reason); err != nil {
		o.storeFailed("retry", d, err)
	}
	return res
}

// noteLINE keeps, for Health, whether LINE is failing: a temporary failure
// of LINE itself (not of the shutdown, not a refusal of one message) sets
// it, an accepted push clears it.
func (o *Outbox) noteLINE(err error, v verdict) {
	switch {
	case err == nil || v.status == chat.DeliverySent:
		o.lineTrouble.Store(nil)
	case v.status == chat.DeliveryPending && !o.stopping:
		reason := v.reason
		o.lineTrouble.Store(&reason)
	}
}

// rowFailed records a failure of the message itself (attempt 0 when the
// row could not even be read): pending with a backoff, or quarantined at
// MaxFailures, when the sender learns it failed and the conversation's
// later messages go out.
func (o *Outbox) rowFailed(ctx context.Context, d Delivery, reason string) Result {
	id := d.Message.ID
	o.rowFailures[id]++
	now := o.clock.Now()
	next := now.Add(o.backoff(o.rowFailures[id]))
	dead, err := o.store.FailDelivery(ctx, id, d.Attempts, reason, next, o.cfg.MaxFailures, now)
	res := Result{MessageID: id, LineUserID: d.Message.LineUserID, Attempt: d.Attempts, Status: chat.DeliveryPending, Reason: reason, NextAttempt: next}
	if err != nil {
		o.storeFailed("failure", d, err)
		return res
	}
	res.LineUserID = dead.LineUserID
	if !dead.Dead {
		o.log.Warn("delivery failed on the message itself, will retry", "message_id", id, "retry_in", next.Sub(now), "reason", reason)
		return res
	}
	delete(o.rowFailures, id)
	o.log.Error("delivery quarantined: the message keeps failing on its own", "message_id", id,
		"line_user_id", dead.LineUserID, "failures", o.cfg.MaxFailures, "reason", reason)
	res.Status, res.NextAttempt = chat.DeliveryFailed, time.Time{}
	if o.notify != nil {
		m := chat.Message{ID: id, LineUserID: dead.LineUserID, OperatorID: dead.OperatorID,
			DeliveryStatus: chat.DeliveryFailed, DeliveryError: reason}
		o.notify.MessageFailed(ctx, m, dead.TempID, "The message could not be delivered; please send it again", true)
	}
	return res
}

// finish records a final outcome and tells the sender.
func (o *Outbox) finish(ctx context.Context, d Delivery, status chat.DeliveryStatus, reason string, retryable bool) {
	delete(o.rowFailures, d.Message.ID)
	if err := o.store.FinishDelivery(ctx, d.Message.ID, d.Attempts, status, reason); err != nil {
		o.storeFailed("finish", d, err)
		return
	}
	m := d.Message
	m.DeliveryStatus, m.DeliveryError = status, reason
	if status == chat.DeliverySent {
		o.log.Debug("delivered", "message_id", d.Message.ID, "attempt", d.Attempts)
		if o.notify != nil {
			o.notify.MessageDelivered(ctx, m, d.TempID)
		}
		return
	}
	o.log.Warn("delivery failed", "message_id", d.Message.ID, "line_user_id", d.Message.LineUserID,
		"attempt", d.Attempts, "reason", reason)
	if o.notify != nil {
		o.notify.MessageFailed(ctx, m, d.TempID, reason, retryable)
	}
}

// storeFailed logs a lost bookkeeping write. The row keeps its lock; when
// that ends the message is retried with the same key, so a push LINE took
// is answered 409 and counted as sent.
func (o *Outbox) storeFailed(what string, d Delivery, err error) {
	if errors.Is(err, chat.ErrConflict) {
		o.log.Info("delivery attempt superseded", "message_id", d.Message.ID, "attempt", d.Attempts)
		return
	}
	o.log.Error("record delivery "+what, "message_id", d.Message.ID, "attempt", d.Attempts, "err", err)
}

// backoff is the wait after failed attempt n (1-based).
func (o *Outbox) backoff(n int) time.Duration {
	return clock.Backoff(n, o.cfg.MinBackoff, o.cfg.MaxBackoff)
}

// wakeAt arms the single timer for at (the clock may have moved on
// during the scan).
func (o *Outbox) wakeAt(at time.Time) {
	if o.timer != nil {
		o.timer.Stop()
	}
	o.timer = o.clock.AfterFunc(max(at.Sub(o.clock.Now()), 0), o.Kick)
}

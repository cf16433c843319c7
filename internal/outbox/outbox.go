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
// The outbox works from memory. A committed message is handed to it by
// Enqueue; one goroutine (Run) keeps every conversation's pending messages
// in order and starts the pushes, at most Workers at a time, on goroutines
// it waits for. The database is written once to take each attempt (a
// conditional update, so of several instances one wins) and once to
// record its outcome, and read only in batches: at start; in a scan every
// PollInterval for rows that no live attempt holds (another instance died);
// and at once when messages were left in the table because the hand-off
// or the MaxQueued messages held in memory were full. A retry waits on a
// timer set to its due time, never on a poll.
package outbox

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/line"
	"livechat/internal/ratelimit"
)

// Delivery is a pending operator message with its delivery bookkeeping.
type Delivery struct {
	Message  chat.Message
	RetryKey string // the X-Line-Retry-Key; empty until fixed
	TempID   string // the sending tab's id, for message_failed
	Attempts int    // pushes started, the claimed one included
	// NextAttemptAt is when a retry falls due; zero: at once.
	NextAttemptAt time.Time
}

// ErrNotHead is ClaimDelivery's answer for a message that must wait: an
// earlier message of its conversation is still pending.
var ErrNotHead = errors.New("outbox: an earlier message of the conversation is pending")

// Store is what the outbox needs from persistence (internal/store). A
// delivery is a pending OUTGOING message with sender role ADMIN.
type Store interface {
	// PendingDeliveries returns the ids above after of up to limit pending
	// messages that no attempt holds (never claimed, or their lock ended),
	// by id.
	PendingDeliveries(ctx context.Context, now time.Time, after int64, limit int) ([]int64, error)
	// LoadDeliveries reads those messages in one query; one that cannot be
	// read back is left out and listed in unreadable (ErrInvalid).
	LoadDeliveries(ctx context.Context, ids []int64) (ds []Delivery, unreadable map[int64]error, err error)
	// ClaimDeliveries takes due messages for one attempt each, in one
	// transaction: for each it counts the attempt, locks the row until
	// lockUntil and fixes the retry key unless it has one, in one
	// conditional update, and answers the attempt's number and the key.
	// A message another attempt holds, settled or not due: its Err is
	// ErrConflict; one whose conversation has an earlier pending message:
	// ErrNotHead. err is for the whole batch (the database failed).
	ClaimDeliveries(ctx context.Context, claims []Claim, now, lockUntil time.Time) (claimed []Claimed, err error)
	// RetryDelivery ends attempt number attempt with the message still
	// pending, unlocked and due at at; reason is shown meanwhile. A later
	// attempt took over, or the message is settled: ErrConflict.
	RetryDelivery(ctx context.Context, messageID int64, attempt int, at time.Time, reason string) error
	// FinishDeliveries records sent or failed for each attempt, in one
	// transaction, and answers the id of each conversation's next pending
	// message (0 if none); a later attempt took over or the message is
	// settled: its Err is ErrConflict. err is for the whole batch.
	FinishDeliveries(ctx context.Context, fs []Finish) (finished []Finished, err error)
	// FailDelivery records a failure of the message itself, which counts
	// toward quarantine: pending and due at next, or at the maxFailures-th
	// such failure dead (failed for good). attempt as for RetryDelivery,
	// or 0 when unknown.
	FailDelivery(ctx context.Context, messageID int64, attempt int, reason string, next time.Time, maxFailures int, now time.Time) (Dead, error)
	// NextDeliveryAt is the earliest time a conversation's first pending
	// message becomes due (readiness only); ok is false when none is.
	NextDeliveryAt(ctx context.Context) (at time.Time, ok bool, err error)
}

// Claim asks for one attempt at a message; Claimed answers it.
type Claim struct {
	MessageID int64
	RetryKey  string // fixed unless the message has one
}

// Claimed is the answer to a Claim.
type Claimed struct {
	Attempt  int
	RetryKey string
	Err      error // ErrConflict or ErrNotHead: not claimed
}

// Finish is the final outcome of one attempt; Finished answers it.
type Finish struct {
	MessageID int64
	Attempt   int
	Status    chat.DeliveryStatus // sent or failed
	Reason    string
}

// Finished is the answer to a Finish.
type Finished struct {
	Next int64 // the conversation's next pending message, 0 if none
	Err  error // ErrConflict: a later attempt took over, or it was settled
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
	// PollInterval is how often the outbox scans the table for rows no
	// attempt holds: what other instances left behind when they died.
	PollInterval time.Duration
	// MaxFailures quarantines a message after this many attempts that
	// failed because of the message itself (it cannot be read back, or
	// pushing it panicked); LINE and database failures do not count.
	MaxFailures int
	// MaxQueued bounds the messages held in memory; past it, new ones stay
	// in the table until the queues drain (a long LINE outage).
	MaxQueued int
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
	DefaultMaxQueued      = 20000
)

// Bounds of the in-memory hand-off and of one scan's read.
const (
	handoffQueue = 4096
	scanBatch    = 500
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
	if c.MaxQueued <= 0 {
		c.MaxQueued = DefaultMaxQueued
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

	in       chan Delivery      // Enqueue's hand-off
	kick     chan struct{}      // capacity 1: wakes Run
	scanSoon atomic.Bool        // the hand-off overflowed: scan at once
	syncc    chan chan struct{} // Sync's requests
	results  chan outcome       // attempts report here
	running  atomic.Bool

	// For Health, written by Run.
	lastAttempt atomic.Int64           // unix ns of the last claim (or Run's start)
	paused      atomic.Int64           // unix ns until which LINE asked us to wait
	lineTrouble atomic.Pointer[string] // the last transient LINE failure; nil after a success

	// Owned by the Run goroutine.
	convs       map[string]*conv // conversations with pending messages in memory
	known       map[int64]bool   // ids in memory (queued or in flight)
	ready       []*conv          // conversations whose head may be attempted now
	retries     retryHeap        // conversations waiting for their head's retry
	inflight    int
	stopping    bool // Run's ctx ended; draining
	nextScan    time.Time
	timer       clock.Timer
	pausedUntil time.Time           // after a 429: LINE's rate limit is per channel
	rowFailures map[int64]int       // this run's failures of a message itself, for their backoff
	reload      map[int64]time.Time // rows that could not be read back, and when to try again
	overflow    bool                // messages were left in the table for want of room
	observed    []Result            // settled outside an attempt, for Observe
	finishing   []finishing         // final outcomes to store, together
	claimLog    *ratelimit.Sampler  // claims failing on the database: one line per 10 s
}

// conv is one conversation's pending messages, in seq order.
type conv struct {
	key       string // line_user_id
	queue     []*Delivery
	busy      bool // the head is being pushed, or waits for its retry
	pushing   bool // the head is being pushed
	blocked   bool // the head waits for an earlier message that is not in memory
	inReady   bool
	retryAt   time.Time // while waiting for a retry
	index     int       // in retries; -1 when not there
	dbFailure int       // claims that failed on the database in a row, for their backoff
}

// finishing is a final outcome waiting to be stored with the others of
// the same moment (flushFinishes).
type finishing struct {
	c         *conv
	d         Delivery
	status    chat.DeliveryStatus
	reason    string
	retryable bool
}

// outcome is what an attempt goroutine reports.
type outcome struct {
	c   *conv
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
		in:          make(chan Delivery, handoffQueue),
		kick:        make(chan struct{}, 1),
		syncc:       make(chan chan struct{}),
		results:     make(chan outcome, cfg.Workers),
		convs:       map[string]*conv{},
		known:       map[int64]bool{},
		rowFailures: map[int64]int{},
		reload:      map[int64]time.Time{},
		claimLog:    ratelimit.NewSampler(10*time.Second, clk),
	}
}

// Enqueue hands a stored, pending operator message to Run. It never
// blocks: should the hand-off be full, the row is found by a scan started
// at once. chat.Service stores the retry key and temp id with the message;
// a message stored without a key gets one when it is claimed.
func (o *Outbox) Enqueue(_ context.Context, m chat.Message, tempID string) error {
	select {
	case o.in <- Delivery{Message: m, RetryKey: m.RetryKey, TempID: tempID}:
	default:
		o.scanSoon.Store(true)
	}
	o.Kick()
	return nil
}

// Kick wakes Run. It never blocks.
func (o *Outbox) Kick() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Sync makes Run scan the table now and returns once it has, and has
// scheduled its next wake-up. Tests call it after moving a fake clock, so
// that the next Advance finds the outbox's timer in place.
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
	now := o.clock.Now()
	o.lastAttempt.Store(now.UnixNano())
	o.log.Info("outbox started", "workers", o.cfg.Workers)
	o.scan(ctx, now) // recovery: what a previous run left
	for {
		o.step(ctx)
		select {
		case <-ctx.Done():
			o.stop(ctx)
			o.log.Info("outbox stopped")
			return nil
		case d := <-o.in:
			o.add(d)
			o.drainIn()
		case <-o.kick:
			o.drainIn()
			o.wake(ctx)
		case done := <-o.syncc:
			o.drainIn()
			o.scan(ctx, o.clock.Now())
			o.step(ctx)
			close(done)
		case r := <-o.results:
			// Every attempt that has ended is settled together: one
			// transaction for their outcomes.
			done := []Result{o.settle(ctx, r)}
			for more := true; more; {
				select {
				case r := <-o.results:
					done = append(done, o.settle(ctx, r))
				default:
					more = false
				}
			}
			o.flushFinishes(ctx)
			o.step(ctx)
			for _, res := range done {
				o.observe(res)
			}
		}
	}
}

// drainIn takes every message Enqueue has handed over.
func (o *Outbox) drainIn() {
	for {
		select {
		case d := <-o.in:
			o.add(d)
		default:
			return
		}
	}
}

// wake handles what a timer or a kick is for: retries that fell due, and
// the scan when its time has come (or the hand-off overflowed).
func (o *Outbox) wake(ctx context.Context) {
	now := o.clock.Now()
	for len(o.retries) > 0 && !o.retries[0].retryAt.After(now) {
		c := heap.Pop(&o.retries).(*conv)
		c.busy, c.retryAt = false, time.Time{}
		o.markReady(c)
	}
	var again []int64
	for id, at := range o.reload {
		if !at.After(now) {
			delete(o.reload, id)
			if !o.known[id] {
				again = append(again, id)
			}
		}
	}
	if len(again) > 0 {
		o.load(ctx, again)
	}
	if o.scanSoon.Swap(false) || !now.Before(o.nextScan) {
		o.scan(ctx, now)
	}
}

// step starts attempts while workers are free, then arms the timer, and
// reports what was settled without an attempt.
func (o *Outbox) step(ctx context.Context) {
	o.dispatch(ctx)
	o.arm()
	for _, res := range o.observed {
		o.observe(res)
	}
	o.observed = o.observed[:0]
}

func (o *Outbox) observe(res Result) {
	if o.cfg.Observe != nil {
		o.cfg.Observe(res)
	}
}

// add puts d in its conversation's queue, in seq order, once. Memory is
// bounded: past MaxQueued messages, d stays in the table only, and a scan
// takes it when the queues have drained.
func (o *Outbox) add(d Delivery) {
	if o.known[d.Message.ID] || d.Message.ID == 0 {
		return
	}
	if len(o.known) >= o.cfg.MaxQueued {
		o.overflow = true
		return
	}
	o.known[d.Message.ID] = true
	c := o.convs[d.Message.LineUserID]
	if c == nil {
		c = &conv{key: d.Message.LineUserID, index: -1}
		o.convs[c.key] = c
	}
	i, _ := slices.BinarySearchFunc(c.queue, d.Message.Seq, func(x *Delivery, seq int64) int {
		switch {
		case x.Message.Seq < seq:
			return -1
		case x.Message.Seq > seq:
			return 1
		}
		return 0
	})
	if i == 0 && c.pushing {
		i = 1 // never in front of the message being pushed
	}
	c.queue = slices.Insert(c.queue, i, &d)
	c.blocked = false
	if i == 0 && c.index >= 0 {
		// An earlier message than the one waiting for its retry: it goes
		// first, now (handed over after a later one, e.g. from one batch).
		heap.Remove(&o.retries, c.index)
		c.busy, c.retryAt = false, time.Time{}
	}
	if !c.busy {
		o.markReady(c)
	}
}

func (o *Outbox) markReady(c *conv) {
	if !c.inReady && !c.busy && len(c.queue) > 0 {
		c.inReady = true
		o.ready = append(o.ready, c)
	}
}

// pop removes c's head; a conversation left with nothing is forgotten.
func (o *Outbox) pop(c *conv) {
	if len(c.queue) > 0 {
		delete(o.known, c.queue[0].Message.ID)
		delete(o.rowFailures, c.queue[0].Message.ID)
		c.queue[0] = nil
		c.queue = c.queue[1:]
	}
	if len(c.queue) == 0 && !c.busy && !c.inReady && c.index < 0 {
		delete(o.convs, c.key)
	}
	if o.overflow && len(o.known) <= o.cfg.MaxQueued/2 {
		o.overflow = false
		o.scanSoon.Store(true) // take what did not fit
		o.Kick()
	}
}

// dispatch claims the heads of ready conversations, as many as workers
// are free, in one transaction, and starts their pushes; again while that
// made new heads ready and workers are free, unless LINE asked us to wait.
func (o *Outbox) dispatch(ctx context.Context) {
	for ctx.Err() == nil {
		now := o.clock.Now()
		if now.Before(o.pausedUntil) {
			break
		}
		var batch []*conv
		for len(o.ready) > 0 && o.inflight+len(batch) < o.cfg.Workers {
			c := o.ready[0]
			o.ready[0] = nil
			o.ready = o.ready[1:]
			c.inReady = false
			if !c.busy && len(c.queue) > 0 {
				batch = append(batch, c)
			}
		}
		if len(batch) == 0 {
			break
		}
		o.start(ctx, batch, now)
		// Give-ups settle at once; their conversations' next messages
		// are then ready for this same round.
		o.flushFinishes(ctx)
	}
	if len(o.ready) == 0 {
		o.ready = nil // let the backing array go
	}
}

// start claims the heads of batch and pushes those it got.
func (o *Outbox) start(ctx context.Context, batch []*conv, now time.Time) {
	o.lastAttempt.Store(now.UnixNano())
	claims := make([]Claim, len(batch))
	for i, c := range batch {
		claims[i] = Claim{MessageID: c.queue[0].Message.ID, RetryKey: uuid.NewString()}
	}
	got, err := o.store.ClaimDeliveries(ctx, claims, now, now.Add(o.cfg.Lock))
	if err != nil {
		// Shutting down: the messages stay pending for the next run.
		if ctx.Err() == nil {
			if ok, n := o.claimLog.Allow(); ok {
				o.log.Error("claim deliveries", "messages", len(batch), "err", err, "suppressed", n)
			}
		}
		for _, c := range batch {
			c.dbFailure++
			o.waitRetry(c, now.Add(o.backoff(c.dbFailure)))
		}
		return
	}
	for i, c := range batch {
		o.started(ctx, c, got[i], now)
	}
}

// started acts on the claim of c's head.
func (o *Outbox) started(ctx context.Context, c *conv, got Claimed, now time.Time) {
	switch {
	case errors.Is(got.Err, ErrNotHead):
		c.blocked = true // an earlier message is not ours; the scan or its sender hands it over
		return
	case got.Err != nil:
		o.pop(c) // another instance has it, or it is settled
		o.markReady(c)
		return
	}
	c.dbFailure = 0
	d := c.queue[0]
	d.Attempts, d.RetryKey = got.Attempt, got.RetryKey
	// Tried before and out of LINE's 24 h retry-key window (the server was
	// down): a push now might be a second copy, so give up instead.
	if d.Attempts > 1 && now.Sub(d.Message.CreatedAt) >= o.cfg.GiveUpAfter {
		const reason = "LINE did not confirm the delivery in time; please resend"
		o.finish(c, *d, chat.DeliveryFailed, reason, true)
		o.observed = append(o.observed, Result{MessageID: d.Message.ID, LineUserID: d.Message.LineUserID,
			Attempt: d.Attempts, Status: chat.DeliveryFailed, Reason: reason})
		return
	}
	c.busy, c.pushing = true, true
	o.inflight++
	go o.attempt(ctx, c, *d)
}

// errPanic marks an attempt whose push panicked: the message's own fault
// as far as the outbox can tell, so it counts toward quarantine.
var errPanic = errors.New("outbox: push panicked")

// attempt is one push; Run owns it and waits for its outcome.
func (o *Outbox) attempt(ctx context.Context, c *conv, d Delivery) {
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
		o.results <- outcome{c: c, d: d, err: err}
	}()
	actx, cancel := context.WithTimeout(ctx, o.cfg.AttemptTimeout)
	defer cancel()
	err = o.push.Push(actx, d.Message.LineUserID, []line.Message{line.Text(d.Message.Content)}, d.RetryKey)
}

// settle stores an attempt's outcome and tells the sender.
func (o *Outbox) settle(ctx context.Context, r outcome) Result {
	c, d := r.c, r.d
	o.inflight--
	c.busy, c.pushing = false, false
	if errors.Is(r.err, errPanic) {
		return o.rowFailed(ctx, c, d, r.err.Error())
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
		o.finish(c, d, v.status, v.reason, v.retryable)
		return res
	}
	res.NextAttempt = now.Add(wait)
	o.log.Warn("delivery will be retried", "message_id", d.Message.ID, "line_user_id", d.Message.LineUserID,
		"attempt", d.Attempts, "retry_in", wait, "reason", v.reason)
	if err := o.store.RetryDelivery(ctx, d.Message.ID, d.Attempts, res.NextAttempt, v.reason); err != nil {
		o.storeFailed("retry", d, err)
		if errors.Is(err, chat.ErrConflict) {
			o.pop(c) // another attempt took it over
			o.markReady(c)
			return res
		}
	}
	if !o.stopping {
		o.waitRetry(c, res.NextAttempt)
	}
	return res
}

// waitRetry parks c until at.
func (o *Outbox) waitRetry(c *conv, at time.Time) {
	c.busy, c.retryAt = true, at
	heap.Push(&o.retries, c)
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
// later messages go out. c is nil for a row no conversation holds yet.
func (o *Outbox) rowFailed(ctx context.Context, c *conv, d Delivery, reason string) Result {
	id := d.Message.ID
	o.rowFailures[id]++
	now := o.clock.Now()
	next := now.Add(o.backoff(o.rowFailures[id]))
	dead, err := o.store.FailDelivery(ctx, id, d.Attempts, reason, next, o.cfg.MaxFailures, now)
	res := Result{MessageID: id, LineUserID: d.Message.LineUserID, Attempt: d.Attempts, Status: chat.DeliveryPending, Reason: reason, NextAttempt: next}
	if errors.Is(err, chat.ErrConflict) {
		// Settled or taken meanwhile (another instance quarantined it):
		// nothing more for this one to do.
		o.storeFailed("failure", d, err)
		delete(o.rowFailures, id)
		if c != nil {
			o.pop(c)
			o.markReady(c)
		}
		res.Status, res.NextAttempt = chat.DeliveryFailed, time.Time{}
		return res
	}
	if err != nil {
		o.storeFailed("failure", d, err)
		if c != nil {
			o.waitRetry(c, next)
		}
		return res
	}
	res.LineUserID = dead.LineUserID
	if !dead.Dead {
		o.log.Warn("delivery failed on the message itself, will retry", "message_id", id, "retry_in", next.Sub(now), "reason", reason)
		if c != nil {
			o.waitRetry(c, next)
		}
		return res
	}
	delete(o.rowFailures, id)
	o.log.Error("delivery quarantined: the message keeps failing on its own", "message_id", id,
		"line_user_id", dead.LineUserID, "failures", o.cfg.MaxFailures, "reason", reason)
	res.Status, res.NextAttempt = chat.DeliveryFailed, time.Time{}
	if c != nil {
		o.pop(c)
		o.markReady(c)
	} else if c := o.convs[dead.LineUserID]; c != nil && c.blocked {
		c.blocked = false // it waited for this one
		o.markReady(c)
	}
	if o.notify != nil {
		m := chat.Message{ID: id, LineUserID: dead.LineUserID, OperatorID: dead.OperatorID,
			DeliveryStatus: chat.DeliveryFailed, DeliveryError: reason}
		o.notify.MessageFailed(ctx, m, dead.TempID, "The message could not be delivered; please send it again", true)
	}
	return res
}

// finish queues a final outcome; flushFinishes stores it. The head stays
// in place, busy, until then: the conversation's next message may be
// claimed only once this one is settled.
func (o *Outbox) finish(c *conv, d Delivery, status chat.DeliveryStatus, reason string, retryable bool) {
	c.busy = true
	o.finishing = append(o.finishing, finishing{c: c, d: d, status: status, reason: reason, retryable: retryable})
}

// flushFinishes stores the queued outcomes in one transaction, tells the
// senders, and moves each conversation on to its next message: also one
// another instance stored, which the store names to hand it over.
func (o *Outbox) flushFinishes(ctx context.Context) {
	if len(o.finishing) == 0 {
		return
	}
	fs := o.finishing
	o.finishing = nil
	batch := make([]Finish, len(fs))
	for i, f := range fs {
		batch[i] = Finish{MessageID: f.d.Message.ID, Attempt: f.d.Attempts, Status: f.status, Reason: f.reason}
	}
	done, err := o.store.FinishDeliveries(ctx, batch)
	var next []int64
	for i, f := range fs {
		c, d := f.c, f.d
		c.busy = false
		o.pop(c)
		ferr := err
		if ferr == nil {
			ferr = done[i].Err
		}
		if ferr != nil {
			// The row keeps its lock; when that ends it is retried with its
			// key (a 409 then counts as sent).
			o.storeFailed("finish", d, ferr)
			o.markReady(c)
			continue
		}
		m := d.Message
		m.DeliveryStatus, m.DeliveryError = f.status, f.reason
		if f.status == chat.DeliverySent {
			o.log.Debug("delivered", "message_id", d.Message.ID, "attempt", d.Attempts)
			if o.notify != nil {
				o.notify.MessageDelivered(ctx, m, d.TempID)
			}
		} else {
			o.log.Warn("delivery failed", "message_id", d.Message.ID, "line_user_id", d.Message.LineUserID,
				"attempt", d.Attempts, "reason", f.reason)
			if o.notify != nil {
				o.notify.MessageFailed(ctx, m, d.TempID, f.reason, f.retryable)
			}
		}
		if n := done[i].Next; n != 0 && !o.known[n] && !o.stopping {
			next = append(next, n)
		}
		o.markReady(c)
	}
	if len(next) > 0 {
		o.load(ctx, next)
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

// scan takes over the pending rows no attempt holds, in batches: at
// start, what a previous run left; later, at most every PollInterval,
// what dead instances left. It also retries conversations whose head was
// blocked behind a message that was not in memory.
func (o *Outbox) scan(ctx context.Context, now time.Time) {
	o.nextScan = o.nextScanAfter(now)
	for _, c := range o.convs {
		if c.blocked {
			c.blocked = false
			o.markReady(c)
		}
	}
	var after int64
	for range 100 { // bounded: at most this many batches per scan
		room := o.cfg.MaxQueued - len(o.known)
		if room <= 0 {
			o.overflow = true
			return
		}
		ids, err := o.store.PendingDeliveries(ctx, now, after, min(scanBatch, room))
		if err != nil {
			if ctx.Err() == nil {
				o.log.Error("scan pending deliveries", "err", err)
			}
			return
		}
		if len(ids) == 0 {
			return
		}
		after = ids[len(ids)-1]
		fresh := ids[:0:0]
		for _, id := range ids {
			if _, waits := o.reload[id]; !o.known[id] && !waits {
				fresh = append(fresh, id)
			}
		}
		o.load(ctx, fresh)
		if len(ids) < min(scanBatch, room) {
			return
		}
	}
}

// nextScanAfter keeps the scans on a fixed grid, so that a clock that
// jumps does not push the next one further out.
func (o *Outbox) nextScanAfter(now time.Time) time.Time {
	if o.nextScan.IsZero() {
		return now.Add(o.cfg.PollInterval)
	}
	next := o.nextScan
	for !next.After(now) {
		next = next.Add(o.cfg.PollInterval)
	}
	return next
}

// load reads messages into memory; one that cannot be read back counts as
// its own failure.
func (o *Outbox) load(ctx context.Context, ids []int64) {
	ds, unreadable, err := o.store.LoadDeliveries(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Error("load deliveries", "err", err)
		}
		return
	}
	for _, d := range ds {
		if d.Message.DeliveryStatus != chat.DeliveryPending {
			continue
		}
		o.add(d)
		if c := o.convs[d.Message.LineUserID]; c != nil && len(c.queue) > 0 && c.queue[0].Message.ID == d.Message.ID &&
			!c.busy && d.NextAttemptAt.After(o.clock.Now()) {
			// A retry a previous run scheduled: wait for it.
			o.ready = slices.DeleteFunc(o.ready, func(x *conv) bool { return x == c })
			c.inReady = false
			o.waitRetry(c, d.NextAttemptAt)
		}
	}
	for id, err := range unreadable {
		res := o.rowFailed(ctx, nil, Delivery{Message: chat.Message{ID: id}}, err.Error())
		if res.Status == chat.DeliveryPending {
			o.reload[id] = res.NextAttempt
		}
		o.observed = append(o.observed, res)
	}
}

// stop settles the attempts in flight, with a short context of their own,
// ctx being over.
func (o *Outbox) stop(ctx context.Context) {
	o.stopping = true
	defer func() { o.stopping = false }()
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var done []Result
	for o.inflight > 0 {
		done = append(done, o.settle(sctx, <-o.results))
	}
	o.flushFinishes(sctx)
	for _, res := range done {
		o.observe(res)
	}
}

// backoff is the wait after failed attempt n (1-based).
func (o *Outbox) backoff(n int) time.Duration {
	return clock.Backoff(n, o.cfg.MinBackoff, o.cfg.MaxBackoff)
}

// arm sets the single timer to the next thing to do: a retry, the end of
// LINE's pause while messages wait, or the scan.
func (o *Outbox) arm() {
	at := o.nextScan
	if len(o.retries) > 0 && o.retries[0].retryAt.Before(at) {
		at = o.retries[0].retryAt
	}
	if len(o.ready) > 0 && o.pausedUntil.After(o.clock.Now()) && o.pausedUntil.Before(at) {
		at = o.pausedUntil // messages wait for LINE's pause; busy workers wake Run themselves
	}
	for _, t := range o.reload {
		if t.Before(at) {
			at = t
		}
	}
	if o.timer != nil {
		o.timer.Stop()
	}
	o.timer = o.clock.AfterFunc(max(at.Sub(o.clock.Now()), 0), o.Kick)
}

// retryHeap orders waiting conversations by their retry time.
type retryHeap []*conv

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].retryAt.Before(h[j].retryAt) }
func (h retryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *retryHeap) Push(x any) {
	c := x.(*conv)
	c.index = len(*h)
	*h = append(*h, c)
}
func (h *retryHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	c.index = -1
	*h = old[:len(old)-1]
	return c
}

package line

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"livechat/internal/clock"
)

// Loading animation defaults: typing_start is renewed by the dashboard
// while the operator types, so each call asks for a little more than the
// renewal interval, and the animation fades at most ~10 s after the last
// keystroke (LINE also hides it as soon as our message arrives).
const (
	DefaultLoadingSeconds = 10
	DefaultLoadingRenew   = 5 * time.Second
	defaultLoadingTimeout = 5 * time.Second
	defaultLoadingQueue   = 256
)

// LoadingOptions tunes Loading; zero values take the defaults.
type LoadingOptions struct {
	Seconds int           // animation length per call (5..60, a multiple of 5)
	Renew   time.Duration // at most one call per user per Renew
	Timeout time.Duration // per call
	Queue   int           // calls waiting for Run; more are dropped
}

// Loading turns "an operator is typing" into LINE's loading animation in
// the customer's chat, debounced per user. Start never blocks: calls are
// queued to the goroutine running Run, so a slow LINE never stalls a socket.
type Loading struct {
	client *Client
	clock  clock.Clock
	log    *slog.Logger
	opts   LoadingOptions
	queue  chan string

	mu        sync.Mutex
	last      map[string]time.Time // user → when its last call was queued
	lastPrune time.Time
}

// NewLoading returns a Loading that calls c; run it with Run.
func NewLoading(c *Client, clk clock.Clock, log *slog.Logger, opts LoadingOptions) *Loading {
	if opts.Seconds == 0 {
		opts.Seconds = DefaultLoadingSeconds
	}
	if opts.Renew <= 0 {
		opts.Renew = DefaultLoadingRenew
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultLoadingTimeout
	}
	if opts.Queue <= 0 {
		opts.Queue = defaultLoadingQueue
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Loading{
		client: c,
		clock:  clk,
		log:    log.With("component", "line_loading"),
		opts:   opts,
		queue:  make(chan string, opts.Queue),
		last:   map[string]time.Time{},
	}
}

// Start asks for the animation in userID's chat, unless one was asked for
// less than Renew ago, no token is configured, or the queue is full. It
// reports whether a call was queued.
func (l *Loading) Start(userID string) bool {
	if !l.client.Configured() || userID == "" {
		return false
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[userID]; ok && now.Sub(t) < l.opts.Renew {
		return false
	}
	select {
	case l.queue <- userID:
	default:
		l.log.Debug("loading queue full; dropped")
		return false
	}
	l.last[userID] = now
	l.prune(now)
	return true
}

// prune forgets users whose debounce ended, at most once per Renew, so the
// map holds only the users typing right now. The caller holds mu.
func (l *Loading) prune(now time.Time) {
	if now.Sub(l.lastPrune) < l.opts.Renew {
		return
	}
	l.lastPrune = now
	for u, t := range l.last {
		if now.Sub(t) >= l.opts.Renew {
			delete(l.last, u)
		}
	}
}

// Run makes the queued calls until ctx ends. Failures are logged only: the
// animation is a courtesy.
func (l *Loading) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case user := <-l.queue:
			cctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
			err := l.client.StartLoading(cctx, user, l.opts.Seconds)
			cancel()
			if err != nil && ctx.Err() == nil {
				l.log.Debug("start loading animation", "line_user_id", user, "err", err)
			}
		}
	}
}

package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/clock"
	"livechat/internal/ratelimit"
)

// Redis fans messages out over pub/sub: room frames on a channel per room,
// which an instance subscribes to while it has a socket in the room
// (rooms.go), the rest on one channel. Publish hands a message
// to this instance's handlers itself, synchronously and in publish order as
// Memory does, and queues it for Redis, for the other instances; this
// instance's own messages, which Redis sends back to it, are recognised by
// the bus id in their envelope and skipped. So this instance's sockets never
// wait for Redis, and work on while it is down.
//
// Three goroutines, owned by the bus and stopped by Close: the sender
// drains the bounded queue, pipelining what waits into one round trip; the
// receiver calls the handlers with the other instances' messages in the
// order Redis delivers them; the subscriber follows the rooms watched.
// Pub/sub is at-most-once: what is published while Redis is down or the
// queue is full is not sent (Dropped counts it), and what other instances
// publish while the subscription is lost never arrives (OnReconnect is the
// hook to refill it).
type Redis struct {
	client  *redis.Client
	channel string
	log     *slog.Logger
	opt     RedisOptions
	id      string // this bus instance, in every envelope it publishes
	self    string // the prefix of those envelopes' JSON

	mu         sync.RWMutex // handlers, hooks, closed; held (read) while handlers run
	handlers   []Handler
	reconnects []func()
	closed     bool

	queue   chan Message  // for the other instances; closed by Close
	stop    chan struct{} // closed by Close
	dropped atomic.Uint64
	sent    atomic.Uint64      // messages Redis took for the other instances
	recv    atomic.Uint64      // the other instances' messages handed to the handlers
	missed  atomic.Bool        // dropped since the last Resync went out
	nudge   chan struct{}      // wakes the sender for a Resync when Redis is back
	full    *ratelimit.Sampler // "queue full" log lines
	bad     *ratelimit.Sampler // "malformed message" log lines

	psMu   sync.Mutex // pubsub, replaced when a silent connection is given up
	pubsub *redis.PubSub

	roomsMu sync.Mutex            // the room subscriptions (rooms.go)
	rooms   map[string]*roomWatch // watched rooms
	subbed  map[string]struct{}   // room channels subscribed to, as far as SUBSCRIBE was sent
	pending map[string]int        // SUBSCRIBEs sent per channel and not yet confirmed
	dirty   map[string]struct{}   // rooms watched or given up since the subscriber last ran
	kick    chan struct{}         // wakes the subscriber
	subDone chan struct{}

	stateMu  sync.Mutex
	pubDown  bool        // a round trip failed, and no ping has answered since
	subDown  bool        // the subscription is lost
	healthy  atomic.Bool // neither: while not, Publish drops for the others
	downAt   time.Time
	downDrop uint64 // dropped when the outage began

	runCtx   context.Context // cancelled by Close: the receiver and the sender's waits
	cancel   context.CancelFunc
	sendCtx  context.Context // the sender's round trips; cancelled when Close's grace ends
	sendStop context.CancelFunc
	recvDone chan struct{}
	sendDone chan struct{}
}

// RedisOptions tune a Redis bus; a zero field takes its default.
type RedisOptions struct {
	// Queue is how many messages may wait to be sent to Redis (4096);
	// Publish drops for the other instances beyond it.
	Queue int
	// Batch is the most messages sent in one round trip (256).
	Batch int
	// HealthEvery is how long the subscription may be idle before it is
	// pinged (5 s); with no answer within as long again, the connection is
	// given up and dialled afresh.
	HealthEvery time.Duration
	// CloseGrace bounds how long Close waits for the queue to reach Redis (2 s).
	CloseGrace time.Duration
}

func (o *RedisOptions) defaults() {
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.HealthEvery <= 0 {
		o.HealthEvery = 5 * time.Second
	}
	if o.CloseGrace <= 0 {
		o.CloseGrace = 2 * time.Second
	}
}

// Reconnect backoff of the subscription and of the publisher's probe.
const (
	backoffLo = 50 * time.Millisecond
	backoffHi = 2 * time.Second
)

// envelope is a message as it travels over Redis, but for its frame:
// {"bus":…,"origin":…,"audience":{…},"seq":…,"frame":…}. Bus comes first,
// so that the receiver tells its own from the JSON's prefix; the frame
// comes last, spliced in as it is (encoding/json would compact and copy
// it, the bulk of the bus's CPU).
type envelope struct {
	Bus      string   `json:"bus"`
	Origin   string   `json:"origin"`
	Audience Audience `json:"audience"`
	Seq      int64    `json:"seq,omitempty"`
}

// frameKey separates the envelope's head from its frame. It cannot occur
// earlier: inside the head's strings a quote is escaped.
const frameKey = `,"frame":`

// encode appends m's envelope to dst. m.Frame must be JSON (the hub
// marshals every frame).
func (b *Redis) encode(dst []byte, m Message) ([]byte, error) {
	head, err := json.Marshal(envelope{Bus: b.id, Origin: m.Origin, Audience: m.Audience, Seq: m.Seq})
	if err != nil {
		return dst, fmt.Errorf("bus: encode: %w", err)
	}
	dst = append(dst, head[:len(head)-1]...)
	dst = append(dst, frameKey...)
	dst = append(dst, m.Frame...)
	return append(dst, '}'), nil
}

// decode reads an envelope: the head with encoding/json, the frame as it
// is once it is valid JSON. Anything else (an older instance's message,
// with the frame elsewhere) is decoded whole.
func decode(payload string) (Message, error) {
	if i := strings.Index(payload, frameKey); i > 0 && payload[len(payload)-1] == '}' {
		var env envelope
		frame := []byte(payload[i+len(frameKey) : len(payload)-1])
		if json.Valid(frame) && json.Unmarshal([]byte(payload[:i]+"}"), &env) == nil {
			return Message{Origin: env.Origin, Audience: env.Audience, Frame: frame, Seq: env.Seq}, nil
		}
	}
	var m Message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return Message{}, fmt.Errorf("bus: decode: %w", err)
	}
	return m, nil
}

// NewRedis connects to url, subscribes to channel and waits for the
// subscription to be confirmed, so that nothing published afterwards is missed.
func NewRedis(ctx context.Context, url, channel string, log *slog.Logger, opt RedisOptions) (*Redis, error) {
	opt.defaults()
	quietRedis(log)
	ropt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("bus: redis url: %w", err)
	}
	client := redis.NewClient(ropt)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("bus: redis ping: %w", err)
	}
	ps := client.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		client.Close()
		return nil, fmt.Errorf("bus: redis subscribe %s: %w", channel, err)
	}
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	id := hex.EncodeToString(raw)
	b := &Redis{
		client: client, channel: channel, log: log, opt: opt, id: id, self: `{"bus":"` + id + `"`,
		queue:  make(chan Message, opt.Queue),
		stop:   make(chan struct{}),
		full:   ratelimit.NewSampler(10*time.Second, clock.Real{}),
		bad:    ratelimit.NewSampler(10*time.Second, clock.Real{}),
		pubsub: ps,
		rooms:  map[string]*roomWatch{}, subbed: map[string]struct{}{}, pending: map[string]int{}, dirty: map[string]struct{}{},
		kick: make(chan struct{}, 1), nudge: make(chan struct{}, 1),
		recvDone: make(chan struct{}), sendDone: make(chan struct{}), subDone: make(chan struct{}),
	}
	b.healthy.Store(true)
	b.runCtx, b.cancel = context.WithCancel(context.Background())
	b.sendCtx, b.sendStop = context.WithCancel(context.Background())
	go b.receive(ps)
	go b.send()
	go b.subscriber()
	return b, nil
}

func (b *Redis) Subscribe(h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers = append(b.handlers, h)
}

// OnReconnect registers f, called each time the subscription is back after
// it was lost (Redis restarted, the connection broke), and each time
// another instance says (Resync) it dropped messages for the others (Redis
// was down for its publisher alone, or its queue was full): those messages
// never arrive, and f is where to refill them from the database. It runs
// on the receiver, before any
// message that arrives on the new subscription is handed to the handlers,
// so it must not block for long; it is never called for the first
// subscription, which NewRedis waits for.
func (b *Redis) OnReconnect(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reconnects = append(b.reconnects, f)
}

// Publish hands m to this instance's handlers, then queues it for the
// other instances; it never waits for Redis. While Redis is down (not
// Healthy) or the queue is full, m is dropped for the others and counted
// (Dropped); that is no error. The bus keeps m.Frame until it is sent: do not modify it.
func (b *Redis) Publish(_ context.Context, m Message) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	for _, h := range b.handlers {
		h(m)
	}
	if !b.healthy.Load() {
		b.drop(1)
		return nil
	}
	select {
	case b.queue <- m:
	default:
		b.drop(1)
		if ok, n := b.full.Allow(); ok {
			b.log.Warn("bus: redis publish queue full: dropping for the other instances", "queue", b.opt.Queue, "suppressed", n)
		}
	}
	return nil
}

// drop counts n messages not sent, and has the others told (resync).
func (b *Redis) drop(n int) {
	b.dropped.Add(uint64(n))
	b.missed.Store(true)
}

// Dropped is how many messages were not sent to Redis, since the start:
// published while Redis was down or the queue full, or lost in a failed
// round trip.
func (b *Redis) Dropped() uint64 { return b.dropped.Load() }

// Healthy reports whether Redis is up as far as this bus knows: its last
// round trip succeeded and its subscription stands.
func (b *Redis) Healthy() bool { return b.healthy.Load() }

// Ready is the readiness check: nil when the bus has Redis up (Healthy)
// and Redis answers a ping now, so that a Redis that just went away shows
// at once.
func (b *Redis) Ready(ctx context.Context) error {
	if !b.Healthy() {
		return errors.New("bus: redis down: a round trip failed or the subscription is lost")
	}
	return b.Ping(ctx)
}

// Ping checks that Redis answers.
func (b *Redis) Ping(ctx context.Context) error {
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("bus: redis ping: %w", err)
	}
	return nil
}

// Close stops delivery, gives what is queued up to CloseGrace to reach
// Redis (none while Redis is down), stops both goroutines and waits for
// them. Against a Redis that
// accepts connections and never answers, a round trip or dial under way
// may hold it up to go-redis's read or dial timeout more.
func (b *Redis) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.handlers, b.reconnects = nil, nil
	close(b.queue) // no Publish is queueing: they hold mu
	close(b.stop)
	b.mu.Unlock()

	if !b.Healthy() {
		b.sendStop() // Redis is down: nothing queued would get through
	}
	grace := time.NewTimer(b.opt.CloseGrace)
	select {
	case <-b.sendDone:
	case <-grace.C:
		b.sendStop()
		<-b.sendDone
	}
	grace.Stop()
	b.sendStop()

	b.cancel()
	<-b.subDone
	b.psMu.Lock()
	err := b.pubsub.Close()
	if errors.Is(err, redis.ErrClosed) {
		err = nil // the receiver was replacing it
	}
	b.pubsub = nil
	b.psMu.Unlock()
	<-b.recvDone
	if cerr := b.client.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bus: redis close: %w", err)
	}
	return nil
}

// send is the sender goroutine: it pipelines what the queue holds, up to
// Batch messages a round trip, until Close closes the queue.
func (b *Redis) send() {
	defer close(b.sendDone)
	batch := make([]Message, 0, b.opt.Batch)
	for {
		batch = batch[:0]
		select {
		case m, ok := <-b.queue:
			if !ok {
				return
			}
			batch = append(batch, m)
		case <-b.nudge: // the Resync alone, unless more waits
		}
	fill:
		for len(batch) < b.opt.Batch {
			select {
			case m, ok := <-b.queue:
				if !ok {
					break fill // send these, then the next receive ends it
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		b.flushOrProbe(batch)
		clear(batch) // let the frames go
		if b.sendCtx.Err() != nil {
			return // Close's grace is over
		}
	}
}

// flushOrProbe sends batch; when that fails, it waits for Redis to answer
// again and sends the others the resync what was dropped meanwhile calls for.
func (b *Redis) flushOrProbe(batch []Message) {
	for {
		err := b.flush(batch)
		if err == nil {
			return
		}
		b.drop(len(batch))
		if b.sendCtx.Err() != nil {
			return
		}
		b.pubFailed(err)
		if !b.probe() {
			return
		}
		batch = nil // the resync only
	}
}

// resyncFrame is the Resync order's frame.
var resyncFrame = []byte(`{}`)

// flush publishes batch in one round trip, after a Resync order when
// messages were dropped since the last one went out.
func (b *Redis) flush(batch []Message) error {
	pipe := b.client.Pipeline()
	if b.missed.Swap(false) {
		hint, err := b.encode(nil, Message{Audience: Audience{Kind: Resync}, Frame: resyncFrame})
		if err == nil {
			pipe.Publish(b.sendCtx, b.channel, hint)
		}
	}
	for _, m := range batch {
		data, err := b.encode(nil, m)
		if err != nil { // it reached this instance's sockets, not the others
			b.log.Error("bus: dropping a message for the other instances", "err", err, "audience", m.Audience.Kind)
			continue
		}
		pipe.Publish(b.sendCtx, b.channelFor(m), data)
	}
	if pipe.Len() == 0 {
		return nil
	}
	if _, err := pipe.Exec(b.sendCtx); err != nil {
		b.missed.Store(true) // the Resync, if any, was lost too
		return fmt.Errorf("bus: redis publish: %w", err)
	}
	b.sent.Add(uint64(len(batch)))
	return nil
}

// probe waits, with backoff, until Redis answers a ping again, dropping
// what is queued meanwhile. It returns false when the bus closes first.
func (b *Redis) probe() bool {
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for n := 1; ; n++ {
		if !b.drain() {
			return false
		}
		t.Reset(clock.Backoff(n, backoffLo, backoffHi))
		select {
		case <-b.stop:
			b.drain()
			return false
		case <-t.C:
		}
		if err := b.client.Ping(b.sendCtx).Err(); err == nil {
			b.pubRecovered()
			return true
		}
	}
}

// drain drops what waits in the queue; false when the queue is closed.
func (b *Redis) drain() bool {
	for {
		select {
		case _, ok := <-b.queue:
			if !ok {
				return false
			}
			b.drop(1)
		default:
			return true
		}
	}
}

// receive is the receiver goroutine: it hands the other instances'
// messages to the handlers, pings an idle subscription, and dials again,
// with backoff, when the subscription is lost.
func (b *Redis) receive(ps *redis.PubSub) {
	defer close(b.recvDone)
	lost, pinged, failures := false, false, 0
	for {
		msg, err := ps.ReceiveTimeout(b.runCtx, b.opt.HealthEvery)
		if b.runCtx.Err() != nil {
			return
		}
		if err != nil {
			if isTimeout(err) && !pinged {
				pinged = true
				if err := ps.Ping(b.runCtx); err == nil {
					continue
				}
			}
			// A failed read or ping, or no answer to a ping: the
			// subscription is lost. go-redis dials again on the next
			// receive; a silent connection must be given up first.
			lost, pinged = true, false
			failures++
			b.subLost(err)
			if isTimeout(err) {
				if ps = b.resubscribe(ps); ps == nil {
					return
				}
			}
			if !b.wait(clock.Backoff(failures, backoffLo, backoffHi)) {
				return
			}
			continue
		}
		pinged = false
		switch v := msg.(type) {
		case *redis.Message:
			b.remote(v.Payload)
		case *redis.Subscription:
			switch {
			case v.Kind != "subscribe":
			case lost: // a new connection, subscribed to every channel at once
				lost, failures = false, 0
				b.resubscribedAll()
				b.subRestored()
			default:
				b.subscribed(v.Channel)
			}
		}
	}
}

// resubscribe replaces a silent pubsub with a new one (nil once closing).
func (b *Redis) resubscribe(old *redis.PubSub) *redis.PubSub {
	_ = old.Close()
	chans := append([]string{b.channel}, b.roomChannels()...)
	ps := b.client.Subscribe(b.runCtx, chans...) // its errors come again from its receive
	b.psMu.Lock()
	defer b.psMu.Unlock()
	if b.pubsub == nil {
		_ = ps.Close()
		return nil
	}
	b.pubsub = ps
	return ps
}

// wait waits d; false when the bus closes first.
func (b *Redis) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-b.runCtx.Done():
		return false
	case <-t.C:
		return true
	}
}

// remote hands another instance's message to the handlers.
func (b *Redis) remote(payload string) {
	if strings.HasPrefix(payload, b.self) {
		return // this bus's own: delivered when it was published
	}
	m, err := decode(payload)
	if err != nil {
		if ok, n := b.bad.Allow(); ok {
			b.log.Warn("bus: dropping malformed message", "err", err, "suppressed", n)
		}
		return
	}
	if m.Audience.Kind == Resync {
		b.runReconnects()
		return
	}
	b.recv.Add(1)
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, h := range b.handlers {
		h(m)
	}
}

// Sent is how many messages Redis took for the other instances, and
// Received how many of theirs this bus handed to its handlers, since the
// start; Queued is how many wait to be sent now.
func (b *Redis) Sent() uint64     { return b.sent.Load() }
func (b *Redis) Received() uint64 { return b.recv.Load() }
func (b *Redis) Queued() int      { return len(b.queue) }

// goRedisLog takes go-redis's own log lines, which it writes to stderr
// for every failed dial of an outage: to the first bus's logger, at debug
// level, one per 10 s with the count held back (the outage itself is
// logged once, by changed).
var goRedisLog sync.Once

func quietRedis(log *slog.Logger) {
	goRedisLog.Do(func() {
		redis.SetLogger(&redisLogger{log: log, sample: ratelimit.NewSampler(10*time.Second, clock.Real{})})
	})
}

type redisLogger struct {
	log    *slog.Logger
	sample *ratelimit.Sampler
}

func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ok, n := l.sample.Allow(); ok {
		l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...), "suppressed", n)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// State changes. An outage is logged once when it begins and once when it
// ends, with what was dropped meanwhile, whichever side saw it.

func (b *Redis) pubFailed(err error) {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.pubDown = true
	b.changed(err)
}

func (b *Redis) pubRecovered() {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.pubDown = false
	b.changed(nil)
}

func (b *Redis) subLost(err error) {
	b.stateMu.Lock()
	b.subDown = true
	b.changed(err)
	b.stateMu.Unlock()
}

// subRestored runs the reconnect hooks, after the state changed.
func (b *Redis) subRestored() {
	b.stateMu.Lock()
	b.subDown = false
	b.changed(nil)
	b.stateMu.Unlock()
	b.runReconnects()
}

func (b *Redis) runReconnects() {
	b.mu.RLock()
	hooks := b.reconnects
	b.mu.RUnlock()
	for _, f := range hooks {
		f()
	}
}

// changed logs a change of health. The caller holds stateMu.
func (b *Redis) changed(err error) {
	up := !b.pubDown && !b.subDown
	if up == b.healthy.Load() {
		return
	}
	b.healthy.Store(up)
	if !up {
		b.downAt, b.downDrop = time.Now(), b.dropped.Load()
		b.log.Warn("bus: redis down: this instance's sockets get its own events only, the other instances' are missed", "err", err)
		return
	}
	select {
	case b.nudge <- struct{}{}:
	default:
	}
	b.log.Info("bus: redis back", "down_for", time.Since(b.downAt).Round(time.Millisecond), "dropped", b.dropped.Load()-b.downDrop)
}

// Package ws is the operator WebSocket: the upgrade, one reader and one
// writer goroutine per socket, the registry of sockets, rooms and analytics
// subscribers, and the handlers of every client event of the spec.
package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"livechat/internal/clientip"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"livechat/internal/auth"
	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/contract"
	"livechat/internal/metrics"
	"livechat/internal/ratelimit"
	"livechat/internal/wire"
)

// Options configures a Hub. Zero durations take the defaults below.
type Options struct {
	InstanceID     string
	AllowedOrigins []string
	DevAuth        bool
	AuthTimeout    time.Duration // unauthenticated sockets are closed after it (10 s)
	MaxConnections int           // authenticated sockets (and upgrades with a valid ?token=) per instance
	MaxConnsPerOp  int           // sockets per operator
	MaxPending     int           // unauthenticated sockets per instance (1000)
	// MaxPendingPerIP caps unauthenticated sockets per client IP; unlike
	// the others, 0 means no cap.
	MaxPendingPerIP int
	SendQueue       int           // frames queued per socket before it counts as slow
	PingPeriod      time.Duration // server pings (25 s)
	PongWait        time.Duration // read deadline, renewed by any frame or pong (60 s)
	WriteWait       time.Duration // per-frame write deadline (10 s)
	RecheckPeriod   time.Duration // operator re-check for disabled accounts (60 s)
	ReadLimit       int64         // bytes per frame (64 KiB)
	// ClientIP tells a client's address behind trusted proxies; nil: the
	// peer's (the per-IP pending budget, the audit's source).
	ClientIP *clientip.Resolver
	// ResumeWindow is the most messages a join_room with last_seq replays;
	// a client that missed more gets a fresh snapshot (resync) (500).
	ResumeWindow int
	// PresenceHeartbeat is how often this instance renews its operators in
	// the presence directory and reconciles its sockets' presence with it
	// (5 s; the directory's TTL is to be about four of them).
	PresenceHeartbeat time.Duration
	// AvailabilityTick is how often this instance records its online
	// operators for the availability report (10 s).
	AvailabilityTick time.Duration
}

// Deps are the hub's collaborators.
type Deps struct {
	Store     chat.Store
	Service   *chat.Service
	Tokens    *auth.Tokens
	Bus       bus.Bus
	Validator *contract.Validator
	Clock     clock.Clock
	Log       *slog.Logger
	Limit     ratelimit.Allower // every authenticated event but ping and typing
	Typing    ratelimit.Allower // typing_start / typing_stop
	Wire      *wire.Converter   // messages for the wire (signs media URLs); nil: no media URLs
	// Directory shares presence with the other instances; nil: one instance.
	Directory Directory
	// Metrics records frames, errors and latencies; nil records nothing.
	Metrics *metrics.Metrics
	// Audit records the rejected tokens; nil records nothing.
	Audit chat.Auditor
	// Availability records the operators' online windows; nil records
	// nothing.
	Availability Availability
	// Leases elects the instance that computes the KPIs for all (kpis.go);
	// nil: this instance computes its own.
	Leases Leases
}

// tokenRejected audits a socket's refused token (never the token): one
// counted row per source and minute.
func (h *Hub) tokenRejected(ctx context.Context, why string) {
	chat.Record(ctx, h.deps.Audit, chat.AuditEntry{At: h.deps.Clock.Now(), Action: chat.AuditTokenRejected,
		Details: map[string]any{"transport": "ws", "reason": why}}, h.log)
}

// Hub owns every socket of this instance.
type Hub struct {
	opt      Options
	deps     Deps
	log      *slog.Logger
	upgrader websocket.Upgrader

	mu        sync.RWMutex
	conns     map[*Conn]struct{}
	ops       map[int64]map[*Conn]struct{}  // authenticated sockets by operator
	since     map[int64]time.Time           // when each operator's first socket of ops opened
	gone      []chat.Window                 // windows ended since the last RecordAvailability
	rooms     map[string]map[*Conn]struct{} // sockets by current room (line_user_id)
	analytics map[*Conn]struct{}
	status    map[int64]string // status chosen with set_status, while connected
	pending   int              // sockets on the pending budget (see budget.go)
	pendingIP map[string]int   // of them, per client IP
	authed    int              // sockets on the authenticated budget
	reserved  map[int64]int    // of them, admitted by ?token= and not yet authenticated, per operator
	closing   bool
	nextID    uint64
	kpi       kpiPush
	pres      presencePush
	loading   Loading
	floods    floodLogs

	wg       sync.WaitGroup // one per socket, done when its goroutines ended
	stop     chan struct{}
	loopDone chan struct{}
	// availDone is closed when availabilityLoop ended (at once without
	// Deps.Availability).
	availDone chan struct{}
	// Other instances' inbox rows, for this instance's worker (inbox.go).
	inbox     chan bus.Message
	inboxDone chan struct{}
	dir       directory
	seqs      roomSeqs // each room's message order (refill.go)
	resync    resyncs  // the reconnect hook's rounds (refill.go)
	// watch is the bus's subscription per room (nil: every instance gets
	// every room's frames). Each socket in a room holds one watch, taken
	// before it joins and given up as it leaves (leaveLocked).
	watch    bus.Rooms
	inflight sends // sends between store and ack (refill.go)
	// statusMu guards status, apart from mu: the bus handler sets another
	// instance's status change while it holds mu for reading.
	statusMu sync.Mutex
}

// writeBufs is the write buffer pool of every hub's sockets.
var writeBufs sync.Pool

// NewHub builds a hub and subscribes it to the bus.
func NewHub(opt Options, deps Deps) *Hub {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.AuthTimeout, 10*time.Second)
	def(&opt.PingPeriod, 25*time.Second)
	def(&opt.PongWait, 60*time.Second)
	def(&opt.WriteWait, 10*time.Second)
	def(&opt.RecheckPeriod, 60*time.Second)
	def(&opt.PresenceHeartbeat, 5*time.Second)
	def(&opt.AvailabilityTick, 10*time.Second)
	if opt.ReadLimit <= 0 {
		opt.ReadLimit = 64 << 10
	}
	if opt.MaxConnections <= 0 {
		opt.MaxConnections = 10000
	}
	if opt.MaxConnsPerOp <= 0 {
		opt.MaxConnsPerOp = 10
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = 1000
	}
	if opt.SendQueue <= 0 {
		opt.SendQueue = 256
	}
	if opt.ResumeWindow <= 0 {
		opt.ResumeWindow = 500
	}
	h := &Hub{
		opt:       opt,
		deps:      deps,
		log:       deps.Log.With("component", "ws"),
		conns:     map[*Conn]struct{}{},
		ops:       map[int64]map[*Conn]struct{}{},
		since:     map[int64]time.Time{},
		rooms:     map[string]map[*Conn]struct{}{},
		analytics: map[*Conn]struct{}{},
		status:    map[int64]string{},
		pendingIP: map[string]int{},
		reserved:  map[int64]int{},
		floods:    newFloodLogs(deps.Clock),
		stop:      make(chan struct{}),
		loopDone:  make(chan struct{}),
		availDone: make(chan struct{}),
		inbox:     make(chan bus.Message, inboxQueue),
		inboxDone: make(chan struct{}),
		dir:       directory{kick: make(chan struct{}, 1), tick: make(chan struct{}, 1), beat: make(chan chan struct{}), done: make(chan struct{})},
	}
	h.watch, _ = deps.Bus.(bus.Rooms)
	h.upgrader = websocket.Upgrader{
		// Read buffer 0: gorilla reads through the hijacked reader, which
		// ServeHTTP makes small (see readBufferSize). The write buffer is
		// taken from the pool for a frame only (broadcasts need none: they
		// are framed once).
		WriteBufferSize: 1024,
		WriteBufferPool: &writeBufs,
		// Origin is checked in ServeHTTP, before the upgrade, against the allowlist.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	deps.Bus.Subscribe(h.deliver)
	if shared, ok := deps.Bus.(bus.Shared); ok {
		shared.OnReconnect(h.reconnected)
	}
	go h.recheckLoop()
	if deps.Availability != nil {
		go h.availabilityLoop()
	} else {
		close(h.availDone)
	}
	h.refreshKPIs()
	if deps.Leases != nil {
		h.kpi.mu.Lock()
		h.kpi.renewal = h.deps.Clock.AfterFunc(0, h.holdKPILease)
		h.kpi.mu.Unlock()
	}
	go h.inboxLoop()
	if deps.Directory != nil {
		go h.directoryLoop()
	} else {
		close(h.dir.done)
	}
	return h
}

// Close sends 1001 to every socket and waits until all have ended, or ctx
// is done. http.Server.Shutdown does not wait for hijacked connections.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if !h.closing {
		h.closing = true
		close(h.stop)
	}
	for c := range h.conns {
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
	h.mu.Unlock()
	// The KPI lease first, whatever follows: another instance takes it at
	// its next renewal.
	h.stopKPIs()
	defer h.pres.stop()
	// Last, however Close ends, even past the shutdown's deadline (bounded
	// on its own): the windows of the sockets closed above end when they
	// did, those still open now.
	defer h.recordAvailability(context.WithoutCancel(ctx))
	for _, loop := range []struct {
		done <-chan struct{}
		what string
	}{{h.loopDone, "operator re-check"}, {h.availDone, "availability recorder"}, {h.inboxDone, "inbox worker"}, {h.dir.done, "presence directory"}} {
		select {
		case <-loop.done:
		case <-ctx.Done():
			return fmt.Errorf("ws: %s still running at shutdown: %w", loop.what, ctx.Err())
		}
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ws: sockets still open at shutdown: %w", ctx.Err())
	}
}

// attach marks c as authenticated for op. It refuses over the per-operator
// cap, or over the instance's authenticated budget, and reports whether this
// is the operator's first socket.
func (h *Hub) attach(c *Conn, op chat.Operator) (first bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.promoteLocked(c, op.ID); err != nil {
		return false, err
	}
	set := h.ops[op.ID]
	if set == nil {
		set = map[*Conn]struct{}{}
		h.ops[op.ID] = set
	}
	set[c] = struct{}{}
	c.setOperator(op)
	if len(set) == 1 {
		h.since[op.ID] = h.deps.Clock.Now()
	}
	return len(set) == 1, nil
}

// detach removes c everywhere. It reports the room c was in and whether c
// was the operator's last socket there, and whether c was the operator's
// last socket at all.
func (h *Hub) detach(c *Conn) (room string, lastInRoom, lastConn bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forgetLocked(c)
	delete(h.analytics, c)
	room, lastInRoom = h.leaveLocked(c)
	op, ok := c.operator()
	if !ok {
		return room, false, false
	}
	set := h.ops[op.ID]
	delete(set, c)
	if len(set) == 0 {
		delete(h.ops, op.ID)
		if at, ok := h.since[op.ID]; ok && h.deps.Availability != nil {
			h.gone = append(h.gone, chat.Window{OperatorID: op.ID, From: at, To: h.deps.Clock.Now()})
		}
		delete(h.since, op.ID)
		h.statusMu.Lock()
		delete(h.status, op.ID)
		h.statusMu.Unlock()
		return room, lastInRoom, true
	}
	return room, lastInRoom, false
}

// join moves c into room. It returns the room c left (if any) and whether c
// was the operator's last socket there, and whether c is the operator's
// first socket in the new room.
func (h *Hub) join(c *Conn, room string) (left string, lastInLeft, firstInRoom bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.joinLocked(c, room)
}

func (h *Hub) joinLocked(c *Conn, room string) (left string, lastInLeft, firstInRoom bool) {
	left, lastInLeft = h.leaveLocked(c)
	set := h.rooms[room]
	if set == nil {
		set = map[*Conn]struct{}{}
		h.rooms[room] = set
	}
	op, _ := c.operator()
	firstInRoom = true
	for o := range set {
		if oop, _ := o.operator(); oop.ID == op.ID {
			firstInRoom = false
			break
		}
	}
	set[c] = struct{}{}
	c.room = room
	return left, lastInLeft, firstInRoom
}

// leave takes c out of its room.
func (h *Hub) leave(c *Conn) (room string, last bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.leaveLocked(c)
}

func (h *Hub) leaveLocked(c *Conn) (room string, last bool) {
	room = c.room
	if room == "" {
		return "", false
	}
	c.room, c.through, c.gate = "", 0, nil
	h.unwatchRoom(room)
	set := h.rooms[room]
	delete(set, c)
	if len(set) == 0 {
		delete(h.rooms, room)
		h.seqs.forget(room) // a joiner starts the order again from its answer
	}
	op, _ := c.operator()
	for o := range set {
		if oop, _ := o.operator(); oop.ID == op.ID {
			return room, false
		}
	}
	return room, true
}

// watchRoom has the bus bring room's frames from the other instances (a
// socket's watch, for its join; leaveLocked gives it up).
func (h *Hub) watchRoom(ctx context.Context, room string) {
	if h.watch != nil {
		h.watch.Watch(ctx, room)
	}
}

// unwatchRoom gives a watch up. It never blocks: it may run under mu.
func (h *Hub) unwatchRoom(room string) {
	if h.watch != nil {
		h.watch.Unwatch(room)
	}
}

// currentRoom is c's room, or "".
func (h *Hub) currentRoom(c *Conn) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return c.room
}

// setAnalytics subscribes or unsubscribes c.
func (h *Hub) setAnalytics(c *Conn, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on {
		h.analytics[c] = struct{}{}
	} else {
		delete(h.analytics, c)
	}
}

func (h *Hub) setStatus(opID int64, status string) {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	h.status[opID] = status
}

// localOnline returns, for each operator with a socket on this instance,
// its status.
func (h *Hub) localOnline() map[int64]string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	out := make(map[int64]string, len(h.ops))
	for id := range h.ops {
		s := h.status[id]
		if s == "" {
			s = "online"
		}
		out[id] = s
	}
	return out
}

// Counts is this instance's open sockets and the operators with an
// authenticated one (the metrics).
func (h *Hub) Counts() (sockets, operators int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns), len(h.ops)
}

// Online returns, for each operator online on any instance, its status.
func (h *Hub) Online() map[int64]string {
	return h.everywhere(context.Background())
}

// DisconnectOperator closes every socket of an operator, on every instance
// (it was disabled, its role or password changed).
func (h *Hub) DisconnectOperator(id int64, reason string) {
	h.disconnectLocal(id, reason)
	data, err := json.Marshal(reason)
	if err != nil {
		return
	}
	// The other instances close theirs; this one has (deliver skips its own).
	if err := h.deps.Bus.Publish(context.Background(), bus.Message{Origin: h.opt.InstanceID, Audience: bus.Audience{Kind: bus.Disconnect, OperatorID: id}, Frame: data}); err != nil {
		h.log.Error("publish disconnect", "err", err, "operator_id", id)
	}
}

// disconnectLocal closes this instance's sockets of operator id.
func (h *Hub) disconnectLocal(id int64, reason string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.ops[id] {
		c.closeWith(websocket.ClosePolicyViolation, reason)
	}
}

// recheckLoop closes the sockets of operators disabled behind the server's
// back (the CLI writes the database directly).
func (h *Hub) recheckLoop() {
	defer close(h.loopDone)
	t := time.NewTicker(h.opt.RecheckPeriod)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			// Bounded, so a hung database cannot hold up shutdown.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			h.Recheck(ctx)
			cancel()
		}
	}
}

// Recheck closes the sockets of operators that no longer exist, are
// disabled, or changed role.
func (h *Hub) Recheck(ctx context.Context) {
	h.mu.RLock()
	roles := make(map[int64]chat.Role, len(h.ops))
	for id, set := range h.ops {
		for c := range set {
			op, _ := c.operator()
			roles[id] = op.Role
			break
		}
	}
	h.mu.RUnlock()
	for id, role := range roles {
		op, err := h.deps.Store.Operator(ctx, id)
		switch {
		case err == nil && op.Active && op.Role == role:
		case err == nil && op.Active:
			// Sockets keep the role they authenticated with; a changed role
			// must not keep its old powers until the next reconnect.
			h.log.Info("closing sockets of an operator whose role changed", "operator_id", id)
			h.disconnectLocal(id, "role changed")
		case err == nil || errorsIsNotFound(err):
			h.log.Info("closing sockets of a disabled operator", "operator_id", id)
			h.disconnectLocal(id, "operator disabled")
		default:
			h.log.Warn("operator re-check failed", "operator_id", id, "err", err)
		}
	}
}

// publish sends a server frame to an audience on every instance.
func (h *Hub) publish(ctx context.Context, aud bus.Audience, frame any) {
	h.publishSeq(ctx, aud, 0, frame)
}

// publishSeq is publish for a room's new_message of that seq.
func (h *Hub) publishSeq(ctx context.Context, aud bus.Audience, seq int64, frame any) {
	data, err := json.Marshal(frame)
	if err != nil {
		h.log.Error("encode frame", "err", err)
		return
	}
	if err := h.deps.Bus.Publish(ctx, bus.Message{Origin: h.opt.InstanceID, Audience: aud, Frame: data, Seq: seq}); err != nil {
		h.log.Error("publish frame", "err", err, "audience", aud.Kind)
	}
}

// deliver is the bus handler: it queues a frame on the local sockets of the
// audience. It never blocks: a full queue disconnects that socket.
func (h *Hub) deliver(m bus.Message) {
	if m.Audience.Kind == bus.KPIs {
		h.kpisHinted(m.Origin)
		return
	}
	if m.Audience.Kind == bus.Room && m.Seq != 0 {
		h.inSequence(m) // a room's messages, in seq order and gap-free (refill.go)
		return
	}
	h.deliverNow(m)
}

// deliverNow queues m on the local sockets of its audience.
func (h *Hub) deliverNow(m bus.Message) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var shared *outbound // framed once, when the first socket takes it
	frame := func() *outbound {
		if shared == nil {
			pm, err := websocket.NewPreparedMessage(websocket.TextMessage, m.Frame)
			if err != nil {
				h.log.Error("prepare frame", "err", err)
				return nil
			}
			shared = &outbound{data: m.Frame, pm: pm}
		}
		return shared
	}
	wants := func(c *Conn) bool {
		if c.id == m.Audience.ExcludeConn {
			return false
		}
		op, ok := c.operator()
		return ok && (m.Audience.ExcludeOperator == 0 || op.ID != m.Audience.ExcludeOperator)
	}
	n := 0 // frames queued, for the metrics
	if h.deps.Metrics != nil {
		defer func() { h.deps.Metrics.FramesOut(frameType(m.Frame), n) }()
	}
	send := func(c *Conn) {
		if !wants(c) {
			return
		}
		if o := frame(); o != nil {
			c.enqueue(o)
			n++
		}
	}
	switch m.Audience.Kind {
	case bus.All:
		for _, set := range h.ops {
			for c := range set {
				send(c)
			}
		}
	case bus.Room:
		for c := range h.rooms[m.Audience.Room] {
			if !wants(c) || (m.Seq != 0 && m.Seq <= c.through) {
				continue // the join's answer carried this message
			}
			if o := frame(); o != nil {
				c.enqueueRoom(o, m.Seq)
				n++
			}
		}
	case bus.Operator:
		for c := range h.ops[m.Audience.OperatorID] {
			send(c)
		}
		if m.Audience.WithAnalytics {
			for c := range h.analytics {
				if op, _ := c.operator(); op.ID != m.Audience.OperatorID {
					send(c)
				}
			}
		}
	case bus.Analytics:
		for c := range h.analytics {
			send(c)
		}
	case bus.Inbox:
		if m.Origin != h.opt.InstanceID { // this instance updated its own
			h.queueInbox(m)
		}
	case bus.Status:
		var status string
		if _, here := h.ops[m.Audience.OperatorID]; here && m.Origin != h.opt.InstanceID && json.Unmarshal(m.Frame, &status) == nil {
			h.setStatus(m.Audience.OperatorID, status)
			h.pres.gen.Add(1)
			h.directoryChanged()
		}
	case bus.Disconnect:
		var reason string
		if m.Origin != h.opt.InstanceID && json.Unmarshal(m.Frame, &reason) == nil {
			for c := range h.ops[m.Audience.OperatorID] {
				c.closeWith(websocket.ClosePolicyViolation, reason)
			}
		}
	case bus.Presence:
		if m.Origin != h.opt.InstanceID {
			h.pres.gen.Add(1) // a full list read before it is out of date
		}
		h.announce(m.Frame)
		for _, set := range h.ops {
			for c := range set {
				if o := frame(); o != nil {
					c.sendPresence(o, m.Origin)
					n++
				}
			}
		}
	}
}

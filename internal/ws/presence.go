package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/clock"
)

// Presence goes out in two forms. A socket that authenticates gets the
// full list (full: true), right after its auth_success and before any
// other presence_update. Every socket gets what changed (full: false): the
// operators whose status or active_chats moved, coalesced to one push per
// presenceInterval per instance. N operators connecting at once cost each
// their own list and about one small frame per operator per second, not N
// full lists to everyone.

// presenceInterval is the most often a presence change is pushed.
const presenceInterval = time.Second

// presencePush coalesces presence changes: the operators changed since
// the last push, and the push that is due, if any.
type presencePush struct {
	mu      sync.Mutex
	dirty   map[int64]struct{}
	last    time.Time
	pending clock.Timer
	closed  bool

	// run holds one push at a time, from reading the state to publishing
	// it, so pushes go out in the order they read: a later one is newer.
	// A socket's full list is read and queued under its read lock, so a
	// push of this instance published before the list is queued is older
	// than the list, and one published after it reaches the socket.
	run sync.RWMutex

	lists presenceLists

	// gen counts the changes: every change noted, push made and other
	// instance's push received. A full list read at one gen serves later
	// sockets while it stays that gen (presenceLists.cached).
	gen atomic.Uint64
}

// presenceChanged notes that the operators' presence or active_chats
// changed (after the change is visible). They go out now, or at the end
// of the interval when a push went out less than presenceInterval ago.
func (h *Hub) presenceChanged(ctx context.Context, operators ...int64) {
	h.directoryChanged()
	p := &h.pres
	p.gen.Add(1)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	for _, id := range operators {
		if id == 0 {
			continue
		}
		if p.dirty == nil {
			p.dirty = map[int64]struct{}{}
		}
		p.dirty[id] = struct{}{}
	}
	if p.pending != nil || len(p.dirty) == 0 {
		p.mu.Unlock()
		return
	}
	now := h.deps.Clock.Now()
	if wait := p.last.Add(presenceInterval).Sub(now); wait > 0 {
		ctx := context.WithoutCancel(ctx) // the push outlives the request that caused it
		p.pending = h.deps.Clock.AfterFunc(wait, func() {
			p.mu.Lock()
			p.pending = nil
			ids := p.takeLocked(h.deps.Clock.Now())
			p.mu.Unlock()
			h.pushPresence(ctx, ids, false)
		})
		p.mu.Unlock()
		return
	}
	ids := p.takeLocked(now)
	p.mu.Unlock()
	h.pushPresence(ctx, ids, false)
}

// takeLocked starts a push at now: it takes the changed operators.
func (p *presencePush) takeLocked(now time.Time) map[int64]struct{} {
	if p.closed {
		return nil
	}
	ids := p.dirty
	p.dirty = nil
	p.last = now
	return ids
}

// pushPresence publishes the operators' presence to every socket of every
// instance, or with local to this instance's only. When the store fails
// they go out with the next change.
func (h *Hub) pushPresence(ctx context.Context, ids map[int64]struct{}, local bool) {
	if len(ids) == 0 {
		return
	}
	p := &h.pres
	p.run.Lock()
	defer p.run.Unlock()
	p.gen.Add(1)
	ops, err := h.presence(ctx, ids)
	if err != nil {
		h.log.Error("presence", "err", err)
		p.mu.Lock()
		for id := range ids {
			if p.dirty == nil {
				p.dirty = map[int64]struct{}{}
			}
			p.dirty[id] = struct{}{}
		}
		p.mu.Unlock()
		return
	}
	frame := lc.NewPresenceUpdateEvent(lc.PresenceUpdatePayloadSchema{Operators: ops}, h.deps.Clock.Now())
	if !local {
		h.publish(ctx, bus.Audience{Kind: bus.Presence}, frame)
		return
	}
	data, err := json.Marshal(frame)
	if err != nil {
		h.log.Error("encode frame", "err", err)
		return
	}
	h.deliver(bus.Message{Origin: h.opt.InstanceID, Audience: bus.Audience{Kind: bus.Presence}, Frame: data})
}

// stop cancels a pending push (shutdown).
func (p *presencePush) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.pending != nil {
		p.pending.Stop()
		p.pending = nil
	}
}

// presence builds the entries of the operators in only, or of every active
// operator when only is nil. An operator in only whose account is no
// longer active is offline.
func (h *Hub) presence(ctx context.Context, only map[int64]struct{}) ([]lc.OperatorPresenceSchema, error) {
	ops, err := h.deps.Store.ListOperators(ctx)
	if err != nil {
		return nil, fmt.Errorf("ws: presence: %w", err)
	}
	chats, err := h.deps.Store.ActiveChats(ctx)
	if err != nil {
		return nil, fmt.Errorf("ws: presence: %w", err)
	}
	online := h.everywhere(ctx)
	out := []lc.OperatorPresenceSchema{}
	for _, op := range ops {
		if only == nil && !op.Active {
			continue
		}
		if _, changed := only[op.ID]; only != nil && !changed {
			continue
		}
		status, ok := online[op.ID]
		if !ok || !op.Active {
			status = "offline"
		}
		name := op.DisplayName
		out = append(out, lc.OperatorPresenceSchema{
			Id: idString(op.ID), DisplayName: &name, Status: status, ActiveChats: int64(chats[op.ID]),
		})
	}
	slices.SortFunc(out, func(a, b lc.OperatorPresenceSchema) int { return compareIDs(a.Id, b.Id) })
	return out, nil
}

// presenceLists shares the full list among sockets that authenticate
// together: in a connect storm each would otherwise read every operator
// and every open chat (a third of the server's CPU in livechat bench's
// connect storm on Postgres). Sockets that ask while a list is being read
// make the next round, read once the current one ends, so each list is
// still read after its sockets joined the hub.
type presenceLists struct {
	mu   sync.Mutex
	idle *sync.Cond     // signalled when a round ends
	next *presenceRound // collecting sockets; nil: none waiting
	busy bool           // a round is reading

	// The last full list, the gen it was read at and when: the next rounds
	// take it while nothing changed, for at most listReuse (a change no
	// hook reports, such as an operator renamed, shows within it). A
	// reconnect storm's sockets then share one read, not one per round
	// (it was 30 % of the CPU of 5,000 rejoins).
	cached   *outbound
	cachedAt time.Time
	cacheGen uint64
}

// listReuse is the longest a full list is reused.
const listReuse = presenceInterval

// presenceRound is one read of the full list, for conns.
type presenceRound struct {
	conns []*Conn
	done  chan struct{}
	err   error
}

// presenceListTimeout bounds a round's read: it serves other sockets than
// the one whose request runs it, so that one's cancellation must not fail
// them.
const presenceListTimeout = 10 * time.Second

// listPresence queues the full list for a socket that just authenticated,
// then the changes other instances pushed while it was being built. The
// list is read after the socket joined the hub, so no change falls between.
// The first socket of a round reads for all of it; the others wait.
func (h *Hub) listPresence(ctx context.Context, c *Conn) error {
	l := &h.pres.lists
	l.mu.Lock()
	if l.idle == nil {
		l.idle = sync.NewCond(&l.mu)
	}
	if l.next == nil {
		l.next = &presenceRound{done: make(chan struct{})}
	}
	r := l.next
	r.conns = append(r.conns, c)
	if len(r.conns) > 1 {
		l.mu.Unlock()
		<-r.done
		return r.err
	}
	for l.busy {
		l.idle.Wait()
	}
	l.busy, l.next = true, nil // later sockets make the next round
	l.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceListTimeout)
	r.err = h.listRound(rctx, r.conns)
	cancel()
	close(r.done)
	l.mu.Lock()
	l.busy = false
	l.idle.Broadcast()
	l.mu.Unlock()
	return r.err
}

// listRound reads the full list once and queues it to each of conns.
func (h *Hub) listRound(ctx context.Context, conns []*Conn) error {
	h.pres.run.RLock()
	defer h.pres.run.RUnlock()
	list, err := h.reusedPresence(ctx)
	for _, c := range conns {
		c.presenceListed(list) // nil: the changes flow all the same
	}
	return err
}

// reusedPresence is the last full list while nothing changed since it was
// read (and for at most listReuse), or a new one. Rounds run one at a
// time, each under run's read lock: no push of this instance runs
// meanwhile.
func (h *Hub) reusedPresence(ctx context.Context) (*outbound, error) {
	p, l := &h.pres, &h.pres.lists
	gen, now := p.gen.Load(), h.deps.Clock.Now()
	l.mu.Lock()
	if l.cached != nil && l.cacheGen == gen && now.Sub(l.cachedAt) < listReuse {
		list := l.cached
		l.mu.Unlock()
		return list, nil
	}
	l.mu.Unlock()
	list, err := h.fullPresence(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if p.gen.Load() == gen { // nothing changed while it was read
		l.cached, l.cachedAt, l.cacheGen = list, now, gen
	}
	l.mu.Unlock()
	return list, nil
}

// fullPresence is the full list as a frame.
func (h *Hub) fullPresence(ctx context.Context) (*outbound, error) {
	ops, err := h.presence(ctx, nil)
	if err != nil {
		return nil, err
	}
	frame := lc.NewPresenceUpdateEvent(lc.PresenceUpdatePayloadSchema{Full: true, Operators: ops}, h.deps.Clock.Now())
	data, err := json.Marshal(frame)
	if err != nil {
		return nil, fmt.Errorf("ws: presence: %w", err)
	}
	h.announce(data)
	return &outbound{data: data}, nil
}

// sendPresence queues a presence change pushed by instance origin. Before
// the socket's full list is queued, a change of this instance is older
// than the list (see presencePush.run) and is dropped; another instance's
// is held until the list is queued. A socket that would hold more than
// its queue is too slow.
func (c *Conn) sendPresence(o *outbound, origin string) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	switch {
	case c.listed:
		c.enqueue(o)
		return
	case origin == c.hub.opt.InstanceID:
		return
	case len(c.held) >= c.q.max:
		c.tooSlow()
		return
	}
	c.held = append(c.held, o)
}

// presenceListed queues the socket's full list (nil: it could not be
// built), then the changes held for it.
func (c *Conn) presenceListed(list *outbound) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	c.listed = true
	if list != nil {
		c.enqueue(list)
	}
	for _, o := range c.held {
		c.enqueue(o)
	}
	c.held = nil
}

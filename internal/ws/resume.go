package ws

import (
	"sync"
)

// A join is gap-free at the seam between its answer and the live frames:
// the socket enters the room first, with a gate that holds the room's
// frames; the answer (history or resume) is read after; then the answer is
// queued, the held frames after it, less any new_message the answer
// already carried, and the gate opens. Later frames of such a message (its
// publish may come after the answer was read) are skipped by seq, too.

// roomGate holds a joining socket's room frames, in order, up to the
// socket's queue bound: a socket that falls that far behind is too slow,
// as with a full queue.
type roomGate struct {
	mu   sync.Mutex
	held []heldFrame
	over bool
}

type heldFrame struct {
	o   *outbound
	seq int64
}

// enqueueRoom queues a room frame, or holds it while a join reads. The
// caller holds hub.mu (read).
func (c *Conn) enqueueRoom(o *outbound, seq int64) {
	g := c.gate
	if g == nil {
		c.enqueue(o)
		return
	}
	g.mu.Lock()
	full := !g.over && len(g.held) >= c.q.max
	if full {
		g.over, g.held = true, nil
	} else if !g.over {
		g.held = append(g.held, heldFrame{o, seq})
	}
	g.mu.Unlock()
	if full {
		c.tooSlow()
	}
}

// joinGated moves c into room (or keeps it there, for a re-join) with a
// gate: the room's frames wait for openGate. It returns as join does;
// rejoin reports that c was in room already.
func (h *Hub) joinGated(c *Conn, room string) (left string, lastInLeft, first, rejoin bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.room == room {
		rejoin = true
	} else {
		left, lastInLeft, first = h.joinLocked(c, room)
	}
	if c.gate == nil {
		c.gate = &roomGate{}
	}
	return left, lastInLeft, first, rejoin
}

// openGate queues answer (when not nil), then what the gate held, less
// the messages up to through, which answer carried; from then on those are
// skipped whenever they come. A nil answer keeps the socket's through.
func (h *Hub) openGate(c *Conn, answer *outbound, through int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := c.gate
	if g == nil { // the socket left the room meanwhile: it is closing
		return
	}
	c.gate = nil
	if answer != nil {
		c.through = through
		if !c.enqueue(answer) {
			return
		}
	}
	g.mu.Lock()
	held := g.held
	g.held = nil
	g.mu.Unlock()
	for _, f := range held {
		if f.seq != 0 && f.seq <= c.through {
			continue
		}
		if !c.enqueue(f.o) {
			return
		}
	}
}

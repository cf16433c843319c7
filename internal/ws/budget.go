package ws

import (
	"fmt"
	"net/http"

	"livechat/internal/chat"
)

// The socket budgets. A socket that has not authenticated is pending: it
// counts against MaxPending and, per client IP, MaxPendingPerIP, so sockets
// that never authenticate cannot crowd operators out. Authenticated sockets,
// and upgrades that carry a valid ?token=, count against MaxConnections
// instead. Every count is guarded by hub.mu.

// budget is what one socket counts against.
type budget struct {
	pending bool   // on the pending budget
	ip      string // the client IP it counts against while pending
	tokenOp int64  // admitted with a valid ?token= of this operator, not yet authenticated
}

// refusal is why an upgrade was not admitted.
type refusal int

const (
	admitted     refusal = iota
	shuttingDown         // 503
	pendingFull          // 503: the instance's pending budget
	pendingIP            // 429: the client IP's pending budget
	authedFull           // 503: the instance's authenticated budget
	operatorFull         // 429: the operator's sockets
)

func (r refusal) status() int {
	if r == pendingIP || r == operatorFull {
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// admitPending admits an unauthenticated socket from ip onto the pending
// budget.
func (h *Hub) admitPending(ip string) (*Conn, refusal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closing:
		return nil, shuttingDown
	case h.pending >= h.opt.MaxPending:
		return nil, pendingFull
	case h.opt.MaxPendingPerIP > 0 && h.pendingIP[ip] >= h.opt.MaxPendingPerIP:
		return nil, pendingIP
	}
	c := h.addConnLocked()
	c.budget = budget{pending: true, ip: ip}
	h.pending++
	h.pendingIP[ip]++
	return c, admitted
}

// admitToken admits an upgrade with a valid ?token= of operator opID onto
// the authenticated budget, from which pending sockets take nothing.
func (h *Hub) admitToken(opID int64) (*Conn, refusal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closing:
		return nil, shuttingDown
	case h.authed >= h.opt.MaxConnections:
		return nil, authedFull
	case len(h.ops[opID])+h.reserved[opID] >= h.opt.MaxConnsPerOp:
		return nil, operatorFull
	}
	c := h.addConnLocked()
	c.budget = budget{tokenOp: opID}
	h.authed++
	h.reserved[opID]++
	return c, admitted
}

func (h *Hub) addConnLocked() *Conn {
	h.nextID++
	c := newConn(h, fmt.Sprintf("%s-%d", h.opt.InstanceID, h.nextID))
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	return c
}

// promoteLocked moves c onto op's share of the authenticated budget as it
// authenticates. It refuses over the per-operator cap, and a pending socket
// when the instance's authenticated budget is full.
func (h *Hub) promoteLocked(c *Conn, op int64) error {
	n := len(h.ops[op]) + h.reserved[op]
	if c.budget.tokenOp == op {
		n-- // c is one of those reserved
	}
	if n >= h.opt.MaxConnsPerOp {
		return chat.E(chat.ErrRateLimited, "too many connections for this operator (max %d)", h.opt.MaxConnsPerOp)
	}
	if c.budget.pending {
		if h.authed >= h.opt.MaxConnections {
			return chat.E(chat.ErrRateLimited, "too many connections on this server (max %d)", h.opt.MaxConnections)
		}
		h.authed++
	}
	h.unreserveLocked(c)
	h.unpendLocked(c)
	return nil
}

// forgetLocked unregisters c and gives back whatever it counts against; a
// second call does nothing.
func (h *Hub) forgetLocked(c *Conn) {
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	if c.budget.pending {
		h.unpendLocked(c)
		return
	}
	h.unreserveLocked(c)
	h.authed--
}

func (h *Hub) unpendLocked(c *Conn) {
	if !c.budget.pending {
		return
	}
	h.pending--
	if h.pendingIP[c.budget.ip]--; h.pendingIP[c.budget.ip] <= 0 {
		delete(h.pendingIP, c.budget.ip)
	}
	c.budget.pending, c.budget.ip = false, ""
}

func (h *Hub) unreserveLocked(c *Conn) {
	op := c.budget.tokenOp
	if op == 0 {
		return
	}
	if h.reserved[op]--; h.reserved[op] <= 0 {
		delete(h.reserved, op)
	}
	c.budget.tokenOp = 0
}

// clientIP is the client's address: the peer's, or what a trusted proxy
// forwarded (Options.ClientIP).
func (h *Hub) clientIP(r *http.Request) string { return h.opt.ClientIP.IP(r) }

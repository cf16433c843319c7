package ws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/logctx"
)

// ServeHTTP upgrades GET /api/v1/ws/live-chat. Refusals happen before the
// upgrade, with a plain HTTP status: 403 for a foreign Origin not on the
// allowlist, 503 while shutting down. An upgrade with a valid ?token= is
// admitted onto the authenticated budget (503 over the instance cap, 429
// over the operator's); any other onto the pending budget (503 over the
// instance's, 429 over the client IP's).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !h.originAllowed(origin, r.Host) {
		sampled(r.Context(), h.floods.origin, h.log, slog.LevelInfo, "upgrade refused: origin not allowed", "origin", clip(origin))
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	token, ip := r.URL.Query().Get("token"), h.clientIP(r)
	var (
		c   *Conn
		why refusal
	)
	if opID, ok := h.tokenOperator(token); ok {
		c, why = h.admitToken(opID)
	} else {
		c, why = h.admitPending(ip)
	}
	if c == nil {
		h.refused(w, r, why, ip)
		return
	}
	hw := &hijacker{ResponseWriter: w}
	conn, err := h.upgrader.Upgrade(hw, r, nil) // answers the client itself on failure
	if err != nil {
		h.release(c)
		return
	}
	c.bc, c.br = hw.conn, hw.br
	// Compression is off; level 0 is the one NewPreparedMessage frames a
	// broadcast with, so gorilla does not frame it again for this socket.
	_ = conn.SetCompressionLevel(0)
	c.queryToken = token
	// The handler returns now, so net/http lets go of the connection's
	// buffers; the socket's reader and writer are goroutines of their own.
	// The request context ends with the handler; cleanup after the socket
	// ends must still reach the store and the bus. What others (chat) log
	// with it on the socket's behalf carries its conn_id: one value per
	// socket, none per frame.
	ctx := chat.WithSource(context.WithoutCancel(r.Context()), ip, r.UserAgent())
	c.serve(logctx.With(ctx, slog.String("conn_id", c.id)), conn)
}

// originAllowed admits a listed origin, and a page served by this server
// itself: its Origin's host:port is the request's Host (gorilla's default check).
func (h *Hub) originAllowed(origin, host string) bool {
	if slices.Contains(h.opt.AllowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && equalFoldASCII(u.Host, host)
}

// equalFoldASCII compares ASCII case-insensitively; unlike strings.EqualFold
// it folds no other letters (the Kelvin sign is not a k).
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// refused answers an upgrade that was not admitted. Only the caps that
// protect operators are logged, and at most once per logEvery each.
func (h *Hub) refused(w http.ResponseWriter, r *http.Request, why refusal, ip string) {
	msg := "too many connections"
	switch why {
	case shuttingDown:
		msg = "server shutting down"
	case pendingFull:
		msg = "too many unauthenticated connections"
		sampled(r.Context(), h.floods.pendingFull, h.log, slog.LevelWarn, "upgrade refused: unauthenticated sockets at their cap", "max", h.opt.MaxPending)
	case pendingIP:
		msg = "too many unauthenticated connections from this address"
		sampled(r.Context(), h.floods.pendingIP, h.log, slog.LevelInfo, "upgrade refused: unauthenticated sockets from one address at their cap", "max", h.opt.MaxPendingPerIP, "ip", ip)
	case authedFull:
		sampled(r.Context(), h.floods.authedFull, h.log, slog.LevelWarn, "upgrade refused: authenticated sockets at their cap", "max", h.opt.MaxConnections)
	case operatorFull:
		msg = "too many connections for this operator"
	}
	http.Error(w, msg, why.status())
}

// tokenOperator is the operator of a valid ?token=. The socket still has to
// authenticate; this only picks its budget.
func (h *Hub) tokenOperator(token string) (int64, bool) {
	if token == "" {
		return 0, false
	}
	claims, err := h.deps.Tokens.Verify(token)
	if err != nil {
		return 0, false
	}
	return claims.OperatorID, true
}

// release forgets a socket that never got upgraded.
func (h *Hub) release(c *Conn) {
	h.mu.Lock()
	h.forgetLocked(c)
	h.mu.Unlock()
	h.wg.Done()
}

// ended cleans up after a socket: the room hears operator_left when the
// operator's last tab left it, everyone gets presence when it was the
// operator's last socket.
func (h *Hub) ended(ctx context.Context, c *Conn) {
	defer h.wg.Done()
	room, lastInRoom, lastConn := h.detach(c)
	op, ok := c.operator()
	if !ok {
		return
	}
	h.typingEnded(ctx, c, room)
	if room != "" && lastInRoom {
		h.publish(ctx, bus.Audience{Kind: bus.Room, Room: room}, lc.NewOperatorLeftEvent(operatorRoom(op.ID, room), h.deps.Clock.Now()))
	}
	if lastConn {
		h.presenceChanged(ctx, op.ID)
		h.kpisChanged(ctx)
	}
}

func operatorRoom(opID int64, room string) lc.OperatorRoomPayloadSchema {
	uid := lc.LineUserIdSchema(room)
	return lc.OperatorRoomPayloadSchema{AdminId: idString(opID), RoomId: "conversation:" + room, LineUserId: &uid}
}

func errorsIsNotFound(err error) bool { return errors.Is(err, chat.ErrNotFound) }

package ws

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/chat"
)

// ServeHTTP upgrades GET /api/v1/ws/live-chat. Refusals happen before the
// upgrade, with a plain HTTP status: 403 for a foreign Origin not on the
// allowlist, 503 while shutting down. An upgrade with a valid ?token= is
// admitted onto the authenticated budget (503 over the instance cap, 429
// over the operator's); any other onto the pending budget (503 over the
// instance's, 429 over the client IP's).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !h.originAllowed(origin, r.Host) {
		h.log.Info("upgrade refused: origin not allowed", "origin", origin)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	token := r.URL.Query().Get("token")
	var (
		c      *Conn
		status int
	)
	if opID, ok := h.tokenOperator(token); ok {
		c, status = h.admitToken(opID)
	} else {
		c, status = h.admitPending(clientIP(r))
	}
	if c == nil {
		http.Error(w, "too many connections", status)
		return
	}
	conn, err := h.upgrader.Upgrade(w, r, nil) // answers the client itself on failure
	if err != nil {
		h.release(c)
		return
	}
	c.queryToken = token
	// The request context ends with the handler; cleanup after the socket
	// ends must still reach the store and the bus.
	c.serve(context.WithoutCancel(r.Context()), conn)
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
		h.broadcastPresence(ctx)
		h.kpisChanged(ctx)
	}
}

func operatorRoom(opID int64, room string) lc.OperatorRoomPayloadSchema {
	uid := lc.LineUserIdSchema(room)
	return lc.OperatorRoomPayloadSchema{AdminId: idString(opID), RoomId: "conversation:" + room, LineUserId: &uid}
}

func errorsIsNotFound(err error) bool { return errors.Is(err, chat.ErrNotFound) }

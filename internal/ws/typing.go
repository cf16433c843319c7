package ws

import (
	"context"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/clock"
)

// TypingTimeout ends a typing state that was not renewed.
const TypingTimeout = 6 * time.Second

// typing is a socket's typing state.
type typing struct {
	room  string
	timer clock.Timer
	gen   uint64 // guards against a timer that fired after a renewal
}

func (c *Conn) typingRoom() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.typing.room
}

// typingStarted announces typing to the room's other operators on the first
// typing_start, and renews the 6 s expiry on each later one.
func (h *Hub) typingStarted(ctx context.Context, c *Conn, room string) {
	c.mu.Lock()
	announce := c.typing.room != room
	if c.typing.timer != nil {
		c.typing.timer.Stop()
	}
	c.typing.room = room
	c.typing.gen++
	gen := c.typing.gen
	c.typing.timer = h.deps.Clock.AfterFunc(TypingTimeout, func() {
		c.mu.Lock()
		expired := c.typing.gen == gen && c.typing.room == room
		c.mu.Unlock()
		if expired {
			h.typingEnded(ctx, c, room)
		}
	})
	c.mu.Unlock()
	if l := h.loadingAnimation(); l != nil {
		l.Start(room) // LINE's "operator is typing"; debounced by Loading
	}
	if announce {
		h.publishTyping(ctx, c, room, true)
	}
}

// Loading shows LINE's loading animation to a customer.
type Loading interface {
	Start(lineUserID string) bool
}

// SetLoading installs the LINE loading animation started by typing_start.
func (h *Hub) SetLoading(l Loading) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.loading = l
}

func (h *Hub) loadingAnimation() Loading {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.loading
}

// typingEnded clears the socket's typing state in room, if any, and tells the room.
func (h *Hub) typingEnded(ctx context.Context, c *Conn, room string) {
	if room == "" {
		return
	}
	c.mu.Lock()
	if c.typing.room != room {
		c.mu.Unlock()
		return
	}
	if c.typing.timer != nil {
		c.typing.timer.Stop()
	}
	c.typing = typing{gen: c.typing.gen + 1}
	c.mu.Unlock()
	h.publishTyping(ctx, c, room, false)
}

// publishTyping goes to the room's other operators, never the typist's own tabs.
func (h *Hub) publishTyping(ctx context.Context, c *Conn, room string, on bool) {
	op, ok := c.operator()
	if !ok {
		return
	}
	h.publish(ctx, bus.Audience{Kind: bus.Room, Room: room, ExcludeOperator: op.ID}, lc.NewTypingIndicatorEvent(lc.TypingIndicatorPayloadSchema{
		LineUserId: lc.LineUserIdSchema(room), AdminId: idString(op.ID), IsTyping: on,
	}, h.deps.Clock.Now()))
}

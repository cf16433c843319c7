package ws

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
)

// The inbox row after a customer message (conversation_update, list
// variant) is per operator: its unread count. The instance that stored the
// message updates its own operators; every other instance gets the row
// over the bus (bus.Inbox, the count left 0) and updates its own, off the
// bus's delivery path, since that takes two statements. An operator with
// tabs on two instances, one of them in the room, may briefly see the
// message as unread in the other.

// inboxQueue bounds the rows waiting for this instance's worker; past it a
// row is dropped (the next message of that conversation carries the count
// again) and the drop logged, sampled.
const inboxQueue = 1024

// inboxTimeout bounds one row's statements.
const inboxTimeout = 10 * time.Second

// queueInbox hands another instance's row to the worker without blocking.
func (h *Hub) queueInbox(m bus.Message) {
	select {
	case h.inbox <- m:
	default:
		sampled(context.Background(), h.floods.inbox, h.log, slog.LevelWarn, "inbox row dropped: the worker is behind", "queue", inboxQueue)
	}
}

// inboxLoop updates this instance's inboxes with other instances' rows.
func (h *Hub) inboxLoop() {
	defer close(h.inboxDone)
	for {
		select {
		case <-h.stop:
			return
		case m := <-h.inbox:
			var row lc.ConversationUpdateMessagePayload
			if err := json.Unmarshal(m.Frame, &row); err != nil {
				h.log.Warn("inbox row from the bus: decode", "err", err)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), inboxTimeout)
			h.updateInboxes(ctx, m.Audience.Room, m.Seq, row)
			cancel()
		}
	}
}

// updateInboxes sends row, with each operator's unread count, to this
// instance's online operators, and marks it read for those watching room:
// two statements, however many operators are online.
func (h *Hub) updateInboxes(ctx context.Context, room string, seq int64, row lc.ConversationUpdateMessagePayload) {
	watching := h.watchers(room)
	var readers, others []int64
	for opID := range h.localOnline() {
		if watching[opID] {
			readers = append(readers, opID)
		} else {
			others = append(others, opID)
		}
	}
	if len(readers)+len(others) == 0 {
		return
	}
	if err := h.deps.Store.MarkReadBy(ctx, readers, room, seq); err != nil {
		h.log.Error("conversation update: mark read", "err", err)
	}
	unread, err := h.deps.Store.UnreadBy(ctx, others, room)
	if err != nil {
		h.log.Error("conversation update: unread", "err", err)
		others = nil
	}
	for _, opID := range append(readers, others...) {
		u := int64(unread[opID])
		row.Payload.UnreadCount = &u
		data, err := json.Marshal(row)
		if err != nil {
			h.log.Error("encode frame", "err", err)
			return
		}
		h.sendOperator(opID, &outbound{data: data})
	}
}

// sendOperator queues o to this instance's sockets of operator opID.
func (h *Hub) sendOperator(opID int64, o *outbound) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.ops[opID] {
		c.enqueue(o)
	}
}

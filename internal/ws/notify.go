package ws

import (
	"context"
	"math"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/chat"
)

var _ chat.Notifier = (*Hub)(nil)

// SessionQueued tells every operator a customer waits.
func (h *Hub) SessionQueued(ctx context.Context, s chat.Session, c chat.Customer, position, total int) {
	name := c.Name()
	h.publish(ctx, bus.Audience{Kind: bus.All}, lc.NewSessionQueuedEvent(lc.SessionQueuedPayloadSchema{
		LineUserId: lc.LineUserIdSchema(s.LineUserID), SessionId: s.ID, DisplayName: &name,
		StartedAt: s.StartedAt.UTC(), QueuePosition: int64(position), TotalWaiting: int64(total), Repeat: repeat(s),
	}, h.deps.Clock.Now()))
	h.kpisChanged(ctx)
}

// repeat is session_queued's repeat flag: set on the repeats for a session
// still unclaimed (chat.Service.RealertUnclaimed), absent on the first.
func repeat(s chat.Session) *bool {
	if s.QueueAlerts == 0 {
		return nil
	}
	t := true
	return &t
}

func (h *Hub) SessionClaimed(ctx context.Context, s chat.Session) {
	h.publish(ctx, bus.Audience{Kind: bus.All}, lc.NewSessionClaimedEvent(lc.SessionClaimedPayloadSchema{
		LineUserId: lc.LineUserIdSchema(s.LineUserID), SessionId: s.ID, Status: lc.SessionStatusSchema(s.Status), OperatorId: deref(s.OperatorID),
	}, h.deps.Clock.Now()))
	h.sessionsChanged(ctx, deref(s.OperatorID))
}

func (h *Hub) SessionClosed(ctx context.Context, s chat.Session) {
	p := lc.SessionClosedPayloadSchema{LineUserId: lc.LineUserIdSchema(s.LineUserID), SessionId: s.ID}
	if s.ClosedBy != nil {
		by := string(*s.ClosedBy)
		p.ClosedBy = &by
	}
	p.OperatorId = s.ClosedByID
	if s.CloseReason != "" {
		reason := s.CloseReason
		p.Reason = &reason
	}
	h.publish(ctx, bus.Audience{Kind: bus.All}, lc.NewSessionClosedEvent(p, h.deps.Clock.Now()))
	h.sessionsChanged(ctx, deref(s.OperatorID))
}

func (h *Hub) SessionTransferred(ctx context.Context, s chat.Session, from int64) {
	h.publish(ctx, bus.Audience{Kind: bus.All}, lc.NewSessionTransferredEvent(lc.SessionTransferredPayloadSchema{
		LineUserId: lc.LineUserIdSchema(s.LineUserID), SessionId: s.ID, FromOperatorId: from, ToOperatorId: deref(s.OperatorID), Reason: s.TransferReason,
	}, h.deps.Clock.Now()))
	h.sessionsChanged(ctx, from, deref(s.OperatorID))
}

// sessionsChanged follows a change of session ownership: the active_chats
// of those operators moved, and the KPIs.
func (h *Hub) sessionsChanged(ctx context.Context, operators ...int64) {
	h.presenceChanged(ctx, operators...)
	h.kpisChanged(ctx)
}

// MessageStored sends new_message to the room (minus the sending tab). A
// customer message also updates every online operator's inbox with the list
// variant: operators watching the room have read it (unread 0), the others
// get their unread count. Watchers get it too: the UI updates its inbox row
// only from this event. This instance updates its own operators' inboxes
// before it returns; the other instances are sent the row over the bus and
// update theirs (inbox.go).
func (h *Hub) MessageStored(ctx context.Context, m chat.Message, tempID, excludeConn string) {
	now := h.deps.Clock.Now()
	h.publishSeq(ctx, bus.Audience{Kind: bus.Room, Room: m.LineUserID, ExcludeConn: excludeConn}, m.Seq, lc.NewNewMessageEvent(h.deps.Wire.Message(m, tempID), now))
	if m.Direction != chat.Incoming {
		return
	}
	cust, err := h.deps.Store.Customer(ctx, m.LineUserID)
	if err != nil {
		h.log.Error("conversation update: load customer", "err", err)
		return
	}
	row := lc.NewConversationUpdateEvent(listView(cust, m, 0), now)
	h.updateInboxes(ctx, m.LineUserID, m.Seq, row)
	h.publishSeq(ctx, bus.Audience{Kind: bus.Inbox, Room: m.LineUserID}, m.Seq, row)
}

// watchers is the set of operators with a socket in room.
func (h *Hub) watchers(room string) map[int64]bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := map[int64]bool{}
	for c := range h.rooms[room] {
		if op, ok := c.operator(); ok {
			out[op.ID] = true
		}
	}
	return out
}

// MessageFailed tells the sender's tabs that delivery failed.
func (h *Hub) MessageFailed(ctx context.Context, m chat.Message, tempID, reason string, retryable bool) {
	if m.OperatorID == nil {
		return
	}
	p := lc.MessageFailedPayloadSchema{MessageId: &m.ID, Error: reason, Retryable: retryable}
	uid := lc.LineUserIdSchema(m.LineUserID)
	p.LineUserId = &uid
	if tempID != "" {
		p.TempId = &tempID
	}
	h.publish(ctx, bus.Audience{Kind: bus.Operator, OperatorID: *m.OperatorID}, lc.NewMessageFailedEvent(p, h.deps.Clock.Now()))
}

// MessageDelivered tells the sender's tabs that LINE accepted the message.
func (h *Hub) MessageDelivered(ctx context.Context, m chat.Message, tempID string) {
	if m.OperatorID == nil {
		return
	}
	p := lc.MessageAckPayloadSchema{MessageId: m.ID, LineUserId: lc.LineUserIdSchema(m.LineUserID), DeliveryStatus: string(chat.DeliverySent)}
	if tempID != "" {
		p.TempId = &tempID
	}
	h.publish(ctx, bus.Audience{Kind: bus.Operator, OperatorID: *m.OperatorID}, lc.NewMessageAckEvent(p, h.deps.Clock.Now()))
}

// CSATReceived tells the session's operator (the one who had it, or who
// closed it when nobody had claimed it) and the analytics subscribers.
func (h *Hub) CSATReceived(ctx context.Context, s chat.Session, score int) {
	op := s.OperatorID
	if op == nil {
		op = s.ClosedByID
	}
	aud := bus.Audience{Kind: bus.Analytics}
	if op != nil {
		aud = bus.Audience{Kind: bus.Operator, OperatorID: *op, WithAnalytics: true}
	}
	h.publish(ctx, aud, lc.NewCsatReceivedEvent(lc.CsatReceivedPayloadSchema{
		LineUserId: lc.LineUserIdSchema(s.LineUserID), SessionId: s.ID, Score: int64(score),
	}, h.deps.Clock.Now()))
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// SLAAlert sends an alert to every operator.
func (h *Hub) SLAAlert(ctx context.Context, a chat.SLAAlert) {
	h.deps.Metrics.SLAAlert(a.Severity)
	h.publish(ctx, bus.Audience{Kind: bus.All}, lc.NewSlaAlertEvent(lc.SlaAlertPayloadSchema{
		Metric: a.Metric, ValueSeconds: math.Round(a.Value.Seconds()*10) / 10, ThresholdSeconds: a.Threshold.Seconds(),
		LineUserId: lc.LineUserIdSchema(a.LineUserID), SessionId: a.SessionID, Severity: a.Severity, Message: a.Message(),
	}, h.deps.Clock.Now()))
}

// MessageUnsent tells every operator (the room's, and every inbox) that a
// customer unsent a message.
func (h *Hub) MessageUnsent(ctx context.Context, m chat.Message) {
	h.publish(ctx, bus.Audience{Kind: bus.All}, lc.NewMessageUnsentEvent(lc.MessageUnsentPayloadSchema{
		LineUserId: lc.LineUserIdSchema(m.LineUserID), MessageId: m.ID, Seq: m.Seq,
	}, h.deps.Clock.Now()))
}

// ConversationTagged tells every operator a conversation's tags.
func (h *Hub) ConversationTagged(ctx context.Context, lineUserID string, tags []chat.Tag) {
	out := make([]lc.TagSchema, len(tags))
	for i, t := range tags {
		out[i] = lc.TagSchema{Id: t.ID, Name: t.Name, Color: t.Color}
	}
	h.publish(ctx, bus.Audience{Kind: bus.All}, lc.NewConversationTaggedEvent(lc.ConversationTaggedPayloadSchema{
		LineUserId: lc.LineUserIdSchema(lineUserID), Tags: out,
	}, h.deps.Clock.Now()))
}

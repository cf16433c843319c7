package ws

import (
	"encoding/json"

	lc "livechat/gen/livechat"
	"livechat/internal/chat"
)

// messageView is the wire form of a stored message.
func messageView(m chat.Message, tempID string) lc.ChatMessageSchema {
	v := lc.ChatMessageSchema{
		Id:          m.ID,
		Seq:         m.Seq,
		LineUserId:  lc.LineUserIdSchema(m.LineUserID),
		SessionId:   m.SessionID,
		Direction:   string(m.Direction),
		Content:     m.Content,
		MessageType: m.MessageType,
		OperatorId:  m.OperatorID,
		CreatedAt:   m.CreatedAt.UTC(),
	}
	if len(m.Payload) > 0 && string(m.Payload) != "null" {
		p := json.RawMessage(m.Payload)
		v.Payload = &p
	}
	if m.SenderRole != "" {
		r := string(m.SenderRole)
		v.SenderRole = &r
	}
	if m.OperatorName != "" {
		n := m.OperatorName
		v.OperatorName = &n
	}
	if m.DeliveryStatus != chat.DeliveryNone {
		d := string(m.DeliveryStatus)
		v.DeliveryStatus = &d
	}
	if tempID != "" {
		v.TempId = &tempID
	}
	return v
}

func sessionView(s chat.Session) lc.SessionInfoSchema {
	started := s.StartedAt.UTC()
	tc := int64(s.TransferCount)
	v := lc.SessionInfoSchema{Id: s.ID, Status: lc.SessionStatusSchema(s.Status), OperatorId: s.OperatorID, StartedAt: &started, TransferCount: &tc}
	if s.ClaimedAt != nil {
		c := s.ClaimedAt.UTC()
		v.ClaimedAt = &c
	}
	return v
}

// customerView fills the fields both conversation_update variants share.
func customerView(c chat.Customer) lc.ConversationUpdatePayloadSchema {
	name := c.DisplayName
	if name == "" {
		name = "LINE User"
	}
	mode := string(c.ChatMode)
	seq := c.LastSeq
	v := lc.ConversationUpdatePayloadSchema{LineUserId: lc.LineUserIdSchema(c.LineUserID), DisplayName: &name, ChatMode: &mode, LastSeq: &seq}
	if c.PictureURL != "" {
		p := c.PictureURL
		v.PictureUrl = &p
	}
	return v
}

// joinView is the join variant of conversation_update.
func joinView(h chat.History) lc.ConversationUpdatePayloadSchema {
	v := customerView(h.Customer)
	if h.Session != nil {
		s := sessionView(*h.Session)
		v.Session = &s
	}
	v.Messages = make([]lc.ChatMessageSchema, 0, len(h.Messages))
	for _, m := range h.Messages {
		v.Messages = append(v.Messages, messageView(m, ""))
	}
	return v
}

// listView is the inbox variant of conversation_update.
func listView(c chat.Customer, last chat.Message, unread int) lc.ConversationUpdatePayloadSchema {
	v := customerView(c)
	seq := last.Seq
	v.LastMessage = &lc.LastMessageSchema{Content: last.Content, CreatedAt: last.CreatedAt.UTC(), Seq: &seq}
	u := int64(unread)
	v.UnreadCount = &u
	return v
}

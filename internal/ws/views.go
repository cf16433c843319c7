package ws

import (
	lc "livechat/gen/livechat"
	"livechat/internal/chat"
	"livechat/internal/wire"
)

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
	name := c.Name()
	mode := string(c.ChatMode)
	seq := c.LastSeq
	v := lc.ConversationUpdatePayloadSchema{LineUserId: lc.LineUserIdSchema(c.LineUserID), DisplayName: &name, ChatMode: &mode, LastSeq: &seq}
	if c.PictureURL != "" {
		p := c.PictureURL
		v.PictureUrl = &p
	}
	return v
}

// joinView is the join variant of conversation_update; resume adds the
// resync flag.
func joinView(w *wire.Converter, h chat.History, resume bool) lc.ConversationUpdatePayloadSchema {
	v := customerView(h.Customer)
	if h.Session != nil {
		s := sessionView(*h.Session)
		v.Session = &s
	}
	v.Messages = w.Messages(h.Messages)
	if resume {
		v.Resync = &h.Resync
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

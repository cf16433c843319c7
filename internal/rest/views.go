package rest

import (
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/chat"
	"livechat/internal/wire"
)

// The wire forms. Optional fields are omitted when absent, never null;
// times are UTC. Messages reuse the spec's ChatMessage type so that REST and
// the socket name every field alike.

// sessionJSON is a chat session.
type sessionJSON struct {
	ID             int64      `json:"id"`
	LineUserID     string     `json:"line_user_id"`
	Status         string     `json:"status"`
	OperatorID     *int64     `json:"operator_id,omitempty"`
	StartedAt      time.Time  `json:"started_at"`
	ClaimedAt      *time.Time `json:"claimed_at,omitempty"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	ClosedBy       string     `json:"closed_by,omitempty"`
	TransferCount  int        `json:"transfer_count"`
	TransferReason string     `json:"transfer_reason,omitempty"`
	CSATScore      *int       `json:"csat_score,omitempty"`
}

func sessionView(s chat.Session) sessionJSON {
	v := sessionJSON{
		ID:            s.ID,
		LineUserID:    s.LineUserID,
		Status:        string(s.Status),
		OperatorID:    s.OperatorID,
		StartedAt:     s.StartedAt.UTC(),
		ClaimedAt:     utc(s.ClaimedAt),
		ClosedAt:      utc(s.ClosedAt),
		TransferCount: s.TransferCount,
		CSATScore:     s.CSATScore,
	}
	if s.ClosedBy != nil {
		v.ClosedBy = string(*s.ClosedBy)
	}
	if s.TransferReason != nil {
		v.TransferReason = *s.TransferReason
	}
	return v
}

func sessionPtr(s *chat.Session) *sessionJSON {
	if s == nil {
		return nil
	}
	v := sessionView(*s)
	return &v
}

// customerJSON is what the inbox row and the detail say about the customer.
type customerJSON struct {
	LineUserID   string `json:"line_user_id"`
	DisplayName  string `json:"display_name"`
	PictureURL   string `json:"picture_url,omitempty"`
	FriendStatus string `json:"friend_status"`
	ChatMode     string `json:"chat_mode"`
	LastSeq      int64  `json:"last_seq"`
}

func customerView(c chat.Customer) customerJSON {
	return customerJSON{
		LineUserID:   c.LineUserID,
		DisplayName:  displayName(c),
		PictureURL:   c.PictureURL,
		FriendStatus: c.FriendStatus,
		ChatMode:     string(c.ChatMode),
		LastSeq:      c.LastSeq,
	}
}

// displayName falls back like the socket's conversation_update does.
func displayName(c chat.Customer) string { return c.Name() }

// conversationItem is an inbox row.
type conversationItem struct {
	customerJSON
	Session     *sessionJSON     `json:"session,omitempty"`
	LastMessage *lastMessageJSON `json:"last_message,omitempty"`
	UnreadCount int              `json:"unread_count"`
	Tags        []chat.Tag       `json:"tags"`
}

type lastMessageJSON struct {
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
	Seq       int64     `json:"seq"`
}

func conversationView(c chat.Conversation) conversationItem {
	v := conversationItem{customerJSON: customerView(c.Customer), Session: sessionPtr(c.Session), UnreadCount: c.Unread, Tags: c.Tags}
	if v.Tags == nil {
		v.Tags = []chat.Tag{}
	}
	if m := c.LastMessage; m != nil {
		v.LastMessage = &lastMessageJSON{Content: m.Content, CreatedAt: m.CreatedAt.UTC(), Seq: m.Seq}
	}
	return v
}

// conversationDetail is one conversation with its latest messages.
type conversationDetail struct {
	customerJSON
	Session  *sessionJSON           `json:"session,omitempty"`
	Messages []lc.ChatMessageSchema `json:"messages"`
	Tags     []chat.Tag             `json:"tags"`
}

func detailView(w *wire.Converter, h chat.History, tags []chat.Tag) conversationDetail {
	if tags == nil {
		tags = []chat.Tag{}
	}
	return conversationDetail{customerJSON: customerView(h.Customer), Session: sessionPtr(h.Session), Messages: w.Messages(h.Messages), Tags: tags}
}

// searchItem is a search hit: the message and whose conversation it is in.
type searchItem struct {
	lc.ChatMessageSchema
	DisplayName string `json:"display_name,omitempty"`
}

// operatorJSON is an operator as login returns it.
type operatorJSON struct {
	ID          int64  `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Role        string `json:"role"`
}

func operatorView(o chat.Operator) operatorJSON {
	return operatorJSON{ID: o.ID, Username: o.Username, DisplayName: o.DisplayName, Role: string(o.Role)}
}

// operatorEntry is an operator in the team list, with its presence.
type operatorEntry struct {
	operatorJSON
	Active      bool   `json:"active"`
	Status      string `json:"status"` // online, away, busy or offline
	Online      bool   `json:"online"`
	ActiveChats int    `json:"active_chats"`
}

func operatorEntryView(o chat.Operator, online map[int64]string, chats map[int64]int) operatorEntry {
	status, on := online[o.ID]
	if !on || status == "" {
		status = "offline"
	}
	return operatorEntry{operatorJSON: operatorView(o), Active: o.Active, Status: status, Online: on, ActiveChats: chats[o.ID]}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

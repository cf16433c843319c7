// Package wire converts domain values to the generated wire types, so the
// socket and the REST API spell every field the same way.
package wire

import (
	lc "livechat/gen/livechat"
	"livechat/internal/chat"
	"livechat/internal/mediaurl"
)

// Converter converts messages for the wire. Media URLs expire, so they are
// made here, at conversion, never stored; hence a Converter holds the
// signer, and serve builds one for the socket and the REST API alike. A nil
// *Converter converts without media URLs (tests that do not look at them).
type Converter struct {
	media *mediaurl.Signer
}

// New returns a converter that signs media URLs with media.
func New(media *mediaurl.Signer) *Converter { return &Converter{media: media} }

// Message is a stored message as the spec's ChatMessage. Optional fields are
// omitted when empty, never null; times are UTC.
func (c *Converter) Message(m chat.Message, tempID string) lc.ChatMessageSchema {
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
		p := c.payload(m)
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
	if m.UnsentAt != nil {
		t := true
		v.Unsent = &t
	}
	return v
}

// Messages converts a list, oldest first as given.
func (c *Converter) Messages(ms []chat.Message) []lc.ChatMessageSchema {
	out := make([]lc.ChatMessageSchema, 0, len(ms))
	for _, m := range ms {
		out = append(out, c.Message(m, ""))
	}
	return out
}

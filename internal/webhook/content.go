package webhook

import (
	"encoding/json"
	"strconv"
	"strings"

	"livechat/internal/chat"
)

// chatMessage maps a LINE message to a stored customer message: a readable
// content summary for the inbox and search, and the LINE ids and details in
// the payload (the media endpoint fetches content by line_message_id). ok
// is false for types a customer cannot send.
func chatMessage(lineUserID, webhookEventID string, m message) (chat.Message, bool) {
	m.clean()
	p := map[string]any{"line_message_id": m.ID, "webhook_event_id": webhookEventID}
	var content string
	switch m.Type {
	case "text":
		content = strings.TrimSpace(m.Text)
		if content == "" {
			content = "[Text]"
		}
		if m.QuoteToken != "" {
			p["quote_token"] = m.QuoteToken
		}
	case "image":
		content = "[Image]"
		m.media(p)
	case "video":
		content = "[Video]"
		m.media(p)
	case "audio":
		content = "[Audio]"
		m.media(p)
	case "file":
		content = strings.TrimSpace(m.FileName)
		if content == "" {
			content = "[File]"
		}
		p["file_name"] = m.FileName
		p["file_size"] = m.FileSize
	case "sticker":
		content = "[Sticker " + m.PackageID + "/" + m.StickerID + "]"
		p["package_id"] = m.PackageID
		p["sticker_id"] = m.StickerID
		if m.StickerResourceType != "" {
			p["sticker_resource_type"] = m.StickerResourceType
		}
	case "location":
		content = "[Location] " + location(m)
		p["title"] = m.Title
		p["address"] = m.Address
		p["latitude"] = m.Latitude
		p["longitude"] = m.Longitude
	default:
		return chat.Message{}, false
	}
	payload, _ := json.Marshal(p) // strings and numbers only: cannot fail
	return chat.Message{
		LineUserID:  lineUserID,
		Direction:   chat.Incoming,
		MessageType: m.Type,
		Content:     content,
		Payload:     payload,
		SenderRole:  chat.SenderUser,
	}, true
}

// media adds what an image, video or audio message says about its content.
func (m message) media(p map[string]any) {
	provider := "line"
	if m.ContentProvider != nil && m.ContentProvider.Type != "" {
		provider = m.ContentProvider.Type
		if u := m.ContentProvider.OriginalContentURL; u != "" {
			p["original_content_url"] = u
		}
		if u := m.ContentProvider.PreviewImageURL; u != "" {
			p["preview_image_url"] = u
		}
	}
	p["content_provider"] = provider
	if m.Duration > 0 {
		p["duration_ms"] = m.Duration
	}
}

// location is "title / address", whichever exist, else the coordinates.
func location(m message) string {
	var parts []string
	for _, s := range []string{m.Title, m.Address} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, " / ")
	}
	return strconv.FormatFloat(m.Latitude, 'f', -1, 64) + "," + strconv.FormatFloat(m.Longitude, 'f', -1, 64)
}

// clean drops NUL characters from the customer's free text: JSON allows
// them, Postgres text and jsonb do not, and an event that cannot be stored
// would fail until quarantined. (The ids are checked at the door.)
func (m *message) clean() {
	for _, f := range []*string{&m.Text, &m.FileName, &m.Title, &m.Address} {
		*f = chat.StripUnstorable(*f)
	}
}

package wire

import (
	"encoding/json"

	"livechat/internal/chat"
	"livechat/internal/mediaurl"
)

// mediaTypes are the message types whose content a customer sends as a
// file; the content endpoint serves them.
var mediaTypes = map[string]bool{"image": true, "video": true, "audio": true, "file": true}

// previewTypes are the media types LINE makes a preview of.
var previewTypes = map[string]bool{"image": true, "video": true}

// payload is m's stored payload with, for a customer's media, what the
// SKN admin UI's message bubble reads: url (the content), preview_url
// (images and videos) and size (bytes, when known). Content LINE keeps gets
// signed URLs to our content endpoint; content another provider hosts gets
// that provider's URLs as LINE gave them. Every stored key is kept.
func (c *Converter) payload(m chat.Message) json.RawMessage {
	raw := json.RawMessage(m.Payload)
	if m.Direction != chat.Incoming || !mediaTypes[m.MessageType] || m.UnsentAt != nil {
		return raw // an unsent message's is its LINE id alone: no content to link
	}
	// The keys the webhook stores (internal/webhook/content.go).
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil || fields == nil {
		return raw // not an object: as stored
	}
	str := func(k string) string {
		var v string
		_ = json.Unmarshal(fields[k], &v) // absent or not a string: ""
		return v
	}
	set := func(k string, v any) {
		b, _ := json.Marshal(v) // a string or a number: cannot fail
		fields[k] = b
	}
	switch provider := str("content_provider"); {
	case provider != "" && provider != "line":
		if u := str("original_content_url"); u != "" {
			set("url", u)
		}
		if u := str("preview_image_url"); u != "" && previewTypes[m.MessageType] {
			set("preview_url", u)
		}
	case c != nil && c.media != nil && str("line_message_id") != "":
		set("url", c.media.URL(m.ID, mediaurl.Full))
		if previewTypes[m.MessageType] {
			set("preview_url", c.media.URL(m.ID, mediaurl.Preview))
		}
	}
	var size int64
	if json.Unmarshal(fields["file_size"], &size) == nil && size > 0 {
		set("size", size)
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return raw
	}
	return out
}

package webhook

import (
	"encoding/json"
	"time"
)

// The LINE webhook body and event objects, as far as we read them
// (developers.line.biz Messaging API reference, "Webhook Event Objects").

type body struct {
	Destination string            `json:"destination"`
	Events      []json.RawMessage `json:"events"`
}

type event struct {
	Type            string `json:"type"`
	Mode            string `json:"mode"`      // active or standby
	Timestamp       int64  `json:"timestamp"` // milliseconds since the epoch
	WebhookEventID  string `json:"webhookEventId"`
	ReplyToken      string `json:"replyToken"`
	Source          source `json:"source"`
	DeliveryContext struct {
		IsRedelivery bool `json:"isRedelivery"`
	} `json:"deliveryContext"`
	Message  *message `json:"message"`
	Postback *struct {
		Data string `json:"data"`
	} `json:"postback"`
	Unsend *struct {
		MessageID string `json:"messageId"`
	} `json:"unsend"`
}

type source struct {
	Type    string `json:"type"` // user, group or room
	UserID  string `json:"userId"`
	GroupID string `json:"groupId"`
	RoomID  string `json:"roomId"`
}

// message is the union of the message types a customer can send.
type message struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Text       string `json:"text"`
	QuoteToken string `json:"quoteToken"`
	// sticker
	PackageID           string `json:"packageId"`
	StickerID           string `json:"stickerId"`
	StickerResourceType string `json:"stickerResourceType"`
	// file
	FileName string `json:"fileName"`
	FileSize int64  `json:"fileSize"`
	// video, audio
	Duration int64 `json:"duration"`
	// image, video, audio
	ContentProvider *struct {
		Type               string `json:"type"` // line or external
		OriginalContentURL string `json:"originalContentUrl"`
		PreviewImageURL    string `json:"previewImageUrl"`
	} `json:"contentProvider"`
	// location
	Title     string  `json:"title"`
	Address   string  `json:"address"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// at is the event's time; zero when LINE gave none.
func (e event) at() time.Time {
	if e.Timestamp <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(e.Timestamp).UTC()
}

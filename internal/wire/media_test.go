package wire_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/mediaurl"
	"livechat/internal/wire"
)

// payload converts a message with c and decodes its payload.
func payload(t *testing.T, c *wire.Converter, m chat.Message) map[string]any {
	t.Helper()
	v := c.Message(m, "")
	if v.Payload == nil {
		t.Fatalf("message %d: no payload", m.ID)
	}
	var p map[string]any
	if err := json.Unmarshal(*v.Payload, &p); err != nil {
		t.Fatalf("payload %s: %v", *v.Payload, err)
	}
	return p
}

func incoming(id int64, typ, raw string) chat.Message {
	return chat.Message{ID: id, LineUserID: "U0123456789abcdef0123456789abcdef", Seq: id, Direction: chat.Incoming,
		MessageType: typ, Content: "[" + typ + "]", Payload: json.RawMessage(raw), SenderRole: chat.SenderUser}
}

func TestMediaPayloads(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	signer := mediaurl.New([]byte("0123456789abcdef0123456789abcdef"), 10*time.Minute, clk)
	c := wire.New(signer)
	// signed checks that u is a valid signed URL of message id's variant.
	signed := func(t *testing.T, u any, id int64, v mediaurl.Variant) {
		t.Helper()
		s, _ := u.(string)
		parsed, err := url.Parse(s)
		if err != nil || parsed.Path != mediaurl.Path(id) {
			t.Fatalf("%v is not a URL of message %d's content", u, id)
		}
		q := parsed.Query()
		if err := signer.Verify(id, v, q.Get("exp"), q.Get("sig")); err != nil || (q.Get("preview") == "1") != (v == mediaurl.Preview) {
			t.Fatalf("%s: %v (variant %v)", s, err, v)
		}
	}

	img := payload(t, c, incoming(1, "image", `{"line_message_id":"101","webhook_event_id":"E1","content_provider":"line"}`))
	signed(t, img["url"], 1, mediaurl.Full)
	signed(t, img["preview_url"], 1, mediaurl.Preview)
	if img["line_message_id"] != "101" || img["webhook_event_id"] != "E1" || img["content_provider"] != "line" || img["size"] != nil {
		t.Errorf("image payload %v: the stored keys must stay, and no size is known", img)
	}

	gone := incoming(6, "image", `{"line_message_id":"106"}`)
	at := clk.Now()
	gone.UnsentAt = &at
	if p := payload(t, c, gone); p["url"] != nil || p["preview_url"] != nil || p["line_message_id"] != "106" {
		t.Errorf("an unsent image's payload %v: want no URLs", p)
	}

	video := payload(t, c, incoming(2, "video", `{"line_message_id":"102","content_provider":"line","duration_ms":9000}`))
	signed(t, video["url"], 2, mediaurl.Full)
	signed(t, video["preview_url"], 2, mediaurl.Preview)
	if video["duration_ms"] != float64(9000) {
		t.Errorf("video payload %v", video)
	}

	audio := payload(t, c, incoming(3, "audio", `{"line_message_id":"103","content_provider":"line","duration_ms":3000}`))
	signed(t, audio["url"], 3, mediaurl.Full)
	if _, ok := audio["preview_url"]; ok {
		t.Errorf("audio has a preview_url: %v", audio)
	}

	file := payload(t, c, incoming(4, "file", `{"line_message_id":"104","file_name":"report.pdf","file_size":123456}`))
	signed(t, file["url"], 4, mediaurl.Full)
	if _, ok := file["preview_url"]; ok || file["size"] != float64(123456) || file["file_size"] != float64(123456) || file["file_name"] != "report.pdf" {
		t.Errorf("file payload %v: want size = file_size, no preview_url", file)
	}
	if noSize := payload(t, c, incoming(5, "file", `{"line_message_id":"105","file_name":"x","file_size":0}`)); noSize["size"] != nil {
		t.Errorf("file without a known size: %v", noSize)
	}

	// Content another service hosts: its URLs, as LINE gave them.
	ext := payload(t, c, incoming(6, "image", `{"line_message_id":"106","content_provider":"external",`+
		`"original_content_url":"https://cdn.example.com/a.jpg?x=1&y=2","preview_image_url":"https://cdn.example.com/a-small.jpg"}`))
	if ext["url"] != "https://cdn.example.com/a.jpg?x=1&y=2" || ext["preview_url"] != "https://cdn.example.com/a-small.jpg" {
		t.Errorf("external image payload %v", ext)
	}
	extAudio := payload(t, c, incoming(7, "audio", `{"line_message_id":"107","content_provider":"external","original_content_url":"https://cdn.example.com/a.m4a"}`))
	if _, ok := extAudio["preview_url"]; extAudio["url"] != "https://cdn.example.com/a.m4a" || ok {
		t.Errorf("external audio payload %v", extAudio)
	}

	// Everything else is as stored.
	for _, m := range []chat.Message{
		incoming(8, "text", `{"line_message_id":"108","quote_token":"q"}`),
		incoming(9, "sticker", `{"line_message_id":"109","package_id":"1","sticker_id":"2"}`),
		{ID: 10, Direction: chat.Outgoing, MessageType: "image", Payload: json.RawMessage(`{"line_message_id":"110"}`)},
		incoming(11, "image", `["not","an","object"]`),
	} {
		if got := c.Message(m, ""); got.Payload == nil || !reflect.DeepEqual([]byte(*got.Payload), []byte(m.Payload)) {
			t.Errorf("message %d (%s): payload %s, want it as stored: %s", m.ID, m.MessageType, *got.Payload, m.Payload)
		}
	}

	// Without a signer (a nil converter): sizes, but no URLs to our endpoint.
	var none *wire.Converter
	bare := payload(t, none, incoming(12, "file", `{"line_message_id":"112","file_size":7}`))
	if _, ok := bare["url"]; ok || bare["size"] != float64(7) {
		t.Errorf("nil converter: %v", bare)
	}
	if n := len(none.Messages([]chat.Message{incoming(13, "text", `{}`)})); n != 1 {
		t.Errorf("nil converter converted %d messages", n)
	}
}

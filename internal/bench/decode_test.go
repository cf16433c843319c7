package bench

import (
	"encoding/json"
	"testing"
	"time"

	lc "livechat/gen/livechat"
)

func TestDecodeMessageMatchesEncodingJSON(t *testing.T) {
	op, name, role, status := int64(12), "Bench 12", "ADMIN", "pending"
	session := int64(89)
	temp := stamp(3, 1234567890123)
	livechat, _ := json.Marshal(lc.NewNewMessageEvent(lc.ChatMessageSchema{
		Content: `tricky: "id":5, "seq":6, "temp_id":"x" \ end`, CreatedAt: time.Now(), DeliveryStatus: &status, Direction: "OUTGOING",
		Id: 123456, LineUserId: "U0123456789abcdef0123456789abcdef", MessageType: "text", OperatorId: &op, OperatorName: &name,
		SenderRole: &role, Seq: 4567, SessionId: &session, TempId: &temp,
	}, time.Now()))
	floorFrame := []byte(`{"type":"message_sent","payload":{"id":7,"seq":2,"line_user_id":"U1","direction":"OUTGOING","message_type":"text","content":"hi","temp_id":"1-99","created_at":"2026-12-01T00:00:00Z"},"timestamp":"2026-12-01T00:00:00Z"}`)
	noTemp := []byte(`{"type":"new_message","payload":{"id":8,"seq":3,"content":"from a customer"},"timestamp":"x"}`)
	reordered := []byte(`{"payload":{"seq":3,"temp_id":"2-5","id":9},"type":"new_message"}`)
	for _, tc := range []struct {
		name string
		data []byte
		typ  string
		want message
	}{
		{"livechat", livechat, lc.TypeNewMessage, message{ID: 123456, Seq: 4567, TempID: temp}},
		{"floor", floorFrame, lc.TypeMessageSent, message{ID: 7, Seq: 2, TempID: "1-99"}},
		{"no temp_id", noTemp, lc.TypeNewMessage, message{ID: 8, Seq: 3}},
		{"type not first", reordered, lc.TypeNewMessage, message{ID: 9, Seq: 3, TempID: "2-5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := frame{data: tc.data, Type: frameType(tc.data)}
			if f.Type != tc.typ {
				t.Fatalf("type %q, want %q", f.Type, tc.typ)
			}
			var got, slow message
			if !decodeMessage(f, &got) || got != tc.want {
				t.Fatalf("decodeMessage = %+v, want %+v", got, tc.want)
			}
			if err := f.payload(&slow); err != nil || slow != got {
				t.Fatalf("encoding/json reads %+v (%v), the scan %+v", slow, err, got)
			}
		})
	}
	if frameType([]byte(`not json`)) != "" {
		t.Error("a non-frame has a type")
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	temp := stamp(3, 1234567890123)
	data, _ := json.Marshal(lc.NewNewMessageEvent(lc.ChatMessageSchema{Content: messageText(temp), Id: 123456, Seq: 4567, TempId: &temp,
		LineUserId: "U0123456789abcdef0123456789abcdef", Direction: "OUTGOING", MessageType: "text", CreatedAt: time.Now()}, time.Now()))
	f := frame{data: data}
	var m message
	for b.Loop() {
		f.Type = frameType(f.data)
		decodeMessage(f, &m)
	}
}

package contract_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"livechat/asyncapi"
	lc "livechat/gen/livechat"
	"livechat/internal/contract"
)

const uid = "U0123456789abcdef0123456789abcdef"

func ptr[T any](v T) *T { return &v }

func strictValidator(t *testing.T) *contract.Validator {
	t.Helper()
	v, err := contract.New(asyncapi.YAML, contract.Strict())
	if err != nil {
		t.Fatalf("contract.New: %v", err)
	}
	return v
}

// serverSamples builds one frame of every server event with its generated
// constructor, with every optional field set, so strict validation sees all
// of them.
func serverSamples() map[string]any {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.FixedZone("ICT", 7*3600))
	msg := lc.ChatMessageSchema{
		Id: 1, Seq: 1, LineUserId: uid, SessionId: ptr(int64(2)), Direction: "OUTGOING", Content: "hi & <b>",
		MessageType: "text", Payload: ptr(json.RawMessage(`{"line_message_id":"1"}`)), SenderRole: ptr("ADMIN"),
		OperatorId: ptr(int64(3)), OperatorName: ptr("Somchai"), DeliveryStatus: ptr("pending"), TempId: ptr("t1"), CreatedAt: ts,
		Unsent: ptr(true),
	}
	session := lc.SessionInfoSchema{Id: 2, Status: "ACTIVE", OperatorId: ptr(int64(3)), StartedAt: &ts, ClaimedAt: &ts, TransferCount: ptr(int64(0))}
	return map[string]any{
		lc.TypeAuthSuccess: lc.NewAuthSuccessEvent(lc.AuthSuccessPayloadSchema{AdminId: "1", DisplayName: ptr("A"), Role: ptr(lc.OperatorRoleSchema("admin"))}, ts),
		lc.TypeAuthError:   lc.NewAuthErrorEvent(lc.AuthErrorPayloadSchema{Code: "auth_invalid_token", Message: "bad"}, ts),
		lc.TypePong:        lc.NewPongEvent(lc.PongPayloadSchema{ServerTime: ts}, ts),
		lc.TypePresenceUpdate: lc.NewPresenceUpdateEvent(lc.PresenceUpdatePayloadSchema{Operators: []lc.OperatorPresenceSchema{
			{Id: "1", DisplayName: ptr("A"), Status: "online", ActiveChats: 2},
		}}, ts),
		lc.TypeConversationUpdate: lc.NewConversationUpdateEvent(lc.ConversationUpdatePayloadSchema{
			LineUserId: uid, DisplayName: ptr("Nok"), PictureUrl: ptr("https://x/y"), ChatMode: ptr("HUMAN"), LastSeq: ptr(int64(1)),
			Session: &session, Messages: []lc.ChatMessageSchema{msg},
			LastMessage: &lc.LastMessageSchema{Content: "hi", CreatedAt: ts, Seq: ptr(int64(1))}, UnreadCount: ptr(int64(0)),
		}, ts),
		lc.TypeNewMessage:  lc.NewNewMessageEvent(msg, ts),
		lc.TypeMessageSent: lc.NewMessageSentEvent(msg, ts),
		lc.TypeMessageFailed: lc.NewMessageFailedEvent(lc.MessageFailedPayloadSchema{
			TempId: ptr("t1"), MessageId: ptr(int64(1)), LineUserId: ptr(lc.LineUserIdSchema(uid)), Error: "rejected", Retryable: false,
		}, ts),
		lc.TypeMessageAck: lc.NewMessageAckEvent(lc.MessageAckPayloadSchema{
			TempId: ptr("t1"), MessageId: 1, LineUserId: uid, DeliveryStatus: "sent",
		}, ts),
		lc.TypeCsatReceived:    lc.NewCsatReceivedEvent(lc.CsatReceivedPayloadSchema{LineUserId: uid, SessionId: 2, Score: 4}, ts),
		lc.TypeTypingIndicator: lc.NewTypingIndicatorEvent(lc.TypingIndicatorPayloadSchema{LineUserId: uid, AdminId: "1", IsTyping: true}, ts),
		lc.TypeOperatorJoined:  lc.NewOperatorJoinedEvent(lc.OperatorRoomPayloadSchema{AdminId: "1", RoomId: "conversation:" + uid, LineUserId: ptr(lc.LineUserIdSchema(uid))}, ts),
		lc.TypeOperatorLeft:    lc.NewOperatorLeftEvent(lc.OperatorRoomPayloadSchema{AdminId: "1", RoomId: "conversation:" + uid}, ts),
		lc.TypeSessionQueued: lc.NewSessionQueuedEvent(lc.SessionQueuedPayloadSchema{
			LineUserId: uid, SessionId: 2, DisplayName: ptr("Nok"), StartedAt: ts, QueuePosition: 1, TotalWaiting: 1, Repeat: ptr(true),
		}, ts),
		lc.TypeMessageUnsent: lc.NewMessageUnsentEvent(lc.MessageUnsentPayloadSchema{LineUserId: uid, MessageId: 1, Seq: 1}, ts),
		lc.TypeConversationTagged: lc.NewConversationTaggedEvent(lc.ConversationTaggedPayloadSchema{LineUserId: uid,
			Tags: []lc.TagSchema{{Id: 1, Name: "vip", Color: "#e53935"}, {Id: 2, Name: "billing"}}}, ts),
		lc.TypeSessionClaimed: lc.NewSessionClaimedEvent(lc.SessionClaimedPayloadSchema{LineUserId: uid, SessionId: 2, Status: "ACTIVE", OperatorId: 3}, ts),
		lc.TypeSessionClosed: lc.NewSessionClosedEvent(lc.SessionClosedPayloadSchema{
			LineUserId: uid, SessionId: 2, ClosedBy: ptr("SYSTEM"), Reason: ptr("inactivity"),
		}, ts),
		lc.TypeSessionTransferred: lc.NewSessionTransferredEvent(lc.SessionTransferredPayloadSchema{
			LineUserId: uid, SessionId: 2, FromOperatorId: 3, ToOperatorId: 4, Reason: ptr("billing"),
		}, ts),
		lc.TypeAnalyticsUpdate: lc.NewAnalyticsUpdateEvent(lc.AnalyticsUpdatePayloadSchema{Waiting: 1, Active: 2, OnlineOperators: 3, SessionsToday: 4}, ts),
		lc.TypeSlaAlert: lc.NewSlaAlertEvent(lc.SlaAlertPayloadSchema{
			Metric: "queue_wait_seconds", ValueSeconds: 312.5, ThresholdSeconds: 300, LineUserId: uid, SessionId: 2, Severity: "warning", Message: "breach",
		}, ts),
		lc.TypeError: lc.NewErrorEvent(lc.ErrorPayloadSchema{
			Code: "rate_limit_exceeded", Message: "slow down", Field: ptr("payload.text"), RequestType: ptr("send_message"),
			TempId: ptr("t1"), Remaining: ptr(int64(0)), RetryAfterMs: ptr(int64(250)),
		}, ts),
	}
}

func TestEveryServerEventConstructorConformsToSpec(t *testing.T) {
	v := strictValidator(t)
	samples := serverSamples()
	for _, typ := range lc.ServerEvents {
		t.Run(typ, func(t *testing.T) {
			ev, ok := samples[typ]
			if !ok {
				t.Fatalf("no sample for server event %q: add one to serverSamples", typ)
			}
			frame, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Validate(frame); err != nil {
				t.Fatalf("frame %s does not conform: %v", frame, err)
			}
			var env map[string]any
			if err := json.Unmarshal(frame, &env); err != nil {
				t.Fatal(err)
			}
			if env["type"] != typ {
				t.Fatalf("type = %v, want %q", env["type"], typ)
			}
			ts, _ := env["timestamp"].(string)
			if !strings.HasSuffix(ts, "Z") {
				t.Fatalf("timestamp %q is not UTC", ts)
			}
		})
	}
	if len(samples) != len(lc.ServerEvents) {
		t.Fatalf("%d samples for %d server events", len(samples), len(lc.ServerEvents))
	}
}

func TestStrictModeRejectsExtraAndMisspelledFields(t *testing.T) {
	strict := strictValidator(t)
	lax, err := contract.New(asyncapi.YAML)
	if err != nil {
		t.Fatal(err)
	}
	frames := map[string]string{
		"extra envelope field": `{"type":"pong","payload":{"server_time":"2026-11-25T10:00:00Z"},"timestamp":"2026-11-25T10:00:00Z","x":1}`,
		"misspelled field":     `{"type":"auth_success","payload":{"adminId":"1","admin_id":"1"},"timestamp":"2026-11-25T10:00:00Z"}`,
		"extra nested field":   `{"type":"presence_update","payload":{"full":true,"operators":[{"id":"1","status":"online","active_chats":0,"name":"x"}]},"timestamp":"2026-11-25T10:00:00Z"}`,
	}
	for name, f := range frames {
		t.Run(name, func(t *testing.T) {
			if err := lax.Validate([]byte(f)); err != nil {
				t.Fatalf("lax validator should accept (spec allows extra fields): %v", err)
			}
			if err := strict.Validate([]byte(f)); err == nil {
				t.Fatal("strict validator accepted a frame with an undeclared field")
			}
		})
	}
	// Free-form objects stay open in strict mode.
	ok := `{"type":"new_message","payload":{"id":1,"seq":1,"line_user_id":"` + uid + `","direction":"INCOMING","content":"x","message_type":"text","payload":{"anything":{"goes":[1]}},"created_at":"2026-11-25T10:00:00Z"},"timestamp":"2026-11-25T10:00:00Z"}`
	if err := strict.Validate([]byte(ok)); err != nil {
		t.Fatalf("free-form payload rejected: %v", err)
	}
}

func TestFieldErrorNamesTheField(t *testing.T) {
	v := strictValidator(t)
	cases := []struct {
		frame, field string
	}{
		{`{"type":"send_message","payload":{"text":""}}`, "payload.text"},
		{`{"type":"send_message","payload":{"text":"` + strings.Repeat("ก", 5001) + `"}}`, "payload.text"},
		{`{"type":"join_room","payload":{"line_user_id":"U0123"}}`, "payload.line_user_id"},
		{`{"type":"transfer_session","payload":{"to_operator_id":0}}`, "payload.to_operator_id"},
		{`{"type":"transfer_session","payload":{"to_operator_id":"5"}}`, "payload.to_operator_id"},
		{`{"type":"set_status","payload":{"status":"sleeping"}}`, "payload.status"},
		{`{"type":"send_message","payload":{"text":"hi","temp_id":"` + strings.Repeat("x", 101) + `"}}`, "payload.temp_id"},
		{`{"type":"transfer_session","payload":{"to_operator_id":2,"reason":"` + strings.Repeat("x", 256) + `"}}`, "payload.reason"},
	}
	for _, tc := range cases {
		err := v.Validate([]byte(tc.frame))
		var fe *contract.FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("%.60s: got %v, want a FieldError", tc.frame, err)
		}
		if fe.Field != tc.field {
			t.Errorf("%.60s: field = %q, want %q (%v)", tc.frame, fe.Field, tc.field, err)
		}
	}
	// 5000 Thai characters are 15000 bytes and still valid: length counts characters.
	if err := v.Validate([]byte(`{"type":"send_message","payload":{"text":"` + strings.Repeat("ก", 5000) + `"}}`)); err != nil {
		t.Fatalf("5000 characters rejected: %v", err)
	}
}

// TestSpecExamplesConform checks every message example in the spec against
// its own schema, so the documentation cannot drift either.
func TestSpecExamplesConform(t *testing.T) {
	v := strictValidator(t)
	var doc struct {
		Components struct {
			Messages map[string]struct {
				Examples []struct {
					Name    string         `json:"name"`
					Payload map[string]any `json:"payload"`
				} `json:"examples"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := yaml.Unmarshal(asyncapi.YAML, &doc); err != nil {
		t.Fatal(err)
	}
	for name, m := range doc.Components.Messages {
		if len(m.Examples) == 0 {
			t.Errorf("message %s has no example", name)
		}
		for _, ex := range m.Examples {
			frame, _ := json.Marshal(ex.Payload)
			if err := v.Validate(frame); err != nil {
				t.Errorf("message %s example %s: %v", name, ex.Name, err)
			}
		}
	}
}

func TestValidatorKnowsExactlyTheGeneratedEvents(t *testing.T) {
	v := strictValidator(t)
	want := map[string]bool{}
	for _, typ := range append(append([]string{}, lc.ClientEvents...), lc.ServerEvents...) {
		want[typ] = true
		if !v.Known(typ) {
			t.Errorf("generated type %q unknown to the validator", typ)
		}
	}
	for _, typ := range v.Types() {
		if !want[typ] {
			t.Errorf("validator type %q not generated", typ)
		}
	}
}

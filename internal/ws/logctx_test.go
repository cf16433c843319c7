package ws_test

import (
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store/storetest"
)

// What the chat service logs on a socket's behalf carries the socket's
// conn_id (and its upgrade's request_id): the socket's context has them.
func TestChatLinesOnASocketsBehalfCarryItsConnID(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	e.claimed(t, c)
	e.out.FailNext(&chat.DeliveryError{Reason: "LINE rejected the message", Retryable: false})
	c.Send("send_message", map[string]any{"text": "hello", "temp_id": "t-1"})
	c.WaitFor("message_failed") // logged before it is sent
	lines := e.logs.lines("delivery failed")
	if len(lines) != 1 {
		t.Fatalf("%d delivery failed lines", len(lines))
	}
	connID, _ := lines[0].attrs["conn_id"].(string)
	requestID, _ := lines[0].attrs["request_id"].(string)
	if connID == "" || requestID == "" {
		t.Fatalf("delivery failed line without the socket's ids: %v", lines[0].attrs)
	}
}

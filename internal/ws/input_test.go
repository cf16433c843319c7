package ws_test

import (
	"context"
	"strings"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// A temp_id is an identifier, stored with the message: one the databases
// cannot store (here with a NUL) is a validation_error naming it, and
// nothing is stored.
func TestSocketTempIDWithNUL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
		cust := e.claimed(t, c)

		c.Send("send_message", map[string]any{"text": "hi", "temp_id": "t\x001"})
		p := c.ExpectError("validation_error")
		if p["field"] != "payload.temp_id" || p["request_type"] != "send_message" {
			t.Fatalf("error = %v, want field payload.temp_id", p)
		}
		got, err := e.svc.Customer(context.Background(), cust.LineUserID)
		if err != nil || got.LastSeq != cust.LastSeq {
			t.Fatalf("a refused send stored a message: last seq %d, had %d (%v)", got.LastSeq, cust.LastSeq, err)
		}
	})
}

// A transfer reason is free text: what the databases cannot store is
// stripped, and the rest is stored and announced.
func TestSocketTransferReasonWithNUL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		e.claimed(t, c)

		c.Send("transfer_session", map[string]any{"to_operator_id": bob.ID, "reason": "VIP\x00 customer"})
		st := c.WaitFor("session_transferred").Map(t)
		if st["reason"] != "VIP customer" {
			t.Fatalf("session_transferred = %v, want reason %q", st, "VIP customer")
		}
		s, err := db.Session(context.Background(), int64(st["session_id"].(float64)))
		if err != nil || s.TransferReason == nil || *s.TransferReason != "VIP customer" {
			t.Fatalf("stored session %+v, %v", s, err)
		}
	})
}

// Keys are case-sensitive, as JSON's are: a "Type" or "Temp_Id" beside the
// keys the schema checked is an unknown field, never a second name for a
// checked one (encoding/json alone matches field names regardless of case,
// so this ping was dispatched as a send_message, unchecked and unlimited).
func TestFieldNamesAreExact(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	cust := e.claimed(t, c)
	for _, frame := range []string{
		`{"type":"ping","Type":"send_message","payload":{"text":"hi"}}`,
		`{"type":"send_message","payload":{"text":"hi","Temp_Id":"` + strings.Repeat("t", 101) + `"}}`,
		`{"type":"send_message","payload":{"text":"hi"},"Payload":{"text":"hi","temp_id":"x"}}`,
	} {
		c.SendRaw(frame)
		if p := c.ExpectError("validation_error"); p["request_type"] == nil {
			t.Fatalf("%s: error = %v, want its request_type", frame, p)
		}
	}
	got, err := e.svc.Customer(context.Background(), cust.LineUserID)
	if err != nil || got.LastSeq != cust.LastSeq {
		t.Fatalf("a refused frame stored a message: last seq %d, had %d (%v)", got.LastSeq, cust.LastSeq, err)
	}
	c.Send("ping", nil)
	c.Expect("pong")
}

package ws_test

import (
	"context"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
)

// TestUnsentMessage: a customer's unsend reaches every operator, in the
// room or not, as message_unsent with the message's id and seq; a join
// afterwards carries the message with its seq, unsent and without its
// content.
func TestUnsentMessage(t *testing.T) {
	e := newEnv(t, sqlite(t))
	ctx := context.Background()
	alice := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	bob := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
	cust := e.waiting(t)
	m, err := e.svc.CustomerMessage(ctx, chat.Message{LineUserID: cust.LineUserID, Content: "my secret", Payload: []byte(`{"line_message_id":"777"}`)})
	if err != nil {
		t.Fatal(err)
	}
	joinAnswerOf(t, alice, cust, nil)
	alice.Sync()
	bob.Sync()
	if err := e.svc.Unsend(ctx, cust.LineUserID, "777"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wstest.Client{alice, bob} {
		u := c.WaitFor("message_unsent").Map(t)
		if u["line_user_id"] != cust.LineUserID || u["message_id"] != float64(m.ID) || u["seq"] != float64(m.Seq) {
			t.Fatalf("message_unsent: %v", u)
		}
	}
	if err := e.svc.Unsend(ctx, cust.LineUserID, "777"); err != nil { // again: nothing more
		t.Fatal(err)
	}
	if n := count(alice.Sync())["message_unsent"]; n != 0 {
		t.Fatalf("%d message_unsent for a second unsend", n)
	}

	var a struct {
		Messages []struct {
			Seq     int64  `json:"seq"`
			Content string `json:"content"`
			Unsent  *bool  `json:"unsent"`
		} `json:"messages"`
	}
	bob.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	for {
		f := bob.WaitFor("conversation_update")
		if isJoinAnswer(t, f) {
			f.Decode(t, &a)
			break
		}
	}
	if len(a.Messages) != 1 || a.Messages[0].Seq != m.Seq || a.Messages[0].Content != "" || a.Messages[0].Unsent == nil || !*a.Messages[0].Unsent {
		t.Fatalf("join answer after the unsend: %+v", a.Messages)
	}
}

package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// After a customer's unsend, REST's history carries the message with its
// seq, unsent and without its content, and a search no longer finds it.
func TestUnsentMessageInREST(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		op := e.operator(t, "alice", chat.RoleAgent)
		c := storetest.Customer(t, db)
		m, err := e.svc.CustomerMessage(ctx, chat.Message{LineUserID: c.LineUserID, Content: "my secret pin 2468", Payload: []byte(`{"line_message_id":"555"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Unsend(ctx, c.LineUserID, "555"); err != nil {
			t.Fatal(err)
		}
		r := e.call(t, "GET", lc+"conversations/"+c.LineUserID+"/messages", e.token(t, op), nil)
		var page struct {
			Items []map[string]any `json:"messages"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &page) != nil || len(page.Items) != 1 {
			t.Fatalf("history: %d %s", r.Status, r.Body)
		}
		if it := page.Items[0]; it["seq"] != float64(m.Seq) || it["content"] != "" || it["unsent"] != true || contains(r.Body, "2468") {
			t.Fatalf("the unsent message in history: %s", r.Body)
		}
		r = e.call(t, "GET", lc+"messages/search?q=2468", e.token(t, op), nil)
		if r.Status != http.StatusOK || contains(r.Body, "2468") || contains(r.Body, `"id":`) {
			t.Fatalf("search for the unsent text: %d %s", r.Status, r.Body)
		}
	})
}

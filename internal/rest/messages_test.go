package rest_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// seqs lists the seq of each message of a page.
func seqs(t testing.TB, body map[string]any) []int64 {
	t.Helper()
	var out []int64
	for _, m := range list(t, body, "messages") {
		out = append(out, num(t, m["seq"]))
	}
	return out
}

func TestHistory(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		c := storetest.Customer(t, db)
		for i := 1; i <= 120; i++ {
			if _, err := e.svc.CustomerMessage(context.Background(), chat.Message{LineUserID: c.LineUserID, Content: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		tok := e.token(t, alice)
		path := lc + "conversations/" + c.LineUserID + "/messages"

		page := func(query string, first, last int64, more bool) {
			t.Helper()
			body := e.call(t, "GET", path+query, tok, nil).expect(t, 200)
			s := seqs(t, body)
			if len(s) != int(last-first+1) || s[0] != first || s[len(s)-1] != last || !sort.SliceIsSorted(s, func(i, j int) bool { return s[i] < s[j] }) {
				t.Errorf("%s: seqs %v, want %d..%d", query, s, first, last)
			}
			if body["has_more"] != more {
				t.Errorf("%s: has_more %v, want %v", query, body["has_more"], more)
			}
		}
		page("", 71, 120, true)
		page("?before_seq=71", 21, 70, true)
		page("?before_seq=21&limit=100", 1, 20, false)
		page("?before_seq=11&limit=10", 1, 10, false)
		page("?limit=5", 116, 120, true)

		e.call(t, "GET", path+"?limit=101", tok, nil).expectError(t, 400, "validation_error", "limit")
		e.call(t, "GET", path+"?before_seq=0", tok, nil).expectError(t, 400, "validation_error", "before_seq")
		e.call(t, "GET", path+"?before_seq=x", tok, nil).expectError(t, 400, "validation_error", "before_seq")
		e.call(t, "GET", lc+"conversations/"+storetest.LineUserID()+"/messages", tok, nil).expectError(t, 404, "customer_not_found")
		e.call(t, "GET", lc+"conversations/Uxyz/messages", tok, nil).expectError(t, 400, "validation_error", "line_user_id")
	})
}

func TestSendMessage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		alice := e.operator(t, "alice", chat.RoleAgent)
		bob := e.operator(t, "bob", chat.RoleAgent)
		sup := e.operator(t, "sue", chat.RoleSupervisor)
		c := e.active(t, alice)
		path := lc + "conversations/" + c.LineUserID + "/messages"

		// Trimmed, newlines kept, & < > as typed.
		body := e.call(t, "POST", path, e.token(t, alice), map[string]string{"text": "  Tom & Jerry <3 >_<\nline two \t ", "temp_id": "tmp-1"}).expect(t, 201)
		want := "Tom & Jerry <3 >_<\nline two"
		if body["content"] != want || num(t, body["seq"]) != 2 || body["direction"] != "OUTGOING" || body["sender_role"] != "ADMIN" ||
			num(t, body["operator_id"]) != alice.ID || body["operator_name"] != "alice" || body["temp_id"] != "tmp-1" ||
			body["delivery_status"] != "sent" || body["line_user_id"] != c.LineUserID || num(t, body["session_id"]) == 0 {
			t.Fatalf("sent %v", body)
		}
		stored, err := db.Message(ctx, num(t, body["id"]))
		if err != nil {
			t.Fatal(err)
		}
		if stored.Content != want || stored.Seq != 2 || stored.DeliveryStatus != chat.DeliverySent {
			t.Errorf("stored %+v", stored)
		}
		if d := e.out.Delivered(); len(d) != 1 || d[0].Content != want {
			t.Errorf("delivered %+v", d)
		}

		// Not the owner: forbidden; a supervisor may step in.
		e.call(t, "POST", path, e.token(t, bob), map[string]string{"text": "hi"}).expectError(t, 403, "forbidden")
		if got := e.call(t, "POST", path, e.token(t, sup), map[string]string{"text": "hi"}).expect(t, 201); num(t, got["seq"]) != 3 {
			t.Errorf("supervisor message %v", got)
		}

		// A failed delivery is still a stored message, marked failed.
		e.out.FailNext(&chat.DeliveryError{Reason: "LINE is down", Retryable: true})
		failed := e.call(t, "POST", path, e.token(t, alice), map[string]string{"text": "are you there?"}).expect(t, 201)
		if failed["delivery_status"] != "failed" || num(t, failed["seq"]) != 4 {
			t.Errorf("failed delivery %v", failed)
		}
		if _, ok := failed["temp_id"]; ok {
			t.Errorf("temp_id without one given: %v", failed)
		}

		// Text checks.
		e.call(t, "POST", path, e.token(t, alice), map[string]string{"text": " \n\t "}).expectError(t, 400, "validation_error", "text")
		e.call(t, "POST", path, e.token(t, alice), map[string]string{"text": strings.Repeat("ก", 5001)}).expectError(t, 400, "message_too_long", "text")
		e.call(t, "POST", path, e.token(t, alice), map[string]string{"text": strings.Repeat("ก", 5000)}).expect(t, 201)
		e.call(t, "POST", path, e.token(t, alice), map[string]string{"text": "x", "temp_id": strings.Repeat("t", 101)}).expectError(t, 400, "validation_error", "temp_id")

		// Session states.
		w := e.waiting(t)
		e.call(t, "POST", lc+"conversations/"+w.LineUserID+"/messages", e.token(t, alice), map[string]string{"text": "hi"}).expectError(t, 409, "invalid_session_state")
		bot := storetest.Customer(t, db)
		e.call(t, "POST", lc+"conversations/"+bot.LineUserID+"/messages", e.token(t, alice), map[string]string{"text": "hi"}).expectError(t, 404, "session_not_found")
		e.call(t, "POST", lc+"conversations/nope/messages", e.token(t, alice), map[string]string{"text": "hi"}).expectError(t, 400, "validation_error", "line_user_id")
	})
}

func TestSearchMessages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		alice := e.operator(t, "alice", chat.RoleAgent)
		c1 := storetest.Customer(t, db)
		c2, err := db.UpsertCustomer(ctx, chat.Customer{LineUserID: storetest.LineUserID(), DisplayName: "Somchai"})
		if err != nil {
			t.Fatal(err)
		}
		e.incoming(t, c1, "100% sure")
		e.incoming(t, c1, "100 percent")
		e.incoming(t, c2, "snake_case please")
		e.incoming(t, c2, "SNAKEXCASE")
		e.incoming(t, c2, `back\slash`)
		tok := e.token(t, alice)

		search := func(query string) []string {
			t.Helper()
			var out []string
			for _, it := range list(t, e.call(t, "GET", lc+"messages/search?"+query, tok, nil).expect(t, 200), "items") {
				out = append(out, it["content"].(string))
			}
			return out
		}
		for query, want := range map[string][]string{
			"q=%25":          {"100% sure"},
			"q=100%25":       {"100% sure"},
			"q=_":            {"snake_case please"},
			"q=snake_":       {"snake_case please"},
			"q=snake":        {"SNAKEXCASE", "snake_case please"}, // newest first, any case
			"q=%5C":          {`back\slash`},
			"q=100":          {"100 percent", "100% sure"},
			"q=100&limit=1":  {"100 percent"},
			"q=nothing-here": nil,
		} {
			if got := search(query); !equal(got, want) {
				t.Errorf("%s: %q, want %q", query, got, want)
			}
		}
		// One conversation only, with the customer's name on each hit.
		items := list(t, e.call(t, "GET", lc+"messages/search?q=s&line_user_id="+c2.LineUserID, tok, nil).expect(t, 200), "items")
		if len(items) != 3 {
			t.Fatalf("items %v", items)
		}
		for _, it := range items {
			if it["line_user_id"] != c2.LineUserID || it["display_name"] != "Somchai" || it["direction"] != "INCOMING" || num(t, it["id"]) == 0 {
				t.Errorf("item %v", it)
			}
		}

		e.call(t, "GET", lc+"messages/search", tok, nil).expectError(t, 400, "validation_error", "q")
		e.call(t, "GET", lc+"messages/search?q=+++", tok, nil).expectError(t, 400, "validation_error", "q")
		e.call(t, "GET", lc+"messages/search?q="+strings.Repeat("a", 201), tok, nil).expectError(t, 400, "validation_error", "q")
		e.call(t, "GET", lc+"messages/search?q="+strings.Repeat("a", 200), tok, nil).expect(t, 200)
		e.call(t, "GET", lc+"messages/search?q=a&line_user_id=bad", tok, nil).expectError(t, 400, "validation_error", "line_user_id")
		e.call(t, "GET", lc+"messages/search?q=a&limit=0", tok, nil).expectError(t, 400, "validation_error", "limit")
	})
}

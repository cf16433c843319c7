package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func (e *env) messages(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.Bun().NewRaw("SELECT count(*) FROM messages").Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sendKeyed posts text to c's conversation as op, with an Idempotency-Key
// when key is not empty.
func (e *env) sendKeyed(t *testing.T, op chat.Operator, c chat.Customer, key string, body any) response {
	t.Helper()
	h := map[string]string{"Authorization": "Bearer " + e.token(t, op)}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	return e.callWith(t, "POST", lc+"conversations/"+c.LineUserID+"/messages", h, body)
}

// An Idempotency-Key sent again with the same text answers what the first
// request answered and stores and delivers nothing; with another text it
// is 422 idempotency_key_reused. The key takes the place of the body's
// temp_id, and is per operator and conversation.
func TestSendMessageIdempotencyKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		sup := e.operator(t, "sue", chat.RoleSupervisor)
		c := e.active(t, alice)

		first := e.sendKeyed(t, alice, c, "key-1", map[string]string{"text": "hello", "temp_id": "body-1"})
		want := first.expect(t, 201)
		if want["temp_id"] != "key-1" || want["delivery_status"] != "sent" {
			t.Fatalf("first answer %s", first.Body)
		}
		n := e.messages(t)
		for _, body := range []map[string]string{
			{"text": "hello", "temp_id": "body-1"},
			{"text": "  hello\n", "temp_id": "another"}, // the same text once cleaned; the body's temp_id does not count
			{"text": "hello"},
		} {
			again := e.sendKeyed(t, alice, c, "key-1", body)
			again.expect(t, 201)
			if !bytes.Equal(again.Body, first.Body) {
				t.Fatalf("replay of %v answered\n%s\nwant\n%s", body, again.Body, first.Body)
			}
		}
		if e.messages(t) != n || len(e.out.Delivered()) != 1 {
			t.Fatalf("replays stored %d and delivered %d", e.messages(t)-n, len(e.out.Delivered())-1)
		}
		e.sendKeyed(t, alice, c, "key-1", map[string]string{"text": "hello!"}).expectError(t, 422, "idempotency_key_reused")
		if e.messages(t) != n {
			t.Fatal("a reused key stored a message")
		}

		// The body's temp_id was not stored: it is free.
		body1 := e.sendKeyed(t, alice, c, "", map[string]string{"text": "hello", "temp_id": "body-1"}).expect(t, 201)
		if body1["id"] == want["id"] || body1["temp_id"] != "body-1" {
			t.Fatalf("temp_id body-1 answered %v", body1)
		}
		// Without the header a repeated temp_id replays as on the socket,
		// whatever the text.
		if again := e.sendKeyed(t, alice, c, "", map[string]string{"text": "changed", "temp_id": "body-1"}).expect(t, 201); again["id"] != body1["id"] || again["content"] != "hello" {
			t.Fatalf("repeated temp_id answered %v, want %v", again, body1)
		}
		// And a key and a temp_id are one namespace: the key body-1 names that message.
		if again := e.sendKeyed(t, alice, c, "body-1", map[string]string{"text": "hello"}).expect(t, 201); again["id"] != body1["id"] {
			t.Fatalf("key body-1 answered %v", again)
		}

		// Another operator's key, and the key in another conversation, are theirs.
		if other := e.sendKeyed(t, sup, c, "key-1", map[string]string{"text": "hello"}).expect(t, 201); other["id"] == want["id"] {
			t.Fatalf("the supervisor's key-1 answered alice's message: %v", other)
		}
		c2 := e.active(t, alice)
		if other := e.sendKeyed(t, alice, c2, "key-1", map[string]string{"text": "hello"}).expect(t, 201); other["id"] == want["id"] {
			t.Fatalf("key-1 in another conversation answered the first: %v", other)
		}

		// Concurrent requests with one key: one message, one answer (but
		// for its delivery_status: a replay tells how far the message got,
		// and here the first answer waits for the delivery).
		n = e.messages(t)
		bodies := make([]map[string]any, 6)
		var wg sync.WaitGroup
		start := make(chan struct{})
		tok := e.token(t, alice)
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := e.send("POST", lc+"conversations/"+c.LineUserID+"/messages",
					map[string]string{"Authorization": "Bearer " + tok, "Idempotency-Key": "race"}, map[string]string{"text": "at once"})
				if err == nil && r.Status == 201 && json.Unmarshal(r.Body, &bodies[i]) == nil {
					delete(bodies[i], "delivery_status")
				}
			}()
		}
		close(start)
		wg.Wait()
		for i := range bodies {
			if bodies[i] == nil || !reflect.DeepEqual(bodies[i], bodies[0]) {
				t.Fatalf("concurrent answers differ: %v", bodies)
			}
		}
		if got := e.messages(t); got != n+1 {
			t.Fatalf("concurrent sends of one key stored %d messages", got-n)
		}
	})
}

// The header is an identifier as temp_id is: at most 100 storable
// characters, given once and not empty; a bad one is a 400 naming it, and
// stores nothing.
func TestSendMessageIdempotencyKeyValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Open(t, store.SQLite))
	alice := e.operator(t, "alice", chat.RoleAgent)
	c := e.active(t, alice)
	path := e.srv.URL + lc + "conversations/" + c.LineUserID + "/messages"
	post := func(keys ...string) response {
		t.Helper()
		req, err := http.NewRequest("POST", path, strings.NewReader(`{"text":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.token(t, alice))
		req.Header.Set("Content-Type", "application/json")
		for _, k := range keys {
			req.Header.Add("Idempotency-Key", k)
		}
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		if _, err := b.ReadFrom(res.Body); err != nil {
			t.Fatal(err)
		}
		return response{Status: res.StatusCode, Header: res.Header, Body: b.Bytes()}
	}
	n := e.messages(t)
	for _, keys := range [][]string{{strings.Repeat("k", 101)}, {"k\xff"}, {""}, {"a", "b"}} {
		post(keys...).expectError(t, 400, "validation_error", "Idempotency-Key")
	}
	if e.messages(t) != n {
		t.Fatal("a refused key stored a message")
	}
	if m := post(strings.Repeat("ก", 100)).expect(t, 201); m["temp_id"] != strings.Repeat("ก", 100) {
		t.Fatalf("100 characters: %v", m)
	}
}

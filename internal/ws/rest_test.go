package ws_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/rest"
	"livechat/internal/store/storetest"
)

// TestRESTActionsBroadcastLikeTheSocket drives the REST API against the
// real hub: its actions reach every socket the same way socket events do.
func TestRESTActionsBroadcastLikeTheSocket(t *testing.T) {
	e := newEnv(t, sqlite(t))
	api := httptest.NewServer(rest.New(rest.Deps{
		Store: e.db, Service: e.svc, Tokens: e.tokens, Sockets: e.hub, Clock: e.clock,
		AccessTTL: time.Hour, RefreshTTL: time.Hour, LoginMaxFailures: 5, LoginWindow: time.Minute,
	}))
	t.Cleanup(api.Close)
	admin := storetest.Operator(t, e.db, "root", chat.RoleAdmin)
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	call := func(method, path string, op chat.Operator, body any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, api.URL+"/api/v1/admin/live-chat/"+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+e.token(t, op.ID))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	watcher := e.login(t, admin)
	tab := e.login(t, alice)
	cust := e.waiting(t)
	for _, c := range []*wstest.Client{watcher, tab} {
		c.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		c.WaitFor("conversation_update")
	}
	settle(watcher, tab)

	if st := call("POST", "conversations/"+cust.LineUserID+"/claim", alice, nil); st != 200 {
		t.Fatalf("claim: %d", st)
	}
	if sc := watcher.WaitFor("session_claimed").Map(t); sc["operator_id"] != float64(alice.ID) {
		t.Fatalf("session_claimed %v", sc)
	}
	// A REST send has no sending tab: every tab in the room, the sender's too, gets new_message.
	if st := call("POST", "conversations/"+cust.LineUserID+"/messages", alice, map[string]any{"text": "from REST", "temp_id": "r1"}); st != 201 {
		t.Fatalf("send: %d", st)
	}
	for _, c := range []*wstest.Client{watcher, tab} {
		if nm := c.WaitFor("new_message").Map(t); nm["content"] != "from REST" || nm["temp_id"] != "r1" {
			t.Fatalf("new_message %v", nm)
		}
	}
	// Disabling over REST closes the operator's sockets at once.
	if st := call("POST", "operators/"+idStr(alice.ID)+"/disable", admin, nil); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	if code := tab.ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close %d", code)
	}
}

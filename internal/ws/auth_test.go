package ws_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"livechat/asyncapi"
	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

func TestAuthThenPing(t *testing.T) {
	e := newEnv(t, sqlite(t))
	op := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	c := wstest.Dial(t, e.url(), nil)
	c.Send("auth", map[string]any{"token": e.token(t, op.ID), "admin_id": "999"})
	ok := c.Expect("auth_success").Map(t)
	if ok["admin_id"] != idStr(op.ID) || ok["role"] != "agent" {
		t.Fatalf("auth_success = %v", ok)
	}
	var pres struct {
		Operators []struct {
			ID          string `json:"id"`
			Status      string `json:"status"`
			ActiveChats int    `json:"active_chats"`
		} `json:"operators"`
	}
	c.Expect("presence_update").Decode(t, &pres)
	if len(pres.Operators) != 1 || pres.Operators[0].ID != idStr(op.ID) || pres.Operators[0].Status != "online" {
		t.Fatalf("presence = %+v", pres)
	}
	c.Send("ping", nil) // payload absent: defaults to {}
	pong := c.Expect("pong").Map(t)
	if st, _ := pong["server_time"].(string); !strings.HasPrefix(st, "2026-11-25T03:00:00") {
		t.Fatalf("server_time = %v, want the server clock", pong["server_time"])
	}
}

func TestAuthFailuresCloseWith1008(t *testing.T) {
	e := newEnv(t, sqlite(t))
	active := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	disabled := storetest.Operator(t, e.db, "bob", chat.RoleAgent)
	if err := e.db.SetOperatorActive(t.Context(), disabled.ID, false); err != nil {
		t.Fatal(err)
	}
	expired, _, _ := e.tokens.Issue(active.ID, time.Minute)
	e.clock.Advance(2 * time.Minute)
	cases := []struct {
		name, token, code string
	}{
		{"missing", "", "auth_missing_token"},
		{"garbage", "not-a-jwt", "auth_invalid_token"},
		{"other secret", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJl", "auth_invalid_token"},
		{"expired", expired, "auth_expired_token"},
		{"disabled operator", e.token(t, disabled.ID), "auth_invalid_token"},
		{"unknown operator", e.token(t, 9999), "auth_invalid_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := wstest.Dial(t, e.url(), nil)
			p := map[string]any{}
			if tc.token != "" {
				p["token"] = tc.token
			}
			c.Send("auth", p)
			got := c.Expect("auth_error").Map(t)
			if got["code"] != tc.code {
				t.Fatalf("code = %v, want %s", got["code"], tc.code)
			}
			if code := c.ExpectClosed(); code != websocket.ClosePolicyViolation {
				t.Fatalf("close code = %d, want 1008", code)
			}
		})
	}
}

func TestTokenInQueryString(t *testing.T) {
	e := newEnv(t, sqlite(t))
	op := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	c := wstest.Dial(t, e.url()+"?token="+e.token(t, op.ID), nil)
	c.Send("auth", map[string]any{})
	c.Expect("auth_success")
}

func TestFramesBeforeAuth(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := wstest.Dial(t, e.url(), nil)
	c.Send("ping", map[string]any{})
	c.ExpectError("not_authenticated")
	c.Send("send_message", map[string]any{"text": "hi"})
	c.ExpectError("not_authenticated")
	// The type check comes before the auth check.
	c.Send("bogus", map[string]any{})
	c.ExpectError("unknown_event")
	c.SendRaw(`{"payload":{}}`)
	c.ExpectError("unknown_event")
	c.SendRaw(`{not json`)
	c.ExpectError("validation_error")
}

func TestBadFramesAfterAuthKeepTheSocketOpen(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	c.SendRaw(`{"type":"send_message","payload":{"text":""}}`)
	p := c.ExpectError("validation_error")
	if p["field"] != "payload.text" || p["request_type"] != "send_message" {
		t.Fatalf("error = %v, want field payload.text", p)
	}
	c.SendRaw(`{"type":"ping",`)
	c.ExpectError("validation_error")
	c.SendRaw(`[1,2]`)
	c.ExpectError("validation_error")
	c.SendRaw(`{"type":"join_room","payload":"U0123"}`)
	if p := c.ExpectError("validation_error"); p["field"] != "payload" {
		t.Fatalf("non-object payload: field = %v", p["field"])
	}
	c.SendRaw(`{"type":"join_room","payload":{"line_user_id":"U0123456789abcdef0123456789abcdef","extra":1}}`)
	c.ExpectError("validation_error")
	c.SendRaw(`{"type":"transfer_session","payload":{"to_operator_id":"5"}}`)
	if p := c.ExpectError("validation_error"); p["field"] != "payload.to_operator_id" {
		t.Fatalf("wrong type: field = %v", p["field"])
	}
	c.SendRaw(`{"type":"new_message","payload":{}}`) // a server event is not a client event
	c.ExpectError("unknown_event")
	c.Send("ping", nil)
	c.Expect("pong")
}

func TestReauthIsRefusedAndIdentityKept(t *testing.T) {
	e := newEnv(t, sqlite(t))
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, e.db, "bob", chat.RoleAgent)
	c := e.login(t, alice)
	c.Send("auth", map[string]any{"token": e.token(t, bob.ID)})
	c.ExpectError("already_authenticated")
	c.Send("set_status", map[string]any{"status": "busy"})
	if got := e.awaitPresence(t, c).String(); got != want(false, entry(alice, "busy", 0)) {
		t.Fatalf("after set_status: %s, want alice busy and no one else (identity changed?)", got)
	}
}

func TestAuthDeadline(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := wstest.Dial(t, e.url(), nil)
	c.Send("ping", nil)
	c.ExpectError("not_authenticated") // the socket is registered and waiting
	e.clock.Advance(10 * time.Second)
	if code := c.ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
}

func TestAuthDeadlineDoesNotCloseAnAuthenticatedSocket(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	e.clock.Advance(11 * time.Second)
	c.Send("ping", nil)
	c.WaitFor("pong")
}

func TestTokenExpiryWhileConnected(t *testing.T) {
	e := newEnv(t, sqlite(t))
	op := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	c := e.login(t, op) // token valid for 1h
	e.clock.Advance(time.Hour)
	if p := c.WaitFor("auth_error").Map(t); p["code"] != "auth_expired_token" {
		t.Fatalf("code = %v", p["code"])
	}
	if code := c.ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
}

func TestReadLimitCloses1009(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	// The server may close before the whole frame is written; the close code is what counts.
	_ = c.TrySendRaw(`{"type":"send_message","payload":{"text":"` + strings.Repeat("a", 70<<10) + `"}}`)
	if code := c.ExpectClosed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
}

func TestBinaryFramesClose1003(t *testing.T) {
	e := newEnv(t, sqlite(t))
	op := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	for name, dial := range map[string]func(*testing.T) *wstest.Client{
		"before auth": func(t *testing.T) *wstest.Client { return wstest.Dial(t, e.url(), nil) },
		"after auth":  func(t *testing.T) *wstest.Client { return e.login(t, op) },
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t)
			// Valid JSON, so only the frame's kind can be refused.
			if err := c.Conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping","payload":{}}`)); err != nil {
				t.Fatal(err)
			}
			if code := c.ExpectClosed(); code != websocket.CloseUnsupportedData {
				t.Fatalf("close code %d, want 1003", code)
			}
		})
	}
}

func TestOriginAllowlist(t *testing.T) {
	e := newEnv(t, sqlite(t))
	_, resp, err := wstest.TryDial(t, e.url(), header("Origin", "https://evil.example.com"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err=%v resp=%v, want 403", err, resp)
	}
	wstest.Dial(t, e.url(), header("Origin", "https://admin.example.com"))
	wstest.Dial(t, e.url(), nil) // non-browser clients send no Origin
}

// TestSameOriginUpgrade: a page served by this server may always open the
// socket, listed or not; only the exact host:port counts as the same origin.
func TestSameOriginUpgrade(t *testing.T) {
	for name, allowed := range map[string][]string{"allowlist unset": nil, "allowlist set": {"https://admin.example.com"}} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, sqlite(t), func(o *ws.Options) { o.AllowedOrigins = allowed })
			host := strings.TrimPrefix(e.srv.URL, "http://") // 127.0.0.1:port, the Host the dialer sends
			for _, origin := range []string{"http://" + host, "https://" + host} {
				wstest.Dial(t, e.url(), header("Origin", origin))
			}
			_, port, _ := net.SplitHostPort(host)
			// Hosts compare case-insensitively.
			wstest.Dial(t, strings.Replace(e.url(), "127.0.0.1", "localhost", 1), header("Origin", "http://LocalHost:"+port))
			for _, origin := range []string{"https://evil.example.com", "http://127.0.0.1:1", "http://127.0.0.2:" + port, "http://" + host + ".evil.example.com", "null"} {
				_, resp, err := wstest.TryDial(t, e.url(), header("Origin", origin))
				if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("origin %s: err=%v resp=%v, want 403", origin, err, resp)
				}
			}
			wstest.Dial(t, e.url(), nil) // no Origin: not a browser
		})
	}
}

func TestDevAuth(t *testing.T) {
	db := sqlite(t)
	op := storetest.Operator(t, db, "alice", chat.RoleAgent)
	off := newEnv(t, db)
	c := wstest.Dial(t, off.url(), nil)
	c.Send("auth", map[string]any{"admin_id": idStr(op.ID)})
	if p := c.Expect("auth_error").Map(t); p["code"] != "auth_missing_token" {
		t.Fatalf("dev auth off: code = %v", p["code"])
	}
	on := newEnv(t, db, func(o *ws.Options) { o.DevAuth = true })
	c = wstest.Dial(t, on.url(), nil)
	c.Send("auth", map[string]any{"admin_id": idStr(op.ID)})
	c.Expect("auth_success")
}

func TestServesSpecAndHealth(t *testing.T) {
	e := newEnv(t, sqlite(t))
	for path, want := range map[string]string{"/asyncapi.yaml": string(asyncapi.YAML), "/healthz": `{"status":"ok"}`, "/readyz": `{"status":"ok"}`} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != strings.TrimSpace(want) {
			t.Fatalf("GET %s: %d %.80s", path, resp.StatusCode, body)
		}
	}
	resp, err := http.Get(e.srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("unknown path: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

package rest_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"livechat/internal/api"
	"livechat/internal/chat"
	"livechat/internal/logctx"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// A REST request's lines carry the id of its X-Request-Id, served as the
// binary serves it: behind the root router, logging JSON through logctx.
// Nothing logged holds the password or a token.
func TestRESTLinesCarryTheRequestID(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{} // input_test.go
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, nil)))
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db, func(d *rest.Deps) { d.Log = log })
	e.operator(t, "alice", chat.RoleAgent)
	root := httptest.NewServer(api.New(api.Deps{DB: db, Socket: http.NotFoundHandler(), REST: rest.New(e.deps), Log: log,
		AllowedOrigins: []string{"https://admin.example.com"}}))
	t.Cleanup(root.Close)
	e.srv = root

	lineFor := func(id, msg string) map[string]any {
		t.Helper()
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			if m["request_id"] == id && m["msg"] == msg {
				return m
			}
		}
		t.Fatalf("no %q line with request_id %q in:\n%s", msg, id, logs)
		return nil
	}

	failed := login(t, e, "mallory", password)
	failed.expectError(t, 401, "auth_invalid_token")
	id := failed.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id")
	}
	if l := lineFor(id, "login failed"); l["component"] != "rest" || l["reason"] != "unknown user" {
		t.Fatalf("login failed line: %v", l)
	}

	ok := e.callWith(t, "POST", "/api/v1/auth/login", map[string]string{"X-Request-Id": "lb-42", "Origin": "https://admin.example.com"},
		map[string]string{"username": "alice", "password": password})
	body := ok.expect(t, 200)
	if got := ok.Header.Get("X-Request-Id"); got != "lb-42" {
		t.Fatalf("X-Request-Id %q, want the proxy's lb-42", got)
	}
	if got := ok.Header.Get("Access-Control-Expose-Headers"); got != "X-Request-Id" {
		t.Fatalf("Access-Control-Expose-Headers %q: the dashboard could not read the id", got)
	}
	lineFor("lb-42", "login")

	raw := logs.String()
	for _, secret := range []string{password, body["access_token"].(string), body["refresh_token"].(string)} {
		if strings.Contains(raw, secret) {
			t.Fatalf("the log holds a secret %q:\n%s", secret, raw)
		}
	}
}

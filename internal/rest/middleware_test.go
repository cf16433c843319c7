package rest_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"livechat/internal/api"
	"livechat/internal/auth"
	"livechat/internal/chat"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestBearer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		path := lc + "conversations"

		r := e.call(t, "GET", path, "", nil)
		r.expectError(t, 401, "auth_missing_token")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
		e.callWith(t, "GET", path, map[string]string{"Authorization": "Bearer "}, nil).expectError(t, 401, "auth_missing_token")
		e.callWith(t, "GET", path, map[string]string{"Authorization": "Basic YWxpY2U6eA=="}, nil).expectError(t, 401, "auth_invalid_token")
		e.call(t, "GET", path, "not.a.jwt", nil).expectError(t, 401, "auth_invalid_token")

		// Signed with another secret.
		other := auth.NewTokens([]byte("another-secret-another-secret-32"), e.clock)
		forged, _, err := other.Issue(alice.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.call(t, "GET", path, forged, nil).expectError(t, 401, "auth_invalid_token")

		// Expired.
		short, _, err := e.tokens.Issue(alice.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		e.call(t, "GET", path, short, nil).expect(t, 200)
		e.clock.Advance(2 * time.Minute)
		e.call(t, "GET", path, short, nil).expectError(t, 401, "auth_expired_token")

		// Unknown operator.
		ghost, _, err := e.tokens.Issue(alice.ID+1000, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.call(t, "GET", path, ghost, nil).expectError(t, 401, "auth_invalid_token")

		// Disabled operator: refused at once, before the token expires.
		tok := e.token(t, alice)
		e.call(t, "GET", path, tok, nil).expect(t, 200)
		if err := db.SetOperatorActive(context.Background(), alice.ID, false); err != nil {
			t.Fatal(err)
		}
		e.call(t, "GET", path, tok, nil).expectError(t, 401, "auth_invalid_token")
	})
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		tok := e.token(t, alice)

		e.call(t, "GET", "/api/v1/nope", tok, nil).expectError(t, 404, "not_found")
		e.call(t, "GET", lc+"conversations/"+storetest.LineUserID()+"/nope", "", nil).expectError(t, 404, "not_found")

		r := e.call(t, "DELETE", lc+"conversations", tok, nil)
		r.expectError(t, 405, "invalid_request")
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("Allow %q", allow)
		}
		e.call(t, "GET", "/api/v1/auth/login", "", nil).expectError(t, 405, "invalid_request")
	})
}

func TestBodyErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		tok := e.token(t, alice)
		c := e.active(t, alice)
		path := lc + "conversations/" + c.LineUserID + "/messages"

		e.call(t, "POST", path, tok, `{"text": "hi"`).expectError(t, 400, "validation_error")
		e.call(t, "POST", path, tok, `{"text": "hi"} {"text": "again"}`).expectError(t, 400, "validation_error")
		e.call(t, "POST", path, tok, `{"text": 5}`).expectError(t, 400, "validation_error", "text")
		e.call(t, "POST", path, tok, `{"text": "hi", "reply_object_id": "x"}`).expectError(t, 400, "validation_error", "reply_object_id")
		e.call(t, "POST", path, tok, `"hi"`).expectError(t, 400, "validation_error")
		e.call(t, "POST", path, tok, nil).expectError(t, 400, "validation_error")

		big := `{"text": "` + strings.Repeat("a", 64<<10) + `"}`
		e.call(t, "POST", path, tok, big).expectError(t, 413, "validation_error")

		// Nothing was stored by any of these.
		msgs, _, err := db.RecentMessages(context.Background(), c.LineUserID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 {
			t.Errorf("%d messages stored, want only the customer's", len(msgs))
		}
	})
}

// TestMountedUnderAPI serves the API the way the binary does, behind the
// root router and its CORS layer.
func TestMountedUnderAPI(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db)
	alice := e.operator(t, "alice", chat.RoleAgent)
	root := httptest.NewServer(api.New(api.Deps{
		DB: db, Socket: http.NotFoundHandler(), REST: rest.New(e.deps),
		AllowedOrigins: []string{"https://admin.example.com"}, Log: slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(root.Close)
	e.srv = root

	r := e.callWith(t, "GET", lc+"operators", map[string]string{"Authorization": "Bearer " + e.token(t, alice), "Origin": "https://admin.example.com"}, nil)
	r.expect(t, 200)
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "https://admin.example.com" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
	if got := r.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Idempotency-Key") {
		t.Errorf("Access-Control-Allow-Headers %q: a browser could not send the send's Idempotency-Key", got)
	}
	e.call(t, "GET", "/api/v1/nope", "", nil).expectError(t, 404, "not_found")
	login(t, e, "alice", password).expect(t, 200)
}

package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestListOperators(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		bob := e.operator(t, "bob", chat.RoleSupervisor)
		gone := e.operator(t, "gone", chat.RoleAdmin)
		if err := db.SetOperatorActive(context.Background(), gone.ID, false); err != nil {
			t.Fatal(err)
		}
		e.active(t, alice)
		e.active(t, alice)
		e.waiting(t)
		e.sockets.setOnline(alice.ID, "away")
		e.sockets.setOnline(bob.ID, "online")

		ops := list(t, e.call(t, "GET", lc+"operators", e.token(t, alice), nil).expect(t, 200), "operators")
		want := []string{
			fmt.Sprintf("%d alice alice agent true away true 2", alice.ID),
			fmt.Sprintf("%d bob bob supervisor true online true 0", bob.ID),
			fmt.Sprintf("%d gone gone admin false offline false 0", gone.ID),
		}
		var got []string
		for _, o := range ops {
			got = append(got, fmt.Sprintf("%d %v %v %v %v %v %v %d", num(t, o["id"]), o["username"], o["display_name"], o["role"],
				o["active"], o["status"], o["online"], num(t, o["active_chats"])))
			if _, ok := o["password_hash"]; ok {
				t.Errorf("password hash leaked: %v", o)
			}
		}
		if !equal(got, want) {
			t.Errorf("operators\n%q\nwant\n%q", got, want)
		}
	})
}

func TestAdminOnly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		admin := e.operator(t, "root", chat.RoleAdmin)
		for _, role := range []chat.Role{chat.RoleAgent, chat.RoleSupervisor} {
			op := e.operator(t, string(role), role)
			tok := e.token(t, op)
			id := fmt.Sprint(admin.ID)
			for _, c := range []struct {
				method, path string
				body         any
			}{
				{"POST", "operators", map[string]string{"username": "x", "display_name": "X", "role": "admin", "password": password}},
				{"POST", "operators/" + id + "/disable", nil},
				{"POST", "operators/" + id + "/enable", nil},
				{"PUT", "operators/" + id + "/role", map[string]string{"role": "agent"}},
				{"PUT", "operators/" + id + "/password", map[string]string{"password": "hijacked-password"}},
			} {
				e.call(t, c.method, lc+c.path, tok, c.body).expectError(t, 403, "forbidden")
			}
		}
		// Nothing changed.
		if got, err := db.Operator(context.Background(), admin.ID); err != nil || !got.Active || got.Role != chat.RoleAdmin || got.PasswordHash != passwordHash() {
			t.Errorf("admin after refused actions: %+v %v", got, err)
		}
		if _, err := db.OperatorByUsername(context.Background(), "x"); err == nil {
			t.Error("an agent created an operator")
		}
		if d := e.sockets.disconnects(); len(d) != 0 {
			t.Errorf("disconnects %v", d)
		}
	})
}

func TestCreateOperator(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		tok := e.token(t, e.operator(t, "root", chat.RoleAdmin))
		path := lc + "operators"
		create := func(username, name, role, pw string) response {
			return e.call(t, "POST", path, tok, map[string]string{"username": username, "display_name": name, "role": role, "password": pw})
		}

		o := create("new.agent_1", "  New Agent ", "agent", "a fine password").expect(t, 201)
		if o["username"] != "new.agent_1" || o["display_name"] != "New Agent" || o["role"] != "agent" || o["active"] != true ||
			o["status"] != "offline" || num(t, o["id"]) == 0 {
			t.Errorf("created %v", o)
		}
		login(t, e, "new.agent_1", "a fine password").expect(t, 200)

		create("new.agent_1", "Again", "agent", password).expectError(t, 409, "conflict", "username")
		create("bad name", "X", "agent", password).expectError(t, 400, "validation_error", "username")
		create(strings.Repeat("a", 51), "X", "agent", password).expectError(t, 400, "validation_error", "username")
		create("ok", "  ", "agent", password).expectError(t, 400, "validation_error", "display_name")
		create("ok", strings.Repeat("n", 101), "agent", password).expectError(t, 400, "validation_error", "display_name")
		create("ok", "X", "root", password).expectError(t, 400, "validation_error", "role")
		create("ok", "X", "agent", "short").expectError(t, 400, "validation_error", "password")
		create("ok", "X", "agent", strings.Repeat("p", 73)).expectError(t, 400, "validation_error", "password")
		e.call(t, "POST", path, tok, `{"username":"ok","display_name":"X","role":"agent","password":"long enough","active":false}`).
			expectError(t, 400, "validation_error", "active")
		if _, err := db.OperatorByUsername(context.Background(), "ok"); err == nil {
			t.Error("an invalid request created an operator")
		}
	})
}

func TestDisableEnableOperator(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		root := e.operator(t, "root", chat.RoleAdmin)
		bob := e.operator(t, "bob", chat.RoleAgent)
		tok := e.token(t, root)
		bobTok := e.token(t, bob)
		bobRefresh := login(t, e, "bob", password).expect(t, 200)["refresh_token"].(string)
		// Another tab's token, not presented while bob is disabled.
		bobRefresh2 := login(t, e, "bob", password).expect(t, 200)["refresh_token"].(string)
		e.active(t, bob)
		e.sockets.setOnline(bob.ID, "online")

		o := e.call(t, "POST", lc+fmt.Sprintf("operators/%d/disable", bob.ID), tok, nil).expect(t, 200)
		if num(t, o["id"]) != bob.ID || o["active"] != false || num(t, o["active_chats"]) != 1 {
			t.Errorf("disabled %v", o)
		}
		if d := e.sockets.disconnects(); len(d) != 1 || d[0] != (disconnect{bob.ID, "operator disabled"}) {
			t.Errorf("disconnects %v", d)
		}
		// Locked out everywhere at once.
		e.call(t, "GET", lc+"operators", bobTok, nil).expectError(t, 401, "auth_invalid_token")
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": bobRefresh}).expectError(t, 401, "auth_invalid_token")

		o = e.call(t, "POST", lc+fmt.Sprintf("operators/%d/enable", bob.ID), tok, nil).expect(t, 200)
		if o["active"] != true {
			t.Errorf("enabled %v", o)
		}
		e.call(t, "GET", lc+"operators", bobTok, nil).expect(t, 200)
		// The disable revoked bob's refresh tokens for good: the enable does
		// not revive them, bob logs in again.
		for _, rt := range []string{bobRefresh, bobRefresh2} {
			e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": rt}).expectError(t, 401, "auth_invalid_token")
		}
		fresh := login(t, e, "bob", password).expect(t, 200)["refresh_token"].(string)
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": fresh}).expect(t, 200)

		// An admin cannot lock themself out.
		e.call(t, "POST", lc+fmt.Sprintf("operators/%d/disable", root.ID), tok, nil).expectError(t, 400, "validation_error")
		if got, _ := db.Operator(context.Background(), root.ID); !got.Active {
			t.Error("admin disabled themself")
		}
		e.call(t, "POST", lc+"operators/99999/disable", tok, nil).expectError(t, 404, "operator_not_found")
		e.call(t, "POST", lc+"operators/99999/enable", tok, nil).expectError(t, 404, "operator_not_found")
		e.call(t, "POST", lc+"operators/abc/disable", tok, nil).expectError(t, 400, "validation_error", "id")
		e.call(t, "POST", lc+"operators/0/enable", tok, nil).expectError(t, 400, "validation_error", "id")
		if d := e.sockets.disconnects(); len(d) != 1 {
			t.Errorf("disconnects %v", d)
		}
	})
}

func TestSetOperatorRole(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		root := e.operator(t, "root", chat.RoleAdmin)
		bob := e.operator(t, "bob", chat.RoleAgent)
		tok := e.token(t, root)
		role := func(id int64, r string) response {
			return e.call(t, "PUT", lc+fmt.Sprintf("operators/%d/role", id), tok, map[string]string{"role": r})
		}

		if o := role(bob.ID, "supervisor").expect(t, 200); o["role"] != "supervisor" {
			t.Errorf("role %v", o)
		}
		if got, _ := db.Operator(context.Background(), bob.ID); got.Role != chat.RoleSupervisor {
			t.Errorf("stored role %s", got.Role)
		}
		// Sockets reconnect to pick the new role up; an unchanged role leaves them be.
		role(bob.ID, "supervisor").expect(t, 200)
		if d := e.sockets.disconnects(); len(d) != 1 || d[0] != (disconnect{bob.ID, "role changed"}) {
			t.Errorf("disconnects %v", d)
		}

		role(root.ID, "supervisor").expectError(t, 400, "validation_error", "role")
		role(root.ID, "admin").expect(t, 200)
		role(bob.ID, "owner").expectError(t, 400, "validation_error", "role")
		role(99999, "agent").expectError(t, 404, "operator_not_found")
		e.call(t, "PUT", lc+fmt.Sprintf("operators/%d/role", bob.ID), tok, `{}`).expectError(t, 400, "validation_error", "role")

		// Promoted to admin, bob may now manage operators.
		role(bob.ID, "admin").expect(t, 200)
		e.call(t, "POST", lc+fmt.Sprintf("operators/%d/enable", root.ID), e.token(t, bob), nil).expect(t, 200)
	})
}

func TestSetOperatorPassword(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		root := e.operator(t, "root", chat.RoleAdmin)
		bob := e.operator(t, "bob", chat.RoleAgent)
		tok := e.token(t, root)
		path := lc + fmt.Sprintf("operators/%d/password", bob.ID)

		bobRefresh := login(t, e, "bob", password).expect(t, 200)["refresh_token"].(string)
		rootRefresh := login(t, e, "root", password).expect(t, 200)["refresh_token"].(string)
		e.sockets.setOnline(bob.ID, "online")

		e.call(t, "PUT", path, tok, map[string]string{"password": "short"}).expectError(t, 400, "validation_error", "password")
		e.call(t, "PUT", path, tok, `{"password": 12345678}`).expectError(t, 400, "validation_error", "password")
		e.call(t, "PUT", lc+"operators/99999/password", tok, map[string]string{"password": "new password 1"}).expectError(t, 404, "operator_not_found")
		if d := e.sockets.disconnects(); len(d) != 0 {
			t.Fatalf("refused changes disconnected %v", d)
		}
		if o := e.call(t, "PUT", path, tok, map[string]string{"password": "new password 1"}).expect(t, 200); num(t, o["id"]) != bob.ID {
			t.Errorf("response %v", o)
		}
		// The old password's sessions end: sockets closed, refresh tokens revoked.
		if d := e.sockets.disconnects(); len(d) != 1 || d[0] != (disconnect{bob.ID, "password changed"}) {
			t.Errorf("disconnects %v", d)
		}
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": bobRefresh}).expectError(t, 401, "auth_invalid_token")
		fresh := login(t, e, "bob", "new password 1").expect(t, 200)["refresh_token"].(string)
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": fresh}).expect(t, 200)
		// Other operators keep theirs.
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": rootRefresh}).expect(t, 200)
	})
}

// resetDuringRefresh is a store that, once armed, resets the operator's
// password through the API just before a refresh stores its new token:
// the reset commits while the refresh is between reading the old token and
// finishing its rotation.
type resetDuringRefresh struct {
	*store.DB
	mu    sync.Mutex
	reset func()
}

func (s *resetDuringRefresh) CreateRefreshToken(ctx context.Context, tok *chat.RefreshToken) error {
	s.mu.Lock()
	f := s.reset
	s.reset = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return s.DB.CreateRefreshToken(ctx, tok)
}

// A refresh racing with a password reset cannot come out holding a live
// token: the new token is stored before the old one is spent, so the reset's
// revocation either catches the new token or makes spending the old one fail.
func TestRefreshRacingPasswordReset(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := &resetDuringRefresh{DB: db}
		e := newEnv(t, db, func(d *rest.Deps) { d.Store = st })
		root := e.operator(t, "root", chat.RoleAdmin)
		bob := e.operator(t, "bob", chat.RoleAgent)
		tok := e.token(t, root)
		rt := login(t, e, "bob", password).expect(t, 200)["refresh_token"].(string)

		var reset response
		var resetErr error
		st.mu.Lock()
		st.reset = func() { // on the refresh handler's goroutine: no t.Fatal here
			reset, resetErr = e.send("PUT", lc+fmt.Sprintf("operators/%d/password", bob.ID),
				map[string]string{"Authorization": "Bearer " + tok}, map[string]string{"password": "new password 1"})
		}
		st.mu.Unlock()
		r := e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": rt})
		if resetErr != nil || reset.Status != 200 {
			t.Fatalf("the reset during the refresh: %d %s %v", reset.Status, reset.Body, resetErr)
		}
		if r.Status == 200 {
			// Answered, yet the token it handed out must be dead.
			var body struct {
				RefreshToken string `json:"refresh_token"`
			}
			_ = json.Unmarshal(r.Body, &body)
			e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": body.RefreshToken}).expectError(t, 401, "auth_invalid_token")
		} else {
			r.expectError(t, 401, "auth_invalid_token")
		}
		if n, err := db.RevokeOperatorRefreshTokens(context.Background(), bob.ID, e.clock.Now()); err != nil || n != 0 {
			t.Fatalf("%d refresh tokens of bob still live after the reset (%v)", n, err)
		}
	})
}

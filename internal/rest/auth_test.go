package rest_test

import (
	"context"
	"reflect"
	"regexp"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func login(t testing.TB, e *env, username, pw string) response {
	t.Helper()
	return e.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": username, "password": pw})
}

var refreshFormat = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`) // 32 bytes, base64url, unpadded

func TestLogin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)

		body := login(t, e, "alice", password).expect(t, 200)
		claims, err := e.tokens.Verify(body["access_token"].(string))
		if err != nil || claims.OperatorID != alice.ID {
			t.Fatalf("access token: claims %+v, err %v", claims, err)
		}
		if got, want := body["expires_at"], t0.Add(30*time.Minute).Format(time.RFC3339); got != want {
			t.Errorf("expires_at %v, want %s", got, want)
		}
		if rt, _ := body["refresh_token"].(string); !refreshFormat.MatchString(rt) {
			t.Errorf("refresh_token %q is not 32 bytes of base64url", rt)
		}
		op := body["operator"].(map[string]any)
		if num(t, op["id"]) != alice.ID || op["username"] != "alice" || op["display_name"] != "alice" || op["role"] != "agent" {
			t.Errorf("operator %v", op)
		}
		// The SKN admin UI reads data.user: the same object.
		if !reflect.DeepEqual(body["user"], body["operator"]) {
			t.Errorf("user %v, want the operator %v", body["user"], body["operator"])
		}
		// The token works.
		e.call(t, "GET", lc+"operators", body["access_token"].(string), nil).expect(t, 200)

		// Wrong password, unknown user and disabled operator look alike.
		bob := e.operator(t, "bob", chat.RoleAgent)
		if err := db.SetOperatorActive(context.Background(), bob.ID, false); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ user, pw string }{{"alice", "wrong password"}, {"nobody", password}, {"bob", password}} {
			er := login(t, e, c.user, c.pw).expectError(t, 401, "auth_invalid_token")
			if er["message"] != "Invalid credentials" {
				t.Errorf("%s: message %v", c.user, er["message"])
			}
		}

		// Missing fields and bad JSON are 400, not 401.
		e.call(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "alice"}).expectError(t, 400, "validation_error", "password")
		e.call(t, "POST", "/api/v1/auth/login", "", `{"username":`).expectError(t, 400, "validation_error")
		e.call(t, "POST", "/api/v1/auth/login", "", `{"username":"alice","password":"x","otp":1}`).expectError(t, 400, "validation_error", "otp")
	})
}

func TestLoginLockout(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(d *rest.Deps) { d.LoginMaxFailures = 2 }) // bcrypt is slow under -race
		e.operator(t, "alice", chat.RoleAgent)
		e.operator(t, "carol", chat.RoleAgent)
		fail := func(xff string) response {
			t.Helper()
			return e.callWith(t, "POST", "/api/v1/auth/login", map[string]string{"X-Forwarded-For": xff},
				map[string]string{"username": "alice", "password": "nope"})
		}

		// A success clears earlier failures.
		fail("").expectError(t, 401, "auth_invalid_token")
		login(t, e, "alice", password).expect(t, 200)

		// Two failures, each claiming another client address: the limiter
		// keys by the TCP peer, so they count together.
		fail("203.0.113.1").expectError(t, 401, "auth_invalid_token")
		e.clock.Advance(time.Minute)
		fail("203.0.113.2").expectError(t, 401, "auth_invalid_token")

		// Locked now, even with the right password; the older failure
		// expires 14 minutes from now.
		r := login(t, e, "alice", password)
		r.expectError(t, 429, "rate_limit_exceeded")
		if got := r.Header.Get("Retry-After"); got != "840" {
			t.Errorf("Retry-After %q, want 840", got)
		}
		// The lock is per username: carol is unaffected.
		login(t, e, "carol", password).expect(t, 200)

		e.clock.Advance(14*time.Minute - time.Second)
		login(t, e, "alice", password).expectError(t, 429, "rate_limit_exceeded")
		// Past the window of the older failure, one attempt is free again.
		e.clock.Advance(time.Second)
		login(t, e, "alice", password).expect(t, 200)
	})
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		first := login(t, e, "alice", password).expect(t, 200)["refresh_token"].(string)

		e.clock.Advance(time.Minute)
		body := e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first}).expect(t, 200)
		if u, _ := body["user"].(map[string]any); u == nil || u["username"] != "alice" || !reflect.DeepEqual(body["user"], body["operator"]) {
			t.Errorf("refresh: user %v, operator %v: want both, the same", body["user"], body["operator"])
		}
		second := body["refresh_token"].(string)
		if second == first || !refreshFormat.MatchString(second) {
			t.Fatalf("refresh token not rotated: %q", second)
		}
		if claims, err := e.tokens.Verify(body["access_token"].(string)); err != nil || claims.OperatorID != alice.ID {
			t.Fatalf("new access token: %+v %v", claims, err)
		}
		if got, want := body["expires_at"], t0.Add(31*time.Minute).Format(time.RFC3339); got != want {
			t.Errorf("expires_at %v, want %s", got, want)
		}
		if num(t, body["operator"].(map[string]any)["id"]) != alice.ID {
			t.Errorf("operator %v", body["operator"])
		}

		// The old one is spent; the new one works once.
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first}).expectError(t, 401, "auth_invalid_token")
		third := e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": second}).expect(t, 200)["refresh_token"].(string)
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": second}).expectError(t, 401, "auth_invalid_token")

		// Unknown, malformed.
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": "AAAA"}).expectError(t, 401, "auth_invalid_token")
		e.call(t, "POST", "/api/v1/auth/refresh", "", `{}`).expectError(t, 400, "validation_error", "refresh_token")
		e.call(t, "POST", "/api/v1/auth/refresh", "", `[1]`).expectError(t, 400, "validation_error")

		// A disabled operator cannot refresh.
		if err := db.SetOperatorActive(context.Background(), alice.ID, false); err != nil {
			t.Fatal(err)
		}
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": third}).expectError(t, 401, "auth_invalid_token")
	})
}

func TestRefreshExpires(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.operator(t, "alice", chat.RoleAgent)
		rt := login(t, e, "alice", password).expect(t, 200)["refresh_token"].(string)
		e.clock.Advance(7 * 24 * time.Hour)
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": rt}).expectError(t, 401, "auth_invalid_token")
	})
}

func TestLogout(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.operator(t, "alice", chat.RoleAgent)
		rt := login(t, e, "alice", password).expect(t, 200)["refresh_token"].(string)

		e.call(t, "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": rt}).expect(t, 204)
		e.call(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": rt}).expectError(t, 401, "auth_invalid_token")
		// Idempotent, and unknown tokens are fine too.
		e.call(t, "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": rt}).expect(t, 204)
		e.call(t, "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": "unknown"}).expect(t, 204)
		// A malformed body is not.
		e.call(t, "POST", "/api/v1/auth/logout", "", `not json`).expectError(t, 400, "validation_error")
		e.call(t, "POST", "/api/v1/auth/logout", "", `{}`).expectError(t, 400, "validation_error", "refresh_token")
		e.call(t, "POST", "/api/v1/auth/logout", "", nil).expectError(t, 400, "validation_error")
	})
}

// Of concurrent refreshes with one token exactly one rotates it; the losers
// leave no live token behind (they revoke the one they made).
func TestRefreshConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		rt := login(t, e, "alice", password).expect(t, 200)["refresh_token"].(string)
		const n = 8
		statuses := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := e.send("POST", "/api/v1/auth/refresh", nil, map[string]string{"refresh_token": rt})
				statuses[i], errs[i] = r.Status, err
			}()
		}
		wg.Wait()
		ok := 0
		for i := range n {
			switch {
			case errs[i] != nil:
				t.Fatal(errs[i])
			case statuses[i] == 200:
				ok++
			case statuses[i] != 401:
				t.Errorf("refresh %d: status %d", i, statuses[i])
			}
		}
		if ok != 1 {
			t.Fatalf("%d refreshes succeeded, want 1", ok)
		}
		// Live: the winner's token only.
		if live, err := db.RevokeOperatorRefreshTokens(context.Background(), alice.ID, e.clock.Now()); err != nil || live != 1 {
			t.Fatalf("%d live refresh tokens after the race (%v), want 1", live, err)
		}
	})
}

package rest_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/bus/redistest"
	"livechat/internal/chat"
	"livechat/internal/ratelimit"
	"livechat/internal/rest"
	"livechat/internal/store/storetest"
)

// TestLoginLockoutAcrossInstances: with the failures in Redis, guesses
// spread over two instances lock the account on both.
func TestLoginLockoutAcrossInstances(t *testing.T) {
	first, name := redistest.Client(t)
	instance := func(c *redis.Client) func(*rest.Deps) {
		return func(d *rest.Deps) {
			d.LoginMaxFailures = 2
			d.Logins = ratelimit.NewRedisFailures(c, name, 2, 15*time.Minute, d.Clock, slog.New(slog.DiscardHandler))
		}
	}
	second := redis.NewClient(first.Options()) // another instance's
	t.Cleanup(func() { second.Close() })
	db := storetest.Open(t, "sqlite")
	one, two := newEnv(t, db, instance(first)), newEnv(t, db, instance(second))
	one.operator(t, "alice", chat.RoleAgent)
	bad := map[string]string{"username": "alice", "password": "nope"}
	one.call(t, "POST", "/api/v1/auth/login", "", bad).expectError(t, 401, "auth_invalid_token")
	two.call(t, "POST", "/api/v1/auth/login", "", bad).expectError(t, 401, "auth_invalid_token")
	for _, e := range []*env{one, two} {
		r := login(t, e, "alice", password)
		r.expectError(t, 429, "rate_limit_exceeded")
		if got := r.Header.Get("Retry-After"); got != "900" {
			t.Errorf("Retry-After %q, want 900", got)
		}
	}
}

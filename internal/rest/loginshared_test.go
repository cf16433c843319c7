package rest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/chat"
	"livechat/internal/ratelimit"
	"livechat/internal/rest"
	"livechat/internal/store/storetest"
)

// TestLoginLockoutAcrossInstances: with the failures in Redis, guesses
// spread over two instances lock the account on both.
func TestLoginLockoutAcrossInstances(t *testing.T) {
	url := os.Getenv("LIVECHAT_TEST_REDIS_URL")
	if url == "" {
		t.Skip("LIVECHAT_TEST_REDIS_URL not set: skipping Redis")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw := make([]byte, 6)
	_, _ = rand.Read(raw)
	name := "test-login-" + hex.EncodeToString(raw)
	instance := func() func(*rest.Deps) {
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("LIVECHAT_TEST_REDIS_URL is set but Redis is unreachable: %v", err)
		}
		return func(d *rest.Deps) {
			d.LoginMaxFailures = 2
			d.Logins = ratelimit.NewRedisFailures(c, name, 2, 15*time.Minute, d.Clock, slog.New(slog.DiscardHandler))
		}
	}
	db := storetest.Open(t, "sqlite")
	one, two := newEnv(t, db, instance()), newEnv(t, db, instance())
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

package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is a client of LIVECHAT_TEST_REDIS_URL, closed when the test ends
// (skipped when the variable is unset, failed when Redis does not answer),
// and a key prefix no other test shares.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("LIVECHAT_TEST_REDIS_URL is set but Redis is unreachable: %v", err)
	}
	raw := make([]byte, 6)
	_, _ = rand.Read(raw)
	return c, "livechat:test:" + hex.EncodeToString(raw)
}

package presence_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/clock"
	"livechat/internal/presence"
)

// client is a client of LIVECHAT_TEST_REDIS_URL (skipped when unset, failed
// when set but unreachable) and a prefix no other test shares.
func client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("LIVECHAT_TEST_REDIS_URL")
	if url == "" {
		t.Skip("LIVECHAT_TEST_REDIS_URL not set: skipping Redis")
	}
	opt, err := redis.ParseURL(url)
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
	return c, "livechat:test:presence:" + hex.EncodeToString(raw)
}

func TestDirectory(t *testing.T) {
	c, prefix := client(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	d := presence.NewRedis(c, prefix, 30*time.Second, clk)
	others := func(self string, want map[string]map[int64]string) {
		t.Helper()
		got, err := d.Others(ctx, self)
		if err != nil || !maps.EqualFunc(got, want, maps.Equal) {
			t.Fatalf("others of %s: %v %v, want %v", self, got, err, want)
		}
	}
	if err := d.Put(ctx, "a", map[int64]string{1: "online", 2: "away"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "b", map[int64]string{2: "online", 3: "busy"}); err != nil {
		t.Fatal(err)
	}
	others("a", map[string]map[int64]string{"b": {2: "online", 3: "busy"}})
	others("c", map[string]map[int64]string{"a": {1: "online", 2: "away"}, "b": {2: "online", 3: "busy"}})
	// A put replaces the instance's set.
	if err := d.Put(ctx, "b", map[int64]string{3: "online"}); err != nil {
		t.Fatal(err)
	}
	others("a", map[string]map[int64]string{"b": {3: "online"}})
	// b stops renewing (it died): past the TTL it is gone; a renews.
	clk.Advance(20 * time.Second)
	if err := d.Put(ctx, "a", map[int64]string{1: "online"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(11 * time.Second)
	others("c", map[string]map[int64]string{"a": {1: "online"}})
	// A graceful shutdown drops at once.
	if err := d.Drop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	others("c", map[string]map[int64]string{})
}

package presence_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"livechat/internal/bus/redistest"
	"livechat/internal/clock"
	"livechat/internal/presence"
)

func TestDirectory(t *testing.T) {
	c, prefix := redistest.Client(t)
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

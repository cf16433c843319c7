package lease_test

import (
	"context"
	"testing"
	"time"

	"livechat/internal/bus/redistest"
	"livechat/internal/clock"
	"livechat/internal/lease"
)

type table interface {
	Hold(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, name, holder string) error
}

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestMemory(t *testing.T) {
	clk := clock.NewFake(t0)
	testLease(t, lease.NewMemory(clk), clk)
}

func TestRedis(t *testing.T) {
	c, prefix := redistest.Client(t)
	clk := clock.NewFake(t0)
	testLease(t, lease.NewRedis(c, prefix, clk), clk)
}

// testLease: one holder at a time; the holder renews; another takes over
// when the term ends without renewal, or at once after a release; a
// release by a non-holder changes nothing; leases are apart by name.
func testLease(t *testing.T, l table, clk *clock.Fake) {
	ctx := context.Background()
	const ttl = 15 * time.Second
	hold := func(name, who string, want bool) {
		t.Helper()
		got, err := l.Hold(ctx, name, who, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s holds %s: %v, want %v", who, name, got, want)
		}
	}
	hold("kpis", "one", true)
	hold("kpis", "two", false)
	hold("other", "two", true) // another name, its own holder
	clk.Advance(10 * time.Second)
	hold("kpis", "one", true) // renewed: 15 s from now
	clk.Advance(10 * time.Second)
	hold("kpis", "two", false) // 20 s after the first hold, 10 s after the renewal
	clk.Advance(5 * time.Second)
	hold("kpis", "two", true) // one's term ended
	hold("kpis", "one", false)
	if err := l.Release(ctx, "kpis", "one"); err != nil { // not its to release
		t.Fatal(err)
	}
	hold("kpis", "one", false)
	if err := l.Release(ctx, "kpis", "two"); err != nil {
		t.Fatal(err)
	}
	hold("kpis", "one", true)
}

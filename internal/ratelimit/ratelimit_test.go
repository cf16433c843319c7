package ratelimit_test

import (
	"testing"
	"time"

	"livechat/internal/clock"
	"livechat/internal/ratelimit"
)

func TestBucket(t *testing.T) {
	c := clock.NewFake(time.Unix(1_700_000_000, 0))
	l := ratelimit.New(10, 30, c)
	for i := range 30 {
		if ok, _ := l.Allow(1); !ok {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow(1)
	if ok {
		t.Fatal("31st event allowed")
	}
	if wait != 100*time.Millisecond {
		t.Fatalf("retry after %v, want 100ms", wait)
	}
	if ok, _ := l.Allow(2); !ok {
		t.Fatal("another key shares the bucket")
	}
	c.Advance(100 * time.Millisecond)
	if ok, _ := l.Allow(1); !ok {
		t.Fatal("token not refilled after 100ms")
	}
	if ok, _ := l.Allow(1); ok {
		t.Fatal("refilled more than one token in 100ms")
	}
	c.Advance(time.Hour)
	for i := range 30 {
		if ok, _ := l.Allow(1); !ok {
			t.Fatalf("after an idle hour, event %d refused", i+1)
		}
	}
	if ok, _ := l.Allow(1); ok {
		t.Fatal("bucket refilled beyond its burst")
	}
}

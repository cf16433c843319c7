package ratelimit_test

import (
	"testing"
	"time"

	"livechat/internal/clock"
	"livechat/internal/ratelimit"
)

func TestSampler(t *testing.T) {
	c := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := ratelimit.NewSampler(10*time.Second, c)
	if ok, n := s.Allow(); !ok || n != 0 {
		t.Fatalf("first event: %v %d", ok, n)
	}
	for i := range 5 {
		if ok, _ := s.Allow(); ok {
			t.Fatalf("event %d within the period passed", i+2)
		}
	}
	c.Advance(10*time.Second - time.Millisecond)
	if ok, _ := s.Allow(); ok {
		t.Fatal("passed before the period ended")
	}
	c.Advance(time.Millisecond)
	if ok, n := s.Allow(); !ok || n != 6 {
		t.Fatalf("after the period: %v, %d held back, want true, 6", ok, n)
	}
	c.Advance(time.Hour)
	if ok, n := s.Allow(); !ok || n != 0 {
		t.Fatalf("after a quiet hour: %v %d", ok, n)
	}
}

package line_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"livechat/internal/clock"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
)

// runLoading runs l until the test ends.
func runLoading(t *testing.T, l *line.Loading) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func TestLoadingIsDebouncedPerUser(t *testing.T) {
	f, c := fake(t)
	clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	l := line.NewLoading(c, clk, nil, line.LoadingOptions{})
	runLoading(t, l)
	other := "Uffffffffffffffffffffffffffffffff"

	if !l.Start(user) {
		t.Fatal("first Start not queued")
	}
	if l.Start(user) {
		t.Fatal("second Start within the renewal interval was queued")
	}
	clk.Advance(4 * time.Second)
	if l.Start(user) {
		t.Fatal("Start after 4 s was queued")
	}
	if !l.Start(other) {
		t.Fatal("another user's Start not queued")
	}
	clk.Advance(time.Second) // 5 s after the first call: renew
	if !l.Start(user) {
		t.Fatal("renewal after 5 s not queued")
	}
	rs, err := f.WaitFor(linefake.Loading, 3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{user, other, user}
	for i, r := range rs {
		if r.To != want[i] || r.Status != 202 {
			t.Errorf("call %d = %s status %d, want %s 202", i, r.To, r.Status, want[i])
		}
		if string(r.Body) == "" {
			t.Errorf("call %d has no body", i)
		}
	}
}

func TestLoadingWithoutTokenDoesNothing(t *testing.T) {
	f := linefake.New(token)
	base := f.Start()
	defer f.Close()
	clk := clock.NewFake(time.Now())
	l := line.NewLoading(line.NewClient(base, base, "", nil), clk, nil, line.LoadingOptions{})
	if l.Start(user) {
		t.Fatal("Start queued a call without a token")
	}
}

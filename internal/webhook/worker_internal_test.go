package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/outbound"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := backoff(100); got != maxBackoff {
		t.Errorf("backoff(100) = %v, want %v", got, maxBackoff)
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("สวัสดี", 4); got != "ส" { // 3 bytes per Thai letter
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("abc", 10); got != "abc" {
		t.Errorf("truncate = %q", got)
	}
}

// failingChat fails CustomerMessage a number of times, then passes.
type failingChat struct {
	Chat
	fails atomic.Int32
}

func (f *failingChat) CustomerMessage(ctx context.Context, m chat.Message) (chat.Message, error) {
	if f.fails.Add(-1) >= 0 {
		return chat.Message{}, errors.New("injected failure")
	}
	return f.Chat.CustomerMessage(ctx, m)
}

// panickyChat panics once.
type panickyChat struct {
	Chat
	done atomic.Bool
}

func (p *panickyChat) CustomerMessage(ctx context.Context, m chat.Message) (chat.Message, error) {
	if p.done.CompareAndSwap(false, true) {
		panic("boom")
	}
	return p.Chat.CustomerMessage(ctx, m)
}

// runRig runs a Worker's Run loop; passes receives one value per drain.
type runRig struct {
	w      *Worker
	db     *store.DB
	clock  *clock.Fake
	passes chan struct{}
	stop   func()
}

func newRunRig(t *testing.T, wrap func(Chat) Chat) *runRig {
	t.Helper()
	db := storetest.Open(t, store.SQLite)
	clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	log := slog.New(slog.DiscardHandler)
	svc := chat.NewService(db, clk, outbound.NewRecorder(), log, time.UTC)
	r := &runRig{db: db, clock: clk, passes: make(chan struct{}, 100)}
	r.w = NewWorker(Deps{Store: db, Chat: wrap(svc), Clock: clk, Log: log}, Options{})
	r.w.passed = func() { r.passes <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.w.Run(ctx) }()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	r.pass(t) // the start-up drain
	return r
}

func (r *runRig) pass(t *testing.T) {
	t.Helper()
	select {
	case <-r.passes:
	case <-time.After(10 * time.Second):
		t.Fatal("no worker pass")
	}
}

// textEvent is a valid LINE text message event; n makes its ids.
func textEvent(n int, userID, text string, at time.Time) store.InboxEvent {
	id := fmt.Sprintf("01TESTEVENT%015d", n)
	body := fmt.Sprintf(`{"type":"message","timestamp":%d,"webhookEventId":%q,"source":{"type":"user","userId":%q},`+
		`"message":{"id":"%d","type":"text","text":%q}}`, at.UnixMilli(), id, userID, 4680000000000+n, text)
	return store.InboxEvent{WebhookEventID: id, EventType: "message", SourceType: "user", LineUserID: userID, Body: []byte(body), EventAt: at}
}

// add stores event n and returns its webhook event id.
func (r *runRig) add(t *testing.T, n int, userID, text string) string {
	t.Helper()
	ev := textEvent(n, userID, text, r.clock.Now())
	if _, err := r.db.AddInboxEvents(context.Background(), []store.InboxEvent{ev}, nil, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return ev.WebhookEventID
}

func (r *runRig) messages(t *testing.T, userID string) int {
	t.Helper()
	ms, _, err := r.db.RecentMessages(context.Background(), userID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func TestRunRetriesWhenTheRetryFallsDue(t *testing.T) {
	var fc *failingChat
	r := newRunRig(t, func(c Chat) Chat { fc = &failingChat{Chat: c}; return fc })
	u := storetest.Customer(t, r.db).LineUserID
	fc.fails.Store(2)
	id := r.add(t, 1, u, "hello")
	r.w.Kick()
	r.pass(t) // attempt 1 fails; retry in 1s
	if n := r.messages(t, u); n != 0 {
		t.Fatalf("%d messages after a failure", n)
	}
	r.clock.Advance(time.Second) // the timer kicks
	r.pass(t)                    // attempt 2 fails; retry in 2s
	r.clock.Advance(2 * time.Second)
	r.pass(t) // attempt 3 succeeds
	if n := r.messages(t, u); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	ev, _ := r.db.InboxEvent(context.Background(), id)
	if ev.ProcessedAt == nil || ev.Attempts != 3 || ev.Failures != 0 || ev.LastError != "message: store: injected failure" {
		t.Fatalf("event = %+v", ev)
	}
}

func TestRunPicksUpWhatAPreviousRunLeft(t *testing.T) {
	// Events stored while no worker ran (a crash, a restart) are processed on start.
	db := storetest.Open(t, store.SQLite)
	u := storetest.Customer(t, db).LineUserID
	clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	if _, err := db.AddInboxEvents(context.Background(), []store.InboxEvent{textEvent(1, u, "hi", clk.Now())}, nil, clk.Now()); err != nil {
		t.Fatal(err)
	}
	// A worker that died holding the lease.
	if _, ok, err := db.ClaimInboxEvent(context.Background(), 1, clk.Now(), clk.Now().Add(lease)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	log := slog.New(slog.DiscardHandler)
	w := NewWorker(Deps{Store: db, Chat: chat.NewService(db, clk, outbound.NewRecorder(), log, time.UTC), Clock: clk, Log: log}, Options{})
	passes := make(chan struct{}, 10)
	w.passed = func() { passes <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-passes // leased: nothing yet
	if _, pending, _ := db.CountInboxEvents(context.Background()); pending != 1 {
		t.Fatal("the leased event was processed early")
	}
	// Run sleeps at most pollInterval at a time; one wake-up per step, the
	// last one when the lease has ended.
	for elapsed := time.Duration(0); elapsed < lease; elapsed += pollInterval {
		clk.Advance(pollInterval)
		<-passes
	}
	if _, pending, _ := db.CountInboxEvents(context.Background()); pending != 0 {
		t.Fatal("the abandoned event was not taken over")
	}
}

func TestAPanicIsRetriedNotFatal(t *testing.T) {
	r := newRunRig(t, func(c Chat) Chat { return &panickyChat{Chat: c} })
	u := storetest.Customer(t, r.db).LineUserID
	id := r.add(t, 1, u, "hello")
	r.w.Kick()
	r.pass(t)
	ev, _ := r.db.InboxEvent(context.Background(), id)
	// A panic is the event's own failure as far as the worker can tell.
	if ev.ProcessedAt != nil || ev.Failures != 1 || ev.LastError != "inbox: processing panicked: boom" {
		t.Fatalf("event = %+v", ev)
	}
	r.clock.Advance(time.Second)
	r.pass(t)
	if n := r.messages(t, u); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func TestRunStops(t *testing.T) {
	r := newRunRig(t, func(c Chat) Chat { return c })
	r.stop()
	if n := r.clock.Pending(); n != 0 {
		t.Fatalf("%d timers left after Run returned", n)
	}
}

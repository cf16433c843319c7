package webhook_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/line/linefake"
	"livechat/internal/outbound"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/webhook"
)

var timeouts = chat.Timeouts{Inactive: 30 * time.Minute, Waiting: 24 * time.Hour}

// sweepers is the env's service and a second instance's, on the same
// database and clock, both sending their notices through one fake LINE.
func (e *env) sweepers(t *testing.T) [2]*chat.Service {
	t.Helper()
	bkk, _ := time.LoadLocation("Asia/Bangkok")
	other := chat.NewService(e.db, e.clock, outbound.NewRecorder(), slog.New(slog.DiscardHandler), bkk)
	other.SetNotifier(e.notes)
	svcs := [2]*chat.Service{e.svc, other}
	for _, s := range svcs {
		surveys := webhook.NewSurveys(e.client, e.clock, slog.New(slog.DiscardHandler), webhook.DefaultCloseNotices)
		s.AfterClose = func(ctx context.Context, sess chat.Session) {
			e.notes.mu.Lock()
			e.notes.afterClose++ // the notice queued: once per close, whichever instance closed
			e.notes.mu.Unlock()
			surveys.AfterClose(ctx, sess)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); surveys.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return svcs
}

// sweepBoth runs both instances' sweeps at once and returns what each closed.
func sweepBoth(t *testing.T, svcs [2]*chat.Service) (closed []chat.Session) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Go(func() {
			got, err := s.Sweep(context.Background(), timeouts)
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			mu.Lock()
			closed = append(closed, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return closed
}

func (e *env) closedNotes() []chat.Session {
	e.notes.mu.Lock()
	defer e.notes.mu.Unlock()
	return append([]chat.Session(nil), e.notes.closed...)
}

// The sweeps, on two instances at once: a WAITING session older than the
// waiting timeout is closed by SYSTEM_TIMEOUT, an ACTIVE one idle for the
// inactivity timeout by SYSTEM, each exactly once, with one session_closed
// (closed_by and reason) and one notice to the customer. A customer's
// message is activity: the original closed chats while customers wrote.
func TestSweepsCloseStaleSessionsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		svcs := e.sweepers(t)
		ctx := context.Background()

		waiting := storetest.LineUserID()
		e.send(e.text(waiting, "agent"))
		e.drain()
		active := storetest.LineUserID()
		e.send(e.text(active, "agent"))
		e.drain()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		if _, err := e.svc.Claim(ctx, op, active); err != nil {
			t.Fatal(err)
		}

		e.clock.Advance(20 * time.Minute)
		e.send(e.text(active, "still here")) // activity, 20 minutes after the claim
		e.drain()
		e.clock.Advance(15 * time.Minute) // 35 since the claim, 15 since the message
		if got := sweepBoth(t, svcs); len(got) != 0 {
			t.Fatalf("closed %+v; nothing is stale yet", got)
		}

		e.clock.Advance(16 * time.Minute) // 31 since the message
		got := sweepBoth(t, svcs)
		if len(got) != 1 || got[0].LineUserID != active || *got[0].ClosedBy != chat.ClosedBySystem || got[0].CloseReason != chat.ReasonInactivity {
			t.Fatalf("closed %+v, want the active session once by SYSTEM for inactivity", got)
		}
		e.clock.Advance(24 * time.Hour) // the waiting one is a day old now
		got = sweepBoth(t, svcs)
		if len(got) != 1 || got[0].LineUserID != waiting || *got[0].ClosedBy != chat.ClosedBySystemTimeout || got[0].CloseReason != chat.ReasonWaitingTimeout {
			t.Fatalf("closed %+v, want the waiting session once by SYSTEM_TIMEOUT", got)
		}
		if got := sweepBoth(t, svcs); len(got) != 0 {
			t.Fatalf("a later sweep closed %+v", got)
		}

		e.notes.mu.Lock()
		queued := e.notes.afterClose
		e.notes.mu.Unlock()
		if queued != 2 {
			t.Fatalf("%d notices queued, want one per close", queued)
		}
		notes := e.closedNotes()
		if len(notes) != 2 || notes[0].CloseReason != chat.ReasonInactivity || notes[1].CloseReason != chat.ReasonWaitingTimeout {
			t.Fatalf("session_closed notes %+v, want one each", notes)
		}
		for _, u := range []string{active, waiting} {
			if open, err := e.svc.OpenSession(ctx, u); err != nil || open != nil {
				t.Fatalf("%s: open session %+v, %v; want none", u, open, err)
			}
			if m := e.customer(u).ChatMode; m != chat.ModeBot {
				t.Fatalf("%s is in %s mode after the sweep, want BOT", u, m)
			}
		}
		pushes, err := e.line.WaitFor(linefake.Push, 2, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{active: webhook.DefaultCloseNotices.Inactive, waiting: webhook.DefaultCloseNotices.Waiting}
		for _, p := range pushes {
			if len(p.Messages) != 1 || p.Messages[0]["text"] != want[p.To] {
				t.Fatalf("push to %s: %v, want the notice %q", p.To, p.Messages, want[p.To])
			}
			delete(want, p.To)
		}
		if len(want) != 0 {
			t.Fatalf("no notice to %v", want)
		}
	})
}

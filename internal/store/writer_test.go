package store_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// Appends, guarded and not, race closes, reopens, claims and transfers of
// the same customer: no deadlock, no unexpected error, seqs gap-free, and
// every session's message_count equals the messages linked to it.
func TestAppendsRacingSessionChanges(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		c := storetest.Customer(t, db)
		mustClaim(t, db, mustEnsure(t, db, c.LineUserID, time.Now()).ID, alice.ID, time.Now())
		var (
			mu         sync.Mutex
			stored     int
			unexpected []error
			appenders  sync.WaitGroup
			changer    sync.WaitGroup
		)
		stop := make(chan struct{})
		for g := range 6 {
			appenders.Go(func() {
				for range 40 {
					var (
						m     *chat.Message
						guard *chat.AppendGuard
					)
					switch g % 3 {
					case 0:
						m = incoming(c.LineUserID, "customer")
					case 1:
						m, guard = outgoing(c.LineUserID, "alice", &alice), &chat.AppendGuard{Owner: &alice.ID}
					case 2:
						m, guard = outgoing(c.LineUserID, "bob", &bob), &chat.AppendGuard{Owner: &bob.ID}
					}
					err := db.AppendMessage(ctx, m, guard, time.Now())
					mu.Lock()
					switch {
					case err == nil:
						stored++
					case !errors.Is(err, chat.ErrConflict):
						unexpected = append(unexpected, err)
					}
					mu.Unlock()
				}
			})
		}
		changer.Go(func() { // the session changes hands, closes and reopens
			for {
				select {
				case <-stop:
					return
				default:
				}
				s, err := db.OpenSession(ctx, c.LineUserID)
				if err != nil {
					if s, _, err = db.EnsureWaitingSession(ctx, c.LineUserID, time.Now()); err != nil {
						t.Error(err)
						return
					}
				}
				switch {
				case s.Status == chat.StatusWaiting:
					_, _ = db.ClaimSession(ctx, s.ID, []int64{alice.ID, bob.ID}[rand.IntN(2)], time.Now())
				case rand.IntN(3) == 0:
					_, _ = db.CloseSession(ctx, s.ID, chat.StatusActive, nil, chat.ClosedByUser, nil, time.Now())
				case *s.OperatorID == alice.ID:
					_, _ = db.TransferSession(ctx, s.ID, alice.ID, bob.ID, nil, time.Now())
				default:
					_, _ = db.TransferSession(ctx, s.ID, bob.ID, alice.ID, nil, time.Now())
				}
			}
		})
		appenders.Wait()
		close(stop)
		changer.Wait()
		if ctx.Err() != nil {
			t.Fatalf("not done in 60 s: %v", ctx.Err())
		}
		for _, err := range unexpected {
			t.Errorf("unexpected error: %v", err)
		}
		cust, _ := db.Customer(t.Context(), c.LineUserID)
		var seqs []int64
		if err := db.Bun().NewRaw("SELECT seq FROM messages WHERE line_user_id = ? ORDER BY seq", c.LineUserID).Scan(t.Context(), &seqs); err != nil {
			t.Fatal(err)
		}
		for i, s := range seqs {
			if s != int64(i+1) {
				t.Fatalf("seq %d at %d: a gap", s, i)
			}
		}
		if int64(len(seqs)) != cust.LastSeq || len(seqs) != stored {
			t.Fatalf("%d messages, last_seq %d, %d appends succeeded", len(seqs), cust.LastSeq, stored)
		}
		var wrong int
		if err := db.Bun().NewRaw(`SELECT count(*) FROM chat_sessions s
			WHERE message_count <> (SELECT count(*) FROM messages m WHERE m.session_id = s.id)`).Scan(t.Context(), &wrong); err != nil || wrong != 0 {
			t.Fatalf("%d sessions with a wrong message_count (%v)", wrong, err)
		}
	})
}

// SQLite's group writer: appends queued while a batch waits for the write
// lock commit together; one refused by its guard fails alone; a caller
// that gives up is told the truth (an error means nothing was stored);
// after Close an append fails at once.
func TestGroupWriter(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := t.Context()
	alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
	c := storetest.Customer(t, db)
	mustClaim(t, db, mustEnsure(t, db, c.LineUserID, at(0)).ID, alice.ID, at(0))

	// Hold the write lock from another connection: the writer's batch waits.
	lock, err := db.Bun().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		m   *chat.Message
		err error
	}
	results := make(chan result, 20)
	for i := range 10 {
		m := outgoing(c.LineUserID, "alice", &alice)
		var guard *chat.AppendGuard
		if i == 5 {
			m, guard = outgoing(c.LineUserID, "bob", &bob), &chat.AppendGuard{Owner: &bob.ID}
		}
		go func() { results <- result{m, db.AppendMessage(ctx, m, guard, at(time.Second))} }()
	}
	giveUp, cancel := context.WithCancel(ctx)
	leaver := outgoing(c.LineUserID, "leaves", &alice)
	left := make(chan error, 1)
	go func() { left <- db.AppendMessage(giveUp, leaver, nil, at(time.Second)) }()
	cancel()
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for range 10 {
		r := <-results
		switch {
		case r.err == nil && r.m.ID > 0:
		case errors.Is(r.err, chat.ErrForbidden) && r.m.ID == 0:
			refused++
		default:
			t.Fatalf("append: %+v, %v", r.m, r.err)
		}
	}
	if refused != 1 {
		t.Fatalf("%d refused, want bob's", refused)
	}
	err = <-left
	var n int
	if qerr := db.Bun().NewRaw("SELECT count(*) FROM messages WHERE content = 'leaves'").Scan(ctx, &n); qerr != nil {
		t.Fatal(qerr)
	}
	if (err == nil) != (n == 1) {
		t.Fatalf("the caller that gave up was told %v, and %d such messages are stored", err, n)
	}
	want := 9 + n
	cust, _ := db.Customer(ctx, c.LineUserID)
	if cust.LastSeq != int64(want) {
		t.Fatalf("last_seq %d, want %d", cust.LastSeq, want)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- db.AppendMessage(ctx, outgoing(c.LineUserID, "late", &alice), nil, at(time.Second)) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an append after Close succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an append after Close hangs")
	}
}

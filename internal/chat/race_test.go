package chat_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/outbound"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// interleave is a store that runs between once, right after the service has
// read the customer's open session: a change that commits between the
// service's permission checks and its write, deterministically.
type interleave struct {
	*store.DB
	mu      sync.Mutex
	between func()
}

func (s *interleave) OpenSession(ctx context.Context, lineUserID string) (chat.Session, error) {
	sess, err := s.DB.OpenSession(ctx, lineUserID)
	s.mu.Lock()
	f := s.between
	s.between = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return sess, err
}

func (s *interleave) then(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.between = f
}

// announcements records what the service broadcast.
type announcements struct {
	mu     sync.Mutex
	stored []chat.Message
	closed []chat.Session
}

func (a *announcements) SessionQueued(context.Context, chat.Session, chat.Customer, int, int) {}
func (a *announcements) MessageUnsent(context.Context, chat.Message)                          {}
func (a *announcements) ConversationTagged(context.Context, string, []chat.Tag)               {}
func (a *announcements) SessionClaimed(context.Context, chat.Session)                         {}
func (a *announcements) SessionTransferred(context.Context, chat.Session, int64)              {}
func (a *announcements) MessageFailed(context.Context, chat.Message, string, string, bool)    {}
func (a *announcements) MessageDelivered(context.Context, chat.Message, string)               {}
func (a *announcements) CSATReceived(context.Context, chat.Session, int)                      {}
func (a *announcements) SLAAlert(context.Context, chat.SLAAlert)                              {}
func (a *announcements) SessionClosed(_ context.Context, s chat.Session) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = append(a.closed, s)
}
func (a *announcements) MessageStored(_ context.Context, m chat.Message, _, _ string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stored = append(a.stored, m)
}

func (a *announcements) counts() (stored, closed int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.stored), len(a.closed)
}

type raceEnv struct {
	db       *store.DB
	st       *interleave
	svc      *chat.Service
	out      *outbound.Recorder
	notes    *announcements
	surveyed atomic.Int32
	alice    chat.Operator
	bob      chat.Operator
	sup      chat.Operator
}

func newRaceEnv(t *testing.T, db *store.DB) *raceEnv {
	e := &raceEnv{db: db, st: &interleave{DB: db}, out: outbound.NewRecorder(), notes: &announcements{}}
	e.svc = chat.NewService(e.st, clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)), e.out, slog.New(slog.DiscardHandler), time.UTC)
	e.svc.SetNotifier(e.notes)
	e.svc.AfterClose = func(context.Context, chat.Session) { e.surveyed.Add(1) }
	e.alice = storetest.Operator(t, db, "alice", chat.RoleAgent)
	e.bob = storetest.Operator(t, db, "bob", chat.RoleAgent)
	e.sup = storetest.Operator(t, db, "sup", chat.RoleSupervisor)
	return e
}

// active makes a customer whose session op has claimed.
func (e *raceEnv) active(t *testing.T, op chat.Operator) (chat.Customer, chat.Session) {
	t.Helper()
	ctx := context.Background()
	c := storetest.Customer(t, e.db)
	if _, _, _, _, err := e.svc.RequestHuman(ctx, c.LineUserID); err != nil {
		t.Fatal(err)
	}
	s, err := e.svc.Claim(ctx, op, c.LineUserID)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func (e *raceEnv) transfer(t *testing.T, s chat.Session, from, to chat.Operator) func() {
	return func() {
		if _, err := e.db.TransferSession(context.Background(), s.ID, from.ID, to.ID, nil, time.Now()); err != nil {
			t.Errorf("transfer: %v", err)
		}
	}
}

func (e *raceEnv) close(t *testing.T, s chat.Session) func() {
	return func() {
		if _, err := e.db.CloseSession(context.Background(), s.ID, chat.StatusActive, nil, chat.ClosedByOperator, &e.sup.ID, time.Now()); err != nil {
			t.Errorf("close: %v", err)
		}
	}
}

// wantChanged checks the service's answer to a change it lost a race to.
func wantChanged(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, chat.ErrSessionState) || chat.PublicMessage(err, "") != "The session changed meanwhile; reload it" {
		t.Fatalf("%s: error %v, want ErrSessionState \"The session changed meanwhile; reload it\"", what, err)
	}
}

// A reply is checked against the session in the write itself (nothing is
// read before it): after a transfer or a close the sender's message is
// refused with the reason, and nothing is stored, announced or delivered.
func TestSendMessageIsCheckedInTheWrite(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newRaceEnv(t, db)
		send := func(op chat.Operator, c chat.Customer) (chat.Message, error) {
			return e.svc.SendMessage(ctx, chat.SendRequest{Actor: op, LineUserID: c.LineUserID, Text: "hello from " + op.Username})
		}
		refused := func(what string, op chat.Operator, c chat.Customer, want error, msg string) {
			t.Helper()
			stored, _ := e.notes.counts()
			delivered := len(e.out.Delivered())
			before, _, _ := db.RecentMessages(ctx, c.LineUserID, 0, 100)
			m, err := send(op, c)
			if !errors.Is(err, want) || (msg != "" && chat.PublicMessage(err, "") != msg) {
				t.Fatalf("%s: error %v, want %v %q", what, err, want, msg)
			}
			if m.ID != 0 {
				t.Fatalf("%s: refused, yet returned %+v", what, m)
			}
			after, _, _ := db.RecentMessages(ctx, c.LineUserID, 0, 100)
			if len(after) != len(before) {
				t.Fatalf("%s: a message was stored: %+v", what, after[len(after)-1])
			}
			if cust, _ := db.Customer(ctx, c.LineUserID); cust.LastSeq != int64(len(after)) {
				t.Fatalf("%s: last_seq %d with %d messages", what, cust.LastSeq, len(after))
			}
			if now, _ := e.notes.counts(); now != stored {
				t.Fatalf("%s: the refused message was announced", what)
			}
			if len(e.out.Delivered()) != delivered {
				t.Fatalf("%s: the refused message was delivered to the customer", what)
			}
		}
		const notHers = "Only the claiming operator, a supervisor or an admin can reply in this session"

		// Transferred to bob: alice may no longer reply, bob may.
		c, s := e.active(t, e.alice)
		e.transfer(t, s, e.alice, e.bob)()
		refused("alice after a transfer to bob", e.alice, c, chat.ErrForbidden, notHers)
		if m, err := send(e.bob, c); err != nil || *m.SessionID != s.ID {
			t.Fatalf("bob replies in his session: %+v, %v", m, err)
		}

		// Closed: nobody may reply.
		c, s = e.active(t, e.alice)
		e.close(t, s)()
		refused("alice after a close", e.alice, c, chat.ErrSessionNotFound, "")

		// A supervisor may reply whoever owns the session, but not once it closed.
		c, s = e.active(t, e.alice)
		e.transfer(t, s, e.alice, e.bob)()
		if m, err := send(e.sup, c); err != nil || m.SessionID == nil || *m.SessionID != s.ID {
			t.Fatalf("supervisor after a transfer: %+v, %v", m, err)
		}
		e.close(t, s)()
		refused("supervisor after a close", e.sup, c, chat.ErrSessionNotFound, "")

		// Waiting again after a close: claim it first.
		c, s = e.active(t, e.alice)
		e.close(t, s)()
		if _, _, err := db.EnsureWaitingSession(ctx, c.LineUserID, time.Now()); err != nil {
			t.Fatal(err)
		}
		refused("alice before she claimed the new session", e.alice, c, chat.ErrSessionState, "Claim the session before replying")
	})
}

// An agent's close names the owner it checked: a transfer committed after
// the check makes it miss, and the new owner's session stays open.
func TestCloseRechecksTheOwner(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newRaceEnv(t, db)
		c, s := e.active(t, e.alice)

		e.st.then(e.transfer(t, s, e.alice, e.bob))
		_, err := e.svc.Close(ctx, e.alice, c.LineUserID)
		wantChanged(t, "alice closes after a transfer to bob", err)
		got, err := db.Session(ctx, s.ID)
		if err != nil || got.Status != chat.StatusActive || *got.OperatorID != e.bob.ID {
			t.Fatalf("bob's session after alice's close: %+v, %v", got, err)
		}
		if cust, _ := db.Customer(ctx, c.LineUserID); cust.ChatMode != chat.ModeHuman {
			t.Fatalf("the customer went back to the bot: %s", cust.ChatMode)
		}
		if _, closed := e.notes.counts(); closed != 0 || e.surveyed.Load() != 0 {
			t.Fatalf("the refused close was announced (%d) or surveyed (%d)", closed, e.surveyed.Load())
		}

		// A supervisor closes whoever owns it.
		e.st.then(e.transfer(t, s, e.bob, e.alice))
		closed, err := e.svc.Close(ctx, e.sup, c.LineUserID)
		if err != nil || closed.Status != chat.StatusClosed || *closed.ClosedByID != e.sup.ID {
			t.Fatalf("supervisor close after a transfer: %+v, %v", closed, err)
		}
		// And the owner closes their own.
		c, _ = e.active(t, e.bob)
		if _, err := e.svc.Close(ctx, e.bob, c.LineUserID); err != nil {
			t.Fatalf("bob closes his session: %v", err)
		}
	})
}

// Alice and bob reply as fast as they can while the session is transferred
// back and forth between them. No stored reply may sit in the session while
// another operator owned it. Which owner a message met is read from seqs:
// last_seq is read right before (lb) and right after (la) each transfer
// commits; a message with seq <= lb committed before the transfer, one with
// seq > la after it (and, under the guard, saw it). Seqs in (lb, la] are not
// judged. The assertion is exact; only how many messages race is timing.
func TestSendMessageRacingTransfers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newRaceEnv(t, db)
		c, s := e.active(t, e.alice)
		ops := []chat.Operator{e.alice, e.bob}
		const transfers = 30

		type window struct{ lb, la int64 }
		var (
			windows  []window
			owners   = []int64{e.alice.ID} // owners[k]: after transfer k
			lastSeq  [2]atomic.Int64       // per sender, the seq of its latest success
			stop     atomic.Bool
			failed   atomic.Bool // a sender hit an unexpected error (in sendErrs)
			wg       sync.WaitGroup
			sendErrs [2]error
			progress = make(chan struct{}, 1) // a reply was stored, or a sender failed
		)
		seqNow := func() int64 {
			cust, err := db.Customer(ctx, c.LineUserID)
			if err != nil {
				t.Error(err)
			}
			return cust.LastSeq
		}
		for i, op := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					m, err := e.svc.SendMessage(ctx, chat.SendRequest{Actor: op, LineUserID: c.LineUserID, Text: "hi from " + op.Username})
					switch {
					case err == nil:
						lastSeq[i].Store(m.Seq)
						select {
						case progress <- struct{}{}:
						default:
						}
					case errors.Is(err, chat.ErrSessionState), errors.Is(err, chat.ErrForbidden):
					default:
						sendErrs[i] = err
						failed.Store(true)
						select {
						case progress <- struct{}{}:
						default:
						}
						return
					}
				}
			}()
		}
		func() {
			defer func() { stop.Store(true); wg.Wait() }()
			from := 0
			for range transfers {
				// Wait until the owner has a reply stored after the last
				// transfer committed, so every owner is judged at least once.
				deadline := time.Now().Add(20 * time.Second)
				la := int64(0)
				if len(windows) > 0 {
					la = windows[len(windows)-1].la
				}
				for lastSeq[from].Load() <= la {
					if failed.Load() {
						t.Errorf("%s stored no reply in their turn", ops[from].Username)
						return
					}
					select { // woken by the next stored reply, never by a sleep
					case <-progress:
					case <-time.After(time.Until(deadline)):
						t.Errorf("%s stored no reply in their turn", ops[from].Username)
						return
					}
				}
				lb := seqNow()
				if _, err := db.TransferSession(ctx, s.ID, ops[from].ID, ops[1-from].ID, nil, time.Now()); err != nil {
					t.Errorf("transfer: %v", err)
					return
				}
				windows = append(windows, window{lb, seqNow()})
				from = 1 - from
				owners = append(owners, ops[from].ID)
			}
		}()
		for i, err := range sendErrs {
			if err != nil {
				t.Fatalf("%s: %v", ops[i].Username, err)
			}
		}
		if t.Failed() {
			return
		}

		var msgs []chat.Message
		for after := int64(0); ; {
			page, err := db.MessagesAfter(ctx, c.LineUserID, after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			msgs = append(msgs, page...)
			after = page[len(page)-1].Seq
		}
		judged := 0
		for _, m := range msgs {
			if m.SenderRole != chat.SenderAdmin {
				continue
			}
			if m.SessionID == nil || *m.SessionID != s.ID {
				t.Errorf("seq %d: stored outside the session: %+v", m.Seq, m)
				continue
			}
			k, known := 0, true // k: the transfers committed before m
			for k < len(windows) && m.Seq > windows[k].lb {
				if m.Seq <= windows[k].la {
					known = false
				}
				k++
			}
			if !known {
				continue
			}
			judged++
			if *m.OperatorID != owners[k] {
				t.Errorf("seq %d: operator %d's reply stored while operator %d owned the session (after transfer %d)", m.Seq, *m.OperatorID, owners[k], k)
			}
		}
		if judged < transfers {
			t.Fatalf("only %d replies judged, want at least %d", judged, transfers)
		}
		t.Logf("%d messages, %d replies judged", len(msgs), judged)
	})
}

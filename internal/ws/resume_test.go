package ws_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// joinAnswer is the join variant of conversation_update.
type joinAnswer struct {
	Messages []struct {
		Seq int64 `json:"seq"`
	} `json:"messages"`
	Resync *bool `json:"resync"`
}

func (a joinAnswer) seqs() []int64 {
	out := []int64{}
	for _, m := range a.Messages {
		out = append(out, m.Seq)
	}
	return out
}

// says stores n customer messages.
func (e *env) says(t *testing.T, cust chat.Customer, n int) {
	t.Helper()
	for i := range n {
		if _, err := e.svc.CustomerMessage(context.Background(), chat.Message{LineUserID: cust.LineUserID, Content: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// joinAnswer sends join_room (with last_seq unless nil) and returns the
// answer, skipping the inbox's conversation_update rows.
func joinAnswerOf(t *testing.T, c *wstest.Client, cust chat.Customer, lastSeq any) joinAnswer {
	t.Helper()
	p := map[string]any{"line_user_id": cust.LineUserID}
	if lastSeq != nil {
		p["last_seq"] = lastSeq
	}
	c.Send("join_room", p)
	for {
		f := c.WaitFor("conversation_update")
		if isJoinAnswer(t, f) {
			var a joinAnswer
			f.Decode(t, &a)
			return a
		}
	}
}

func seqRange(from, to int64) []int64 {
	out := []int64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// newMessages is the seqs of the new_message frames queued so far.
func newMessages(t *testing.T, c *wstest.Client) []int64 {
	t.Helper()
	out := []int64{}
	for _, f := range c.Sync() {
		if f.Type == "new_message" {
			var m struct {
				Seq int64 `json:"seq"`
			}
			f.Decode(t, &m)
			out = append(out, m.Seq)
		}
	}
	return out
}

// TestJoinResume: join_room with last_seq answers what the client missed,
// or, past the window or beyond the conversation, a snapshot flagged
// resync; without last_seq, the last 50 and no flag.
func TestJoinResume(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.ResumeWindow = 5 })
	cust := storetest.Customer(t, e.db)
	e.says(t, cust, 3)
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	check := func(what string, last any, want []int64, resync bool) {
		t.Helper()
		a := joinAnswerOf(t, c, cust, last)
		if !slices.Equal(a.seqs(), want) || (last == nil) != (a.Resync == nil) || (a.Resync != nil && *a.Resync != resync) {
			t.Fatalf("%s: messages %v resync %v, want %v resync %v", what, a.seqs(), a.Resync, want, resync)
		}
	}
	check("missed 2 and 3", 1, []int64{2, 3}, false)
	e.says(t, cust, 2) // live to the tab in the room
	if got := newMessages(t, c); !slices.Equal(got, []int64{4, 5}) {
		t.Fatalf("live after the resume: %v", got)
	}
	check("a re-join that missed nothing", 5, []int64{}, false)
	check("beyond the conversation", 9, seqRange(1, 5), true)
	check("from nothing, within the window", 0, seqRange(1, 5), false)
	e.says(t, cust, 6) // 6..11
	if got := newMessages(t, c); !slices.Equal(got, seqRange(6, 11)) {
		t.Fatalf("live: %v", got)
	}
	check("6 missed, the window is 5", 5, seqRange(1, 11), true)
	check("5 missed", 6, seqRange(7, 11), false)
	check("without last_seq", nil, seqRange(1, 11), false)
	if got := newMessages(t, c); len(got) != 0 {
		t.Fatalf("re-joins delivered %v again", got)
	}
}

// TestJoinResumeFarBehind: a client more than a REST page (100) behind,
// within the window, gets every message it missed. Before the fix it got
// the first 100, flagged as all there was, and never the rest (found by
// the 5,000-socket reconnect storm).
func TestJoinResumeFarBehind(t *testing.T) {
	e := newEnv(t, sqlite(t))
	cust := storetest.Customer(t, e.db)
	e.says(t, cust, 150)
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	a := joinAnswerOf(t, c, cust, 10)
	if !slices.Equal(a.seqs(), seqRange(11, 150)) || a.Resync == nil || *a.Resync {
		t.Fatalf("140 behind: %d messages (%v…) resync %v, want 11 to 150 and resync false", len(a.Messages), a.seqs()[:min(3, len(a.seqs()))], a.Resync)
	}
}

// shortAfter is a store whose MessagesAfter comes back short, as the
// capped read did.
type shortAfter struct{ *store.DB }

func (s shortAfter) MessagesAfter(ctx context.Context, id string, after int64, n int) ([]chat.Message, error) {
	ms, err := s.DB.MessagesAfter(ctx, id, after, n)
	return ms[:min(len(ms), 100)], err
}

// TestJoinResumeNeverPassesAShortReadOff: a replay that came back with
// fewer messages than the conversation has after last_seq answers a
// snapshot flagged resync, never the short replay as if complete.
func TestJoinResumeNeverPassesAShortReadOff(t *testing.T) {
	db := sqlite(t)
	e := newEnvStore(t, db, shortAfter{db})
	cust := storetest.Customer(t, db)
	e.says(t, cust, 150)
	c := e.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
	if a := joinAnswerOf(t, c, cust, 10); a.Resync == nil || !*a.Resync || !slices.Equal(a.seqs(), seqRange(101, 150)) {
		t.Fatalf("a short replay: %d messages resync %v, want the latest 50 and resync true", len(a.Messages), a.Resync)
	}
}

// heldHistory holds the next read of a join's messages, before or after
// it reads, until released.
type heldHistory struct {
	*store.DB
	armed    atomic.Bool
	after    bool // hold after the read, not before it
	started  chan struct{}
	released chan struct{}
}

func (s *heldHistory) hold(read func() error) error {
	if !s.armed.CompareAndSwap(true, false) {
		return read()
	}
	if s.after {
		err := read()
		close(s.started)
		<-s.released
		return err
	}
	close(s.started)
	<-s.released
	return read()
}

func (s *heldHistory) RecentMessages(ctx context.Context, id string, before int64, n int) (ms []chat.Message, more bool, err error) {
	err = s.hold(func() error {
		ms, more, err = s.DB.RecentMessages(ctx, id, before, n)
		return err
	})
	return ms, more, err
}

func (s *heldHistory) MessagesAfter(ctx context.Context, id string, after int64, n int) (ms []chat.Message, err error) {
	err = s.hold(func() error {
		ms, err = s.DB.MessagesAfter(ctx, id, after, n)
		return err
	})
	return ms, err
}

// TestJoinSeam: a message stored while a join reads its answer reaches the
// tab exactly once: live when the answer was read before it, in the answer
// (and not again live) when after. Before the fix the first was lost: the
// history was read before the tab joined the room.
func TestJoinSeam(t *testing.T) {
	for _, tc := range []struct {
		name      string
		last      any
		after     bool
		answer    []int64
		liveAfter []int64
	}{
		{"history read before the message", nil, true, []int64{1, 2}, []int64{3}},
		{"history read after the message", nil, false, []int64{1, 2, 3}, []int64{}},
		{"resume read before the message", 1, true, []int64{2}, []int64{3}},
		{"resume read after the message", 1, false, []int64{2, 3}, []int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := sqlite(t)
			st := &heldHistory{DB: db, after: tc.after, started: make(chan struct{}), released: make(chan struct{})}
			e := newEnvStore(t, db, st)
			cust := storetest.Customer(t, db)
			e.says(t, cust, 2)
			c := e.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
			st.armed.Store(true)
			p := map[string]any{"line_user_id": cust.LineUserID}
			if tc.last != nil {
				p["last_seq"] = tc.last
			}
			c.Send("join_room", p)
			<-st.started
			e.says(t, cust, 1) // seq 3, while the join reads
			close(st.released)
			a := readJoinAnswer(t, c)
			if !slices.Equal(a.seqs(), tc.answer) {
				t.Fatalf("answer %v, want %v", a.seqs(), tc.answer)
			}
			if got := newMessages(t, c); !slices.Equal(got, tc.liveAfter) {
				t.Fatalf("live after the answer: %v, want %v", got, tc.liveAfter)
			}
			e.says(t, cust, 1)
			if got := newMessages(t, c); !slices.Equal(got, []int64{4}) {
				t.Fatalf("the next message: %v", got)
			}
		})
	}
}

// readJoinAnswer reads up to the join variant of conversation_update; any
// new_message before it fails (it must follow the answer).
func readJoinAnswer(t *testing.T, c *wstest.Client) joinAnswer {
	t.Helper()
	for {
		f := c.Next()
		switch f.Type {
		case "new_message":
			t.Errorf("new_message before the join's answer: %s", f.Payload)
		case "conversation_update":
			if isJoinAnswer(t, f) {
				var a joinAnswer
				f.Decode(t, &a)
				return a
			}
		}
	}
}

// isJoinAnswer tells the join variant of conversation_update from an inbox
// row: it has messages or, answering a resume, resync (messages are left
// out when there are none).
func isJoinAnswer(t *testing.T, f wstest.Frame) bool {
	m := f.Map(t)
	_, msgs := m["messages"]
	_, resync := m["resync"]
	return msgs || resync
}

package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/bus/redistest"
	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/wire"
	"livechat/internal/ws"
)

// gapWait is the hub's: how long a gap in a room's seqs may stay open
// before the database fills it.
const gapWait = 100 * time.Millisecond

// stored appends n customer messages without telling anyone (as if their
// frames were lost on the bus) and returns them.
func (e *env) stored(t *testing.T, cust chat.Customer, n int) []chat.Message {
	t.Helper()
	var out []chat.Message
	for range n {
		m := chat.Message{LineUserID: cust.LineUserID, Direction: chat.Incoming, MessageType: "text", Content: "quiet", SenderRole: chat.SenderUser}
		if err := e.db.AppendMessage(context.Background(), &m, nil, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// publishFrom publishes m's new_message as another instance would.
func (e *env) publishFrom(t *testing.T, m chat.Message) {
	t.Helper()
	data, err := json.Marshal(lc.NewNewMessageEvent((*wire.Converter)(nil).Message(m, ""), e.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.bus.Publish(context.Background(), bus.Message{Origin: "elsewhere", Audience: bus.Audience{Kind: bus.Room, Room: m.LineUserID}, Frame: data, Seq: m.Seq}); err != nil {
		t.Fatal(err)
	}
}

// TestRoomGapIsRefilled: a frame past a gap waits; when the gap is still
// open after gapWait, the missing messages come from the database, then
// the frame: in seq order, once each.
func TestRoomGapIsRefilled(t *testing.T) {
	e := newEnv(t, sqlite(t))
	cust := storetest.Customer(t, e.db)
	e.says(t, cust, 2)
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	joinAnswerOf(t, c, cust, nil)
	ms := e.stored(t, cust, 3) // seqs 3, 4, 5; only 5's frame arrives
	e.publishFrom(t, ms[2])
	if got := newMessages(t, c); len(got) != 0 {
		t.Fatalf("past the gap, before gapWait: %v", got)
	}
	e.clock.Advance(gapWait)
	if got := newMessages(t, c); !slices.Equal(got, []int64{3, 4, 5}) {
		t.Fatalf("after gapWait: %v, want 3 4 5", got)
	}
	e.publishFrom(t, ms[0]) // a late frame of a refilled message
	e.says(t, cust, 1)
	if got := newMessages(t, c); !slices.Equal(got, []int64{6}) {
		t.Fatalf("after the refill: %v, want 6 only", got)
	}
}

// TestRoomOvertakenFrameWaits: a frame that overtook an earlier one waits
// for it, without a read; a repeated frame is dropped.
func TestRoomOvertakenFrameWaits(t *testing.T) {
	e := newEnv(t, sqlite(t))
	cust := storetest.Customer(t, e.db)
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	joinAnswerOf(t, c, cust, 0)
	ms := e.stored(t, cust, 2)
	e.publishFrom(t, ms[1])
	e.publishFrom(t, ms[0])
	e.publishFrom(t, ms[1])
	if got := newMessages(t, c); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("got %v, want 1 2", got)
	}
}

// TestRoomsRefilledAfterRedisReconnects: what another instance published
// while Redis was down reaches this instance's sockets once Redis is back,
// before anything newer.
func TestRoomsRefilledAfterRedisReconnects(t *testing.T) {
	srv := redistest.Start(t)
	db := sqlite(t)
	open := func(instance string) *env {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rb, err := bus.NewRedis(ctx, srv.URL, "livechat:test:refill", slog.New(slog.DiscardHandler), bus.RedisOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return newEnvOn(t, db, db, rb, func(o *ws.Options) { o.InstanceID = instance })
	}
	one, two := open("one"), open("two")
	cust := storetest.Customer(t, db)
	one.says(t, cust, 1)
	c := two.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
	joinAnswerOf(t, c, cust, nil)
	srv.Stop()
	one.says(t, cust, 2) // seqs 2, 3: dropped for two
	srv.Restart()
	next := func() int64 {
		t.Helper()
		var m struct {
			Seq int64 `json:"seq"`
		}
		c.WaitFor("new_message").Decode(t, &m)
		return m.Seq
	}
	got := []int64{next(), next()}
	// Instance one's publisher may still think Redis is down (it probes
	// with a backoff) and drop this for two; two refills again while the
	// instances settle.
	one.says(t, cust, 1)
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		if fs := newMessages(t, c); len(fs) > 0 {
			got = append(got, fs...)
			break
		}
		two.clock.Advance(d)
	}
	if len(got) == 2 {
		got = append(got, next())
	}
	if !slices.Equal(got, []int64{2, 3, 4}) {
		t.Fatalf("got %v, want 2 3 4", got)
	}
	if extra := newMessages(t, c); len(extra) != 0 {
		t.Fatalf("then %v", extra)
	}
}

// TestSendersAckWaitsForEarlierSeqs: a sender's message_sent comes after
// the room's earlier messages, even one this instance has not seen yet (a
// frame lost on the bus): its tab never has seq N+1 before N.
func TestSendersAckWaitsForEarlierSeqs(t *testing.T) {
	e := newEnv(t, sqlite(t))
	a := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	cust := e.claimed(t, a) // alice owns the session, in the room
	e.says(t, cust, 1)
	a.Sync()
	e.stored(t, cust, 1) // seq 2: its frame never comes
	a.Send("send_message", map[string]any{"text": "hi", "temp_id": "t1"})
	var seen []string
	note := func(f wstest.Frame) {
		if f.Type == "new_message" || f.Type == "message_sent" {
			var m struct {
				Seq int64 `json:"seq"`
			}
			f.Decode(t, &m)
			seen = append(seen, fmt.Sprintf("%s %d", f.Type, m.Seq))
		}
	}
	for _, f := range a.Sync() { // stored by now: the ping follows the send
		note(f)
	}
	if len(seen) != 0 {
		t.Fatalf("before gapWait alice got %v", seen)
	}
	e.clock.Advance(gapWait) // seq 2 is refilled, then the ack
	for len(seen) < 2 {
		note(a.Next())
	}
	if want := []string{"new_message 2", "message_sent 3"}; !slices.Equal(seen, want) {
		t.Fatalf("alice got %v, want %v", seen, want)
	}
}

// afterCounter counts the hub's refill reads.
type afterCounter struct {
	*store.DB
	reads atomic.Int32
}

func (s *afterCounter) MessagesAfter(ctx context.Context, id string, after int64, n int) ([]chat.Message, error) {
	s.reads.Add(1)
	return s.DB.MessagesAfter(ctx, id, after, n)
}

// Resync orders that come in a burst (another instance's queue overflowing
// sends one with each round trip) make one round of refills, and one more
// after it: the database reads stay bounded whatever their rate.
func TestResyncOrdersAreCoalesced(t *testing.T) {
	db := sqlite(t)
	st := &afterCounter{DB: db}
	e := newEnvStore(t, db, st)
	cust := storetest.Customer(t, db)
	c := e.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
	c.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	for f := c.Next(); f.Type != "conversation_update"; f = c.Next() {
		t.Logf("before the answer: %s %s", f.Type, f.Payload)
	}
	base := st.reads.Load()
	for range 50 {
		e.hub.Reconnected()
	}
	if n := st.reads.Load() - base; n != 1 {
		t.Fatalf("%d refills for 50 orders at once, want 1", n)
	}
	e.clock.Advance(6 * time.Second) // the settle refills at 1, 3 and 6 s, then the one more round
	if n := st.reads.Load() - base; n != 5 {
		t.Fatalf("%d refills after the round, want 5 (1 + 3 settles + 1 again)", n)
	}
	e.clock.Advance(6 * time.Second) // that round's settles, and no further round
	e.clock.Advance(6 * time.Second)
	if n := st.reads.Load() - base; n != 8 {
		t.Fatalf("%d refills in all, want 8", n)
	}
}

package ws_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// settle waits until every client's handlers have finished, then drains
// what they sent each other.
func settle(cs ...*wstest.Client) {
	for _, c := range cs {
		c.Sync()
	}
	for _, c := range cs {
		c.Sync()
	}
}

// claimed makes a customer whose session op owns, with op's socket in its room.
func (e *env) claimed(t *testing.T, c *wstest.Client) chat.Customer {
	t.Helper()
	cust := e.waiting(t)
	c.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	c.WaitFor("conversation_update")
	c.Send("claim_session", nil)
	c.WaitFor("session_claimed")
	c.Sync()
	return cust
}

func TestJoinUnknownCustomer(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	c.Send("join_room", map[string]any{"line_user_id": storetest.LineUserID()})
	c.ExpectError("customer_not_found")
	c.Send("send_message", map[string]any{"text": "hi", "temp_id": "x"})
	if p := c.ExpectError("not_in_room"); p["temp_id"] != "x" {
		t.Fatalf("error = %v", p)
	}
	c.Send("claim_session", nil)
	c.ExpectError("not_in_room")
}

func TestJoinReturnsLast50MessagesOldestFirst(t *testing.T) {
	e := newEnv(t, sqlite(t))
	cust := storetest.Customer(t, e.db)
	for i := range 60 {
		if _, err := e.svc.CustomerMessage(context.Background(), chat.Message{LineUserID: cust.LineUserID, Content: "m" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	c.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	var cu struct {
		Messages []struct {
			Seq     int    `json:"seq"`
			Content string `json:"content"`
		} `json:"messages"`
		LastSeq int `json:"last_seq"`
	}
	c.WaitFor("conversation_update").Decode(t, &cu)
	if len(cu.Messages) != 50 || cu.Messages[0].Seq != 11 || cu.Messages[49].Seq != 60 || cu.LastSeq != 60 {
		t.Fatalf("got %d messages, first seq %d, last seq %d, last_seq %d", len(cu.Messages), cu.Messages[0].Seq, cu.Messages[len(cu.Messages)-1].Seq, cu.LastSeq)
	}
}

func TestRoomMismatchIsNotInRoom(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	cust := e.claimed(t, c)
	c.Send("send_message", map[string]any{"text": "hi", "line_user_id": storetest.LineUserID()})
	c.ExpectError("not_in_room")
	c.Send("send_message", map[string]any{"text": "hi", "line_user_id": cust.LineUserID})
	c.Expect("message_sent")
}

func TestTyping(t *testing.T) {
	e := newEnv(t, sqlite(t))
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	a1, a2 := e.login(t, alice), e.login(t, alice)
	b := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
	cust := e.waiting(t)
	for _, c := range []*wstest.Client{a1, a2, b} {
		c.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		c.WaitFor("conversation_update")
	}
	e.clock.Advance(presenceInterval) // bob's connect goes out
	settle(a1, a2, b)
	a1.Send("typing_start", nil)
	a1.Sync()
	ti := find(t, only(t, "bob", b.Sync(), map[string]int{"typing_indicator": 1}), "typing_indicator")
	if ti["admin_id"] != idStr(alice.ID) || ti["is_typing"] != true || ti["line_user_id"] != cust.LineUserID {
		t.Fatalf("typing_indicator = %v", ti)
	}
	only(t, "alice's other tab", a2.Sync(), map[string]int{})

	// Renewals within 6 s announce nothing new and push the expiry back.
	e.clock.Advance(5 * time.Second)
	a1.Send("typing_start", nil)
	a1.Sync()
	only(t, "bob after renewal", b.Sync(), map[string]int{})
	e.clock.Advance(5 * time.Second)
	only(t, "bob 5 s after renewal", b.Sync(), map[string]int{})
	e.clock.Advance(time.Second)
	ti = find(t, only(t, "bob after expiry", b.Sync(), map[string]int{"typing_indicator": 1}), "typing_indicator")
	if ti["is_typing"] != false {
		t.Fatalf("expiry sent %v", ti)
	}

	// An explicit stop.
	a1.Send("typing_start", nil)
	a1.Send("typing_stop", nil)
	a1.Sync()
	fs := b.Sync()
	if len(fs) != 2 || fs[0].Map(t)["is_typing"] != true || fs[1].Map(t)["is_typing"] != false {
		t.Fatalf("start+stop gave %v", count(fs))
	}
	e.clock.Advance(10 * time.Second)
	only(t, "bob after a stopped timer", b.Sync(), map[string]int{})

	// Typing without a room is ignored.
	c := e.login(t, storetest.Operator(t, e.db, "carol", chat.RoleAgent))
	c.Send("typing_start", nil)
	only(t, "roomless typist", c.Sync(), map[string]int{})
}

func TestConnectionCaps(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.MaxConnections = 12 })
	op := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	for range 10 {
		e.login(t, op)
	}
	// With ?token= the per-operator cap refuses the upgrade itself.
	_, resp, err := wstest.TryDial(t, e.url()+"?token="+e.token(t, op.ID), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("11th socket with ?token=: err=%v resp=%v, want 429", err, resp)
	}
	// Without it, the auth is refused and the socket closed.
	c := wstest.Dial(t, e.url(), nil)
	c.Send("auth", map[string]any{"token": e.token(t, op.ID)})
	c.ExpectError("rate_limit_exceeded")
	if code := c.ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close %d", code)
	}
}

func TestRateLimitPerOperatorAcrossTabsAndReconnects(t *testing.T) {
	e := newEnv(t, sqlite(t))
	op := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	a1, a2 := e.login(t, op), e.login(t, op)
	// The burst is 30 events, shared by both tabs (pings are free).
	for i := range 30 {
		c := a1
		if i%2 == 1 {
			c = a2
		}
		c.Send("leave_room", nil)
	}
	only(t, "a1 within the burst", a1.Sync(), map[string]int{})
	only(t, "a2 within the burst", a2.Sync(), map[string]int{})
	a1.Send("leave_room", nil)
	p := a1.ExpectError("rate_limit_exceeded")
	if p["retry_after_ms"] != float64(100) || p["remaining"] != float64(0) {
		t.Fatalf("rate limit error = %v", p)
	}
	// Typing has its own budget, so it still works…
	a1.Send("typing_start", nil)
	only(t, "typing beside an empty event budget", a1.Sync(), map[string]int{})
	// …and reconnecting does not refill the bucket.
	a2.Close()
	a3 := e.login(t, op)
	a3.Send("leave_room", nil)
	a3.ExpectError("rate_limit_exceeded")
	e.clock.Advance(100 * time.Millisecond)
	a3.Send("leave_room", nil)
	only(t, "after refill", a3.Sync(), map[string]int{})
}

func TestTypingBudgetDoesNotStarveMessages(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	e.claimed(t, c)
	for range 15 {
		c.Send("typing_start", nil)
	}
	fs := c.Sync()
	if n := count(fs)["error"]; n != 5 {
		t.Fatalf("%d typing frames refused, want 5 (burst 10): %v", n, count(fs))
	}
	c.Send("send_message", map[string]any{"text": "still works"})
	c.Expect("message_sent")
}

func TestAnalytics(t *testing.T) {
	e := newEnv(t, sqlite(t))
	sub := e.login(t, storetest.Operator(t, e.db, "sup", chat.RoleSupervisor))
	other := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	sub.Send("subscribe_analytics", nil)
	k := sub.WaitFor("analytics_update").Map(t)
	if k["waiting"] != float64(0) || k["online_operators"] != float64(2) || k["sessions_today"] != float64(0) {
		t.Fatalf("kpis = %v", k)
	}
	// Two state changes within a second: one push now, one at the end of the second.
	e.clock.Advance(2 * time.Second)
	sub.Sync() // a push still pending from the logins
	e.waiting(t)
	e.waiting(t)
	fs := sub.Sync()
	if n := count(fs)["analytics_update"]; n != 1 {
		t.Fatalf("%d pushes for two changes in a second, want 1 now", n)
	}
	e.clock.Advance(time.Second)
	k = sub.WaitFor("analytics_update").Map(t)
	if k["waiting"] != float64(2) || k["sessions_today"] != float64(2) {
		t.Fatalf("coalesced kpis = %v", k)
	}
	if n := count(other.Sync())["analytics_update"]; n != 0 {
		t.Fatalf("an unsubscribed socket got %d analytics_update", n)
	}
	// Nothing changes: the KPIs come again every 10 s all the same.
	sub.Sync()
	e.clock.Advance(10 * time.Second)
	if k := sub.WaitFor("analytics_update").Map(t); k["waiting"] != float64(2) || k["timestamp"] == nil {
		t.Fatalf("refreshed kpis = %v", k)
	}
	if n := count(sub.Sync())["analytics_update"]; n != 0 {
		t.Fatalf("%d more pushes in one refresh", n)
	}
	sub.Send("unsubscribe_analytics", nil)
	sub.Sync()
	e.clock.Advance(2 * time.Second)
	e.waiting(t)
	if n := count(sub.Sync())["analytics_update"]; n != 0 {
		t.Fatalf("unsubscribed socket got %d analytics_update", n)
	}
}

func TestDeliveryFailureTellsTheSender(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	cust := e.claimed(t, c)
	e.out.FailNext(&chat.DeliveryError{Reason: "LINE rejected the message", Retryable: false})
	c.Send("send_message", map[string]any{"text": "hello", "temp_id": "t-9"})
	ms := c.Expect("message_sent").Map(t)
	mf := c.WaitFor("message_failed").Map(t)
	if mf["temp_id"] != "t-9" || mf["message_id"] != ms["id"] || mf["retryable"] != false || mf["error"] != "LINE rejected the message" {
		t.Fatalf("message_failed = %v", mf)
	}
	stored, err := e.db.Message(context.Background(), int64(ms["id"].(float64)))
	if err != nil || stored.DeliveryStatus != chat.DeliveryFailed || stored.LineUserID != cust.LineUserID {
		t.Fatalf("stored %+v %v", stored, err)
	}
	// The socket is fine, and the next message is delivered.
	c.Send("send_message", map[string]any{"text": "again"})
	c.Expect("message_sent")
	c.Sync() // delivery follows the ack
	if n := len(e.out.Delivered()); n != 1 {
		t.Fatalf("%d delivered", n)
	}
}

func TestCustomerMessagesReachRoomAndInboxes(t *testing.T) {
	e := newEnv(t, sqlite(t))
	watcher := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	elsewhere := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
	cust := e.waiting(t)
	watcher.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	watcher.WaitFor("conversation_update")
	settle(watcher, elsewhere)
	for i := range 2 {
		if _, err := e.svc.CustomerMessage(context.Background(), chat.Message{LineUserID: cust.LineUserID, Content: "help " + strconv.Itoa(i), Payload: []byte(`{"line_message_id":"42"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	fs := only(t, "watcher", watcher.Sync(), map[string]int{"new_message": 2, "conversation_update": 2})
	msgs := ofType(fs, "new_message")
	if p := msgs[1].Map(t); p["seq"] != float64(2) || p["direction"] != "INCOMING" || p["sender_role"] != "USER" || p["payload"].(map[string]any)["line_message_id"] != "42" {
		t.Fatalf("new_message = %v", p)
	}
	// The watcher's inbox row moves too (the UI updates it only from this
	// event), with nothing unread: it is reading the conversation.
	for i, f := range ofType(fs, "conversation_update") {
		p := f.Map(t)
		if p["unread_count"] != float64(0) || p["last_message"].(map[string]any)["content"] != "help "+strconv.Itoa(i) || p["messages"] != nil {
			t.Fatalf("watcher's conversation_update %d = %v, want the list variant with unread 0", i, p)
		}
	}
	fs = only(t, "elsewhere", elsewhere.Sync(), map[string]int{"conversation_update": 2})
	for i, f := range fs {
		p := f.Map(t)
		if p["unread_count"] != float64(i+1) || p["last_message"].(map[string]any)["content"] != "help "+strconv.Itoa(i) || p["messages"] != nil {
			t.Fatalf("conversation_update %d = %v, want the list variant with unread %d", i, p, i+1)
		}
	}
	// The watcher has read them: the store agrees.
	n, err := e.db.Unread(context.Background(), watcherID(t, e), cust.LineUserID)
	if err != nil || n != 0 {
		t.Fatalf("watcher unread = %d %v", n, err)
	}
	// Customer messages count as session activity.
	s, err := e.db.OpenSession(context.Background(), cust.LineUserID)
	if err != nil || s.MessageCount != 2 {
		t.Fatalf("session %+v %v", s, err)
	}
}

func watcherID(t *testing.T, e *env) int64 {
	op, err := e.db.OperatorByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return op.ID
}

func TestHandoffQueuesLive(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	first := e.waiting(t)
	second := e.waiting(t)
	fs := only(t, "operator", c.Sync(), map[string]int{"session_queued": 2})
	q := fs[1].Map(t)
	if q["line_user_id"] != second.LineUserID || q["queue_position"] != float64(2) || q["total_waiting"] != float64(2) {
		t.Fatalf("session_queued = %v", q)
	}
	// A second handoff for the same customer reuses the open session and announces nothing.
	s, created, pos, total, err := e.svc.RequestHuman(context.Background(), first.LineUserID)
	if err != nil || created || pos != 1 || total != 2 || s.Status != chat.StatusWaiting {
		t.Fatalf("repeat handoff: %+v created=%v pos=%d total=%d err=%v", s, created, pos, total, err)
	}
	only(t, "operator after repeat", c.Sync(), map[string]int{})
}

func TestSessionPermissions(t *testing.T) {
	e := newEnv(t, sqlite(t))
	agent := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	other := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
	sup := e.login(t, storetest.Operator(t, e.db, "sue", chat.RoleSupervisor))
	disabled := storetest.Operator(t, e.db, "dan", chat.RoleAgent)
	if err := e.db.SetOperatorActive(context.Background(), disabled.ID, false); err != nil {
		t.Fatal(err)
	}
	cust := e.waiting(t)
	for _, c := range []*wstest.Client{agent, other, sup} {
		c.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		c.WaitFor("conversation_update")
	}
	settle(agent, other, sup)
	// Nobody may reply before a claim; agents may not close a WAITING session.
	agent.Send("send_message", map[string]any{"text": "hi"})
	agent.ExpectError("invalid_session_state")
	agent.Send("close_session", nil)
	agent.ExpectError("forbidden")
	agent.Send("transfer_session", map[string]any{"to_operator_id": 1})
	agent.ExpectError("invalid_session_state")
	agent.Send("claim_session", nil)
	agent.WaitFor("session_claimed")
	settle(agent, other, sup)
	agent.Send("claim_session", nil)
	agent.ExpectError("session_already_claimed")
	other.Send("close_session", nil)
	other.ExpectError("forbidden")
	other.Send("transfer_session", map[string]any{"to_operator_id": 2})
	other.ExpectError("forbidden")
	// Transfer targets must exist, be active and not own it already.
	agent.Send("transfer_session", map[string]any{"to_operator_id": disabled.ID})
	agent.ExpectError("operator_not_found")
	agent.Send("transfer_session", map[string]any{"to_operator_id": 9999})
	agent.ExpectError("operator_not_found")
	agent.Send("transfer_session", map[string]any{"to_operator_id": 1})
	agent.ExpectError("validation_error")
	// A supervisor may override: reply, transfer and close someone else's session.
	settle(agent, other, sup)
	sup.Send("send_message", map[string]any{"text": "supervisor here"})
	sup.Expect("message_sent")
	sup.Send("transfer_session", map[string]any{"to_operator_id": 2})
	sup.WaitFor("session_transferred")
	sup.Send("close_session", nil)
	sup.WaitFor("session_closed")
	s, err := e.db.Session(context.Background(), 1)
	if err != nil || s.Status != chat.StatusClosed || s.ClosedByID == nil || *s.ClosedByID != 3 || s.TransferCount != 1 {
		t.Fatalf("session %+v %v", s, err)
	}
	// A supervisor may close a WAITING session.
	cust2 := e.waiting(t)
	sup.Send("join_room", map[string]any{"line_user_id": cust2.LineUserID})
	sup.WaitFor("conversation_update")
	sup.Send("close_session", nil)
	sup.WaitFor("session_closed")
}

func TestDisabledOperatorIsDisconnected(t *testing.T) {
	e := newEnv(t, sqlite(t))
	op := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	a1, a2 := e.login(t, op), e.login(t, op)
	// REST path: at once.
	e.hub.DisconnectOperator(op.ID, "operator disabled")
	for _, c := range []*wstest.Client{a1, a2} {
		if code := c.ExpectClosed(); code != websocket.ClosePolicyViolation {
			t.Fatalf("close %d", code)
		}
	}
	// CLI path: the database changes behind the server's back; the re-check closes.
	b := e.login(t, op)
	keep := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
	if err := e.db.SetOperatorActive(context.Background(), op.ID, false); err != nil {
		t.Fatal(err)
	}
	e.hub.Recheck(context.Background())
	if code := b.ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close %d", code)
	}
	keep.Send("ping", nil)
	keep.WaitFor("pong")
	// A role change behind the server's back also closes the sockets.
	bob, _ := e.db.OperatorByUsername(context.Background(), "bob")
	if err := e.db.SetOperatorRole(context.Background(), bob.ID, chat.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	e.hub.Recheck(context.Background())
	if code := keep.ExpectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close %d", code)
	}
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.SendQueue = 4 })
	slowOp := storetest.Operator(t, e.db, "slow", chat.RoleAgent)
	slow := e.login(t, slowOp)
	fast := e.login(t, storetest.Operator(t, e.db, "fast", chat.RoleAgent))
	cust := e.claimed(t, fast)
	slow.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	slow.WaitFor("conversation_update")
	slow.Sync()
	if tcp, ok := slow.Conn.UnderlyingConn().(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4096)
	}
	slow.Pause()
	text := strings.Repeat("ก", 5000) // 15 KB per new_message
	for i := 1; i <= 3000; i++ {
		if i%25 == 0 {
			e.clock.Advance(3 * time.Second) // refill the rate limit
		}
		fast.Send("send_message", map[string]any{"text": text})
		for _, f := range fast.Sync() {
			if f.Type != "presence_update" {
				continue
			}
			var p struct {
				Operators []struct{ ID, Status string } `json:"operators"`
			}
			f.Decode(t, &p)
			for _, o := range p.Operators {
				if o.ID == idStr(slowOp.ID) && o.Status == "offline" {
					return // dropped, and fast never waited on it
				}
			}
		}
	}
	t.Fatal("slow consumer still connected after 3000 large frames")
}

func TestDatabaseErrorIsAnErrorFrameNotADrop(t *testing.T) {
	e := newEnv(t, sqlite(t))
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	e.claimed(t, c)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	c.Send("send_message", map[string]any{"text": "into the void", "temp_id": "t-1"})
	if p := c.ExpectError("internal_error"); p["temp_id"] != "t-1" || p["message"] != "Internal error" {
		t.Fatalf("error = %v", p)
	}
	c.Send("ping", nil)
	c.Expect("pong")
}

func TestRejoinRefreshesWithoutLeaving(t *testing.T) {
	e := newEnv(t, sqlite(t))
	a := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	b := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
	cust := e.waiting(t)
	for _, c := range []*wstest.Client{a, b} {
		c.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		c.WaitFor("conversation_update")
	}
	settle(a, b)
	a.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	only(t, "alice re-joining", append([]wstest.Frame{a.Next()}, a.Sync()...), map[string]int{"conversation_update": 1})
	only(t, "bob", b.Sync(), map[string]int{})
}

// loadingCalls records the LINE loading animations the hub asks for.
type loadingCalls struct {
	mu    sync.Mutex
	users []string
}

func (l *loadingCalls) Start(uid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users = append(l.users, uid)
	return true
}

func TestTypingStartsLINELoadingAnimation(t *testing.T) {
	e := newEnv(t, sqlite(t))
	calls := &loadingCalls{}
	e.hub.SetLoading(calls)
	c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
	c.Send("typing_start", nil) // no room: nothing
	c.Sync()
	cust := e.claimed(t, c)
	c.Send("typing_start", nil)
	c.Sync()
	calls.mu.Lock()
	defer calls.mu.Unlock()
	if len(calls.users) != 1 || calls.users[0] != cust.LineUserID {
		t.Fatalf("loading started for %v, want [%s]", calls.users, cust.LineUserID)
	}
}

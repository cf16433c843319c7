package ws_test

import (
	"context"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/outbox"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// withOutbox routes the env's operator messages through a running outbox
// to a fake LINE, as the server does with a channel token.
func withOutbox(t *testing.T, e *env) (*linefake.Server, *outbox.Outbox, chan outbox.Result) {
	t.Helper()
	fake := linefake.New("tok")
	base := fake.Start()
	results := make(chan outbox.Result, 16)
	ob := outbox.New(e.db, line.NewClient(base, base, "tok", nil), e.hub, e.clock, nil,
		outbox.Config{Observe: func(r outbox.Result) { results <- r }})
	e.svc.SetEnqueuer(ob)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	// Run is past its recovery scan before the test stores anything: a
	// scan still running (a loaded machine delays it) would claim the
	// test's first message as well.
	if err := ob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("outbox: %v", err)
		}
		fake.Close()
	})
	return fake, ob, results
}

func nextResult(t *testing.T, results chan outbox.Result) outbox.Result {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery attempt within 10 s")
		return outbox.Result{}
	}
}

// The test, end to end: LINE answers 500, then 400 → the sending
// tab gets message_sent, then message_failed with its temp_id; the history
// shows the message failed. The next message goes out.
func TestOutboxFailureReachesTheSender(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		fake, ob, results := withOutbox(t, e)
		c := e.login(t, storetest.Operator(t, e.db, "alice", chat.RoleAgent))
		cust := e.claimed(t, c)

		fake.FailNext(linefake.Push, linefake.Status(500), linefake.Fault{Status: 400, Message: "Invalid reply"})
		c.Send("send_message", map[string]any{"text": "hello", "temp_id": "t-1"})
		ms := c.Expect("message_sent").Map(t)
		if ms["temp_id"] != "t-1" || ms["delivery_status"] != "pending" {
			t.Fatalf("message_sent = %v", ms)
		}
		if r := nextResult(t, results); r.Status != chat.DeliveryPending {
			t.Fatalf("first attempt: %+v", r)
		}
		if err := ob.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		if r := nextResult(t, results); r.Status != chat.DeliveryFailed {
			t.Fatalf("second attempt: %+v", r)
		}
		mf := c.WaitFor("message_failed").Map(t)
		if mf["temp_id"] != "t-1" || mf["message_id"] != ms["id"] || mf["retryable"] != false ||
			mf["error"] != "LINE rejected the message (400 Bad Request): Invalid reply" {
			t.Fatalf("message_failed = %v", mf)
		}
		stored, err := e.db.Message(context.Background(), int64(ms["id"].(float64)))
		if err != nil || stored.DeliveryStatus != chat.DeliveryFailed || stored.DeliveryError != mf["error"] {
			t.Fatalf("stored %+v %v", stored, err)
		}
		pushes := fake.Requests(linefake.Push)
		if len(pushes) != 2 || pushes[0].RetryKey == "" || pushes[0].RetryKey != pushes[1].RetryKey {
			t.Fatalf("pushes = %+v", pushes)
		}

		c.Send("send_message", map[string]any{"text": "again", "temp_id": "t-2"})
		c.Expect("message_sent")
		if r := nextResult(t, results); r.Status != chat.DeliverySent {
			t.Fatalf("next message: %+v", r)
		}
		d := fake.Deliveries()
		if len(d) != 1 || d[0].To != cust.LineUserID || d[0].Messages[0]["text"] != "again" {
			t.Fatalf("deliveries = %+v", d)
		}
		if n := len(e.out.Delivered()); n != 0 {
			t.Fatalf("the synchronous outbound delivered %d", n)
		}
	})
}

// LINE accepted the push: every tab of the sender gets message_ack with
// the message id and its temp_id; a send without a temp_id gets an ack
// without one. Nobody else gets it.
func TestMessageAckWhenLINEAccepts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		_, _, results := withOutbox(t, e)
		alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
		c := e.login(t, alice)
		other := e.login(t, alice) // a second tab, not in the room
		bob := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
		cust := e.claimed(t, c)
		other.Sync()
		bob.Sync()

		c.Send("send_message", map[string]any{"text": "hello", "temp_id": "t-1"})
		ms := c.Expect("message_sent").Map(t)
		if ms["delivery_status"] != "pending" {
			t.Fatalf("message_sent = %v", ms)
		}
		if r := nextResult(t, results); r.Status != chat.DeliverySent {
			t.Fatalf("attempt: %+v", r)
		}
		for _, tab := range []*wstest.Client{c, other} {
			ack := tab.WaitFor("message_ack").Map(t)
			if len(ack) != 4 || ack["message_id"] != ms["id"] || ack["temp_id"] != "t-1" || ack["delivery_status"] != "sent" || ack["line_user_id"] != cust.LineUserID {
				t.Fatalf("message_ack = %v", ack)
			}
		}
		c.Send("send_message", map[string]any{"text": "no temp id"})
		ms = c.Expect("message_sent").Map(t)
		nextResult(t, results)
		ack := c.WaitFor("message_ack").Map(t)
		if _, has := ack["temp_id"]; has || ack["message_id"] != ms["id"] {
			t.Fatalf("message_ack without a temp_id = %v", ack)
		}
		if n := count(bob.Sync())["message_ack"]; n != 0 {
			t.Fatalf("another operator got %d message_ack", n)
		}
	})
}

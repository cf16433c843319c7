package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/outbound"
	"livechat/internal/outbox"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

const token = "channel-token"

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// failures records Notifier.MessageFailed calls, and the acks of
// MessageDelivered.
type failures struct {
	mu    sync.Mutex
	calls []failure
	acks  []ack
}

type ack struct {
	m      chat.Message
	tempID string
}

func (f *failures) MessageDelivered(_ context.Context, m chat.Message, tempID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, ack{m, tempID})
}

func (f *failures) delivered() []ack {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ack(nil), f.acks...)
}

type failure struct {
	m         chat.Message
	tempID    string
	reason    string
	retryable bool
}

func (f *failures) MessageFailed(_ context.Context, m chat.Message, tempID, reason string, retryable bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, failure{m, tempID, reason, retryable})
}

func (f *failures) all() []failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]failure(nil), f.calls...)
}

// env is a chat service whose operator messages go through a real outbox,
// over a real store, to the fake LINE, on a fake clock.
type env struct {
	db      *store.DB
	line    *linefake.Server
	client  *line.Client
	clock   *clock.Fake
	svc     *chat.Service
	rec     *outbound.Recorder
	failed  *failures
	cfg     outbox.Config
	ob      *outbox.Outbox
	results chan outbox.Result
	stop    func()
	op      chat.Operator
	push    outbox.Pusher // what the outbox pushes with; the LINE client unless set
}

func newEnv(t *testing.T, db *store.DB, channelToken string, cfg outbox.Config) *env {
	t.Helper()
	e := &env{db: db, line: linefake.New(token), clock: clock.NewFake(t0), failed: &failures{}, rec: outbound.NewRecorder()}
	base := e.line.Start()
	t.Cleanup(e.line.Close)
	e.client = line.NewClient(base, base, channelToken, nil)
	e.svc = chat.NewService(db, e.clock, e.rec, slog.New(slog.DiscardHandler), time.UTC)
	e.cfg = cfg
	e.op = storetest.Operator(t, db, "alice", chat.RoleAgent)
	e.start(t)
	t.Cleanup(func() {
		e.stop()
		if n := len(e.rec.Delivered()); n != 0 {
			t.Errorf("the synchronous outbound delivered %d messages", n)
		}
	})
	return e
}

// start runs a new outbox instance (a server start) and routes sends to it.
func (e *env) start(t *testing.T) {
	t.Helper()
	e.results = make(chan outbox.Result, 100)
	cfg := e.cfg
	results := e.results
	cfg.Observe = func(r outbox.Result) { results <- r }
	var push outbox.Pusher = e.client
	if e.push != nil {
		push = e.push
	}
	e.ob = outbox.New(e.db, push, e.failed, e.clock, nil, cfg)
	e.svc.SetEnqueuer(e.ob)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ob := e.ob
	go func() { done <- ob.Run(ctx) }()
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// customer makes a customer with an ACTIVE session owned by the operator.
func (e *env) customer(t *testing.T) chat.Customer {
	t.Helper()
	c := storetest.Customer(t, e.db)
	s, _, err := e.db.EnsureWaitingSession(t.Context(), c.LineUserID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.ClaimSession(t.Context(), s.ID, e.op.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) send(t *testing.T, c chat.Customer, text, tempID string) chat.Message {
	t.Helper()
	m, err := e.svc.SendMessage(t.Context(), chat.SendRequest{Actor: e.op, LineUserID: c.LineUserID, Text: text, TempID: tempID})
	if err != nil {
		t.Fatalf("SendMessage(%q): %v", text, err)
	}
	if m.DeliveryStatus != chat.DeliveryPending {
		t.Fatalf("SendMessage returned %q, want pending", m.DeliveryStatus)
	}
	return m
}

// sync waits until the outbox has looked at the table at the current time
// and armed its timer, so that the next Advance fires it.
func (e *env) sync(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := e.ob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// advance moves the clock once the outbox is idle with its timer armed.
// The caller makes sure no push is in flight.
func (e *env) advance(t *testing.T, d time.Duration) {
	t.Helper()
	e.sync(t)
	e.clock.Advance(d)
}

// next waits for the outcome of the next attempt.
func (e *env) next(t *testing.T) outbox.Result {
	t.Helper()
	select {
	case r := <-e.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery attempt within 10 s")
		return outbox.Result{}
	}
}

func (e *env) expect(t *testing.T, id int64, status chat.DeliveryStatus) outbox.Result {
	t.Helper()
	r := e.next(t)
	if r.MessageID != id || r.Status != status {
		t.Fatalf("attempt = %+v, want message %d %s", r, id, status)
	}
	return r
}

func (e *env) stored(t *testing.T, id int64) chat.Message {
	t.Helper()
	m, err := e.db.Message(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pushText is the text of a recorded push.
func pushText(r linefake.Request) string {
	if len(r.Messages) != 1 {
		return ""
	}
	s, _ := r.Messages[0]["text"].(string)
	return s
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// sameKey checks that every push carried one UUID retry key, and returns it.
func sameKey(t *testing.T, rs []linefake.Request) string {
	t.Helper()
	if len(rs) == 0 {
		t.Fatal("no pushes")
	}
	key := rs[0].RetryKey
	if !uuidRE.MatchString(key) {
		t.Fatalf("retry key %q is not a UUID", key)
	}
	for i, r := range rs {
		if r.RetryKey != key {
			t.Fatalf("push %d used retry key %q, want %q", i, r.RetryKey, key)
		}
	}
	return key
}

func TestDelivered(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{})
		c := e.customer(t)
		m := e.send(t, c, "hello", "t1")
		r := e.expect(t, m.ID, chat.DeliverySent)
		if r.Attempt != 1 {
			t.Fatalf("attempt %d", r.Attempt)
		}
		d := e.line.Deliveries()
		if len(d) != 1 || d[0].To != c.LineUserID || pushText(d[0]) != "hello" {
			t.Fatalf("deliveries = %+v", d)
		}
		sameKey(t, d)
		if got := e.stored(t, m.ID); got.DeliveryStatus != chat.DeliverySent || got.DeliveryError != "" {
			t.Fatalf("stored %+v", got)
		}
		// The sender hears that LINE took it (message_ack), with its temp id.
		acks := e.failed.delivered()
		if len(acks) != 1 || acks[0].m.ID != m.ID || acks[0].tempID != "t1" || acks[0].m.DeliveryStatus != chat.DeliverySent ||
			acks[0].m.OperatorID == nil || *acks[0].m.OperatorID != e.op.ID {
			t.Fatalf("acks = %+v", acks)
		}
	})
}

// corrupt makes a stored message unreadable by the model (its time), as a
// row written by something else could be; it stays due.
func corrupt(t *testing.T, db *store.DB, id int64) {
	t.Helper()
	q := "UPDATE messages SET created_at = '10000-01-01 00:00:00+00:00' WHERE id = ?"
	if db.Dialect() == store.Postgres {
		q = "UPDATE messages SET created_at = 'infinity', next_attempt_at = '-infinity' WHERE id = ?"
	}
	if _, err := db.Bun().ExecContext(t.Context(), q, id); err != nil {
		t.Fatal(err)
	}
}

// A message that cannot be read back is retried with backoff, never
// blocks other conversations, and after MaxFailures is quarantined: the
// sender gets message_failed with its temp id, and the conversation's next
// message goes out.
func TestUnreadableMessageIsQuarantinedAndReleasesTheConversation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{MaxFailures: 2})
		a, b := e.customer(t), e.customer(t)
		e.stop() // the rows are in place before the outbox looks
		poison := e.send(t, a, "poison", "t-p")
		next := e.send(t, a, "next", "t-n")
		corrupt(t, db, poison.ID)
		other := e.send(t, b, "other", "t-o")
		e.start(t)

		got := map[int64]outbox.Result{}
		for range 2 {
			r := e.next(t)
			got[r.MessageID] = r
		}
		if r := got[poison.ID]; r.Status != chat.DeliveryPending || !r.NextAttempt.Equal(t0.Add(time.Second)) {
			t.Fatalf("poison, first attempt = %+v", r)
		}
		if r := got[other.ID]; r.Status != chat.DeliverySent {
			t.Fatalf("the other conversation = %+v (one bad row must not block it)", r)
		}
		if n := len(e.failed.all()); n != 0 {
			t.Fatalf("%d message_failed before the quarantine", n)
		}
		e.advance(t, time.Second)
		e.expect(t, poison.ID, chat.DeliveryFailed)
		e.expect(t, next.ID, chat.DeliverySent)

		fs := e.failed.all()
		if len(fs) != 1 || fs[0].m.ID != poison.ID || fs[0].tempID != "t-p" || fs[0].m.LineUserID != a.LineUserID ||
			fs[0].m.OperatorID == nil || *fs[0].m.OperatorID != e.op.ID || !fs[0].retryable || fs[0].reason == "" {
			t.Fatalf("message_failed = %+v", fs)
		}
		texts := []string{}
		for _, d := range e.line.Deliveries() {
			texts = append(texts, pushText(d))
		}
		if len(texts) != 2 || texts[0] != "other" || texts[1] != "next" {
			t.Fatalf("delivered %v, want other, next (the poison never pushed)", texts)
		}
		dead, err := db.DeadDeliveries(t.Context(), 10)
		if err != nil || len(dead) != 1 || dead[0].ID != poison.ID || !strings.Contains(dead[0].Reason, "cannot be read back") {
			t.Fatalf("dead = %+v, %v", dead, err)
		}
	})
}

// panicky panics on the pushes of one text, and pushes the rest.
type panicky struct {
	outbox.Pusher
	text string
}

func (p panicky) Push(ctx context.Context, to string, msgs []line.Message, key string) error {
	if msgs[0]["text"] == p.text {
		panic("the push blew up")
	}
	return p.Pusher.Push(ctx, to, msgs, key)
}

// A push that panics is the message's own failure: the process lives, the
// message is retried, and quarantined at MaxFailures.
func TestPanickingPushIsQuarantinedNotFatal(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db, token, outbox.Config{MaxFailures: 2})
	e.stop()
	e.push = panicky{Pusher: e.client, text: "boom"}
	e.start(t)
	c := e.customer(t)
	m := e.send(t, c, "boom", "t-b")
	if r := e.expect(t, m.ID, chat.DeliveryPending); !strings.Contains(r.Reason, "panicked") {
		t.Fatalf("first attempt = %+v", r)
	}
	e.advance(t, time.Second)
	e.expect(t, m.ID, chat.DeliveryFailed)
	if fs := e.failed.all(); len(fs) != 1 || fs[0].tempID != "t-b" {
		t.Fatalf("message_failed = %+v", fs)
	}
	after := e.send(t, c, "fine", "t-f")
	e.expect(t, after.ID, chat.DeliverySent)
}

// Health names what keeps messages from going out: LINE failing (until a
// push succeeds), and due messages nobody attempts.
func TestHealth(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db, token, outbox.Config{})
	c := e.customer(t)
	if h := e.ob.Health(t.Context(), time.Minute); len(h) != 0 {
		t.Fatalf("idle health = %v", h)
	}
	e.line.FailNext(linefake.Push, linefake.Status(503))
	m := e.send(t, c, "hello", "")
	e.expect(t, m.ID, chat.DeliveryPending)
	if h := e.ob.Health(t.Context(), time.Minute); len(h) != 1 || !strings.HasPrefix(h[0], "line: LINE error 503") {
		t.Fatalf("health while LINE fails = %v", h)
	}
	e.advance(t, time.Second)
	e.expect(t, m.ID, chat.DeliverySent)
	if h := e.ob.Health(t.Context(), time.Minute); len(h) != 0 {
		t.Fatalf("health after a success = %v", h)
	}
	// No outbox running: a message due for a minute and not attempted.
	e.stop()
	e.send(t, c, "nobody sends this", "")
	e.clock.Advance(59 * time.Second)
	if h := e.ob.Health(t.Context(), time.Minute); len(h) != 0 {
		t.Fatalf("health before a minute = %v", h)
	}
	e.clock.Advance(time.Second)
	if h := e.ob.Health(t.Context(), time.Minute); len(h) != 1 || !strings.Contains(h[0], "has not been attempted for 1m0s") {
		t.Fatalf("health of a stuck outbox = %v", h)
	}
}

// The test: injected 5xx, then success → exactly one delivery, with
// the same retry key every time.
func TestServerErrorsAreRetriedWithTheSameKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{})
		c := e.customer(t)
		e.line.FailNext(linefake.Push, linefake.Status(500), linefake.Status(503))
		m := e.send(t, c, "hello", "t1")

		r := e.expect(t, m.ID, chat.DeliveryPending)
		if want := t0.Add(time.Second); !r.NextAttempt.Equal(want) {
			t.Fatalf("first retry at %v, want %v", r.NextAttempt, want)
		}
		if got := e.stored(t, m.ID); got.DeliveryStatus != chat.DeliveryPending || got.DeliveryError == "" {
			t.Fatalf("while retrying: %+v", got)
		}
		e.advance(t, time.Second)
		r = e.expect(t, m.ID, chat.DeliveryPending)
		if want := t0.Add(3 * time.Second); !r.NextAttempt.Equal(want) { // backoff doubles
			t.Fatalf("second retry at %v, want %v", r.NextAttempt, want)
		}
		e.advance(t, 2*time.Second)
		e.expect(t, m.ID, chat.DeliverySent)

		pushes := e.line.Requests(linefake.Push)
		if len(pushes) != 3 {
			t.Fatalf("%d pushes, want 3", len(pushes))
		}
		sameKey(t, pushes)
		if n := len(e.line.Deliveries()); n != 1 {
			t.Fatalf("%d deliveries, want 1", n)
		}
		if got := e.stored(t, m.ID); got.DeliveryStatus != chat.DeliverySent || got.DeliveryError != "" {
			t.Fatalf("stored %+v", got)
		}
		if n := len(e.failed.all()); n != 0 {
			t.Fatalf("%d message_failed for a delivered message", n)
		}
	})
}

// LINE took the message but the answer was lost: the retry gets 409 and
// the customer has one copy.
func TestLostAnswerThenConflictIsOneDelivery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{AttemptTimeout: 200 * time.Millisecond})
		c := e.customer(t)
		e.line.FailNext(linefake.Push, linefake.Lost(linefake.Timeout()))
		m := e.send(t, c, "hello", "t1")
		e.expect(t, m.ID, chat.DeliveryPending)
		e.advance(t, time.Second)
		e.expect(t, m.ID, chat.DeliverySent)
		// The lost push is answered (and counted delivered) only once the
		// fake sees the client gone, which may come after the retry's 409.
		pushes, err := e.line.WaitFor(linefake.Push, 2, 10*time.Second)
		if err != nil || len(pushes) != 2 || pushes[1].Status != http.StatusConflict {
			t.Fatalf("pushes = %+v, %v", pushes, err)
		}
		sameKey(t, pushes)
		if n := len(e.line.Deliveries()); n != 1 {
			t.Fatalf("%d deliveries, want 1", n)
		}
	})
}

func TestConflictIsSuccess(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{})
		c := e.customer(t)
		e.line.FailNext(linefake.Push, linefake.Status(http.StatusConflict))
		m := e.send(t, c, "hello", "t1")
		e.expect(t, m.ID, chat.DeliverySent)
		if got := e.stored(t, m.ID); got.DeliveryStatus != chat.DeliverySent {
			t.Fatalf("stored %+v", got)
		}
		if n := len(e.failed.all()); n != 0 {
			t.Fatalf("%d message_failed", n)
		}
	})
}

// The test: a 400 → message_failed reaches the operator.
func TestBadRequestFailsAndTellsTheSender(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{})
		c := e.customer(t)
		e.line.FailNext(linefake.Push, linefake.Fault{Status: 400, Message: "The property, 'to', in the request body is invalid"})
		m := e.send(t, c, "hello", "t-400")
		r := e.expect(t, m.ID, chat.DeliveryFailed)
		fs := e.failed.all()
		if len(fs) != 1 {
			t.Fatalf("%d message_failed, want 1", len(fs))
		}
		f := fs[0]
		if f.tempID != "t-400" || f.m.ID != m.ID || f.retryable || f.reason != r.Reason ||
			f.reason != "LINE rejected the message (400 Bad Request): The property, 'to', in the request body is invalid" ||
			f.m.DeliveryStatus != chat.DeliveryFailed || f.m.OperatorID == nil || *f.m.OperatorID != e.op.ID {
			t.Fatalf("message_failed = %+v", f)
		}
		if got := e.stored(t, m.ID); got.DeliveryStatus != chat.DeliveryFailed || got.DeliveryError != f.reason {
			t.Fatalf("stored %+v", got)
		}
		if n := len(e.line.Requests(linefake.Push)); n != 1 {
			t.Fatalf("a 400 was retried: %d pushes", n)
		}
		// The conversation goes on.
		m2 := e.send(t, c, "again", "t-2")
		e.expect(t, m2.ID, chat.DeliverySent)
	})
}

func TestNoTokenFailsWithAClearReason(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, "", outbox.Config{})
		c := e.customer(t)
		m := e.send(t, c, "hello", "t1")
		e.expect(t, m.ID, chat.DeliveryFailed)
		fs := e.failed.all()
		if len(fs) != 1 || fs[0].reason != "LINE channel token not configured" || fs[0].tempID != "t1" {
			t.Fatalf("message_failed = %+v", fs)
		}
		if got := e.stored(t, m.ID); got.DeliveryStatus != chat.DeliveryFailed || got.DeliveryError != outbox.NoTokenReason {
			t.Fatalf("stored %+v", got)
		}
		if n := len(e.line.Requests()); n != 0 {
			t.Fatalf("%d requests reached LINE without a token", n)
		}
	})
}

// Message 2 is not pushed before message 1 is accepted, also across a retry;
// other conversations are not held up.
func TestOrderPerConversationAcrossRetries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{})
		a, b := e.customer(t), e.customer(t)
		e.line.FailNext(linefake.Push, linefake.Status(500))
		a1 := e.send(t, a, "a1", "")
		e.expect(t, a1.ID, chat.DeliveryPending)
		a2 := e.send(t, a, "a2", "")
		a3 := e.send(t, a, "a3", "")
		b1 := e.send(t, b, "b1", "")
		e.expect(t, b1.ID, chat.DeliverySent) // b is not blocked by a
		e.advance(t, time.Second)
		e.expect(t, a1.ID, chat.DeliverySent)
		e.expect(t, a2.ID, chat.DeliverySent)
		e.expect(t, a3.ID, chat.DeliverySent)

		var texts []string
		for _, r := range e.line.Requests(linefake.Push) {
			if r.To == a.LineUserID {
				texts = append(texts, pushText(r))
			}
		}
		if want := []string{"a1", "a1", "a2", "a3"}; !equal(texts, want) {
			t.Fatalf("pushes to a = %v, want %v", texts, want)
		}
		if n := len(e.line.Deliveries()); n != 4 {
			t.Fatalf("%d deliveries, want 4", n)
		}
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{})
		c := e.customer(t)
		e.line.FailNext(linefake.Push, linefake.TooManyRequests(30*time.Second))
		m := e.send(t, c, "hello", "")
		r := e.expect(t, m.ID, chat.DeliveryPending)
		if want := t0.Add(30 * time.Second); !r.NextAttempt.Equal(want) {
			t.Fatalf("retry at %v, want %v (Retry-After)", r.NextAttempt, want)
		}
		e.advance(t, 30*time.Second)
		e.expect(t, m.ID, chat.DeliverySent)
		sameKey(t, e.line.Requests(linefake.Push))
	})
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{AttemptTimeout: 100 * time.Millisecond})
		c := e.customer(t)
		e.line.FailNext(linefake.Push, linefake.Timeout())
		m := e.send(t, c, "hello", "")
		r := e.expect(t, m.ID, chat.DeliveryPending)
		if r.Reason != "LINE did not answer in time; will retry" {
			t.Fatalf("reason %q", r.Reason)
		}
		e.advance(t, time.Second)
		e.expect(t, m.ID, chat.DeliverySent)
		pushes := e.line.Requests(linefake.Push)
		sameKey(t, pushes)
		if len(pushes) != 2 || pushes[0].Delivered || !pushes[1].Delivered {
			t.Fatalf("pushes = %+v", pushes)
		}
	})
}

func TestGivesUpBeforeTheRetryKeyExpires(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{MinBackoff: 4 * time.Second, GiveUpAfter: 10 * time.Second})
		c := e.customer(t)
		e.line.FailNext(linefake.Push, linefake.Status(500), linefake.Status(500))
		m := e.send(t, c, "hello", "t1")
		e.expect(t, m.ID, chat.DeliveryPending) // t0: retry at +4 s
		e.advance(t, 4*time.Second)
		// +4 s: the next retry (+12 s) would be past the 10 s window.
		r := e.expect(t, m.ID, chat.DeliveryFailed)
		fs := e.failed.all()
		if len(fs) != 1 || !fs[0].retryable || fs[0].reason != r.Reason || fs[0].tempID != "t1" {
			t.Fatalf("message_failed = %+v", fs)
		}
		if want := "LINE did not accept the message after 2 attempts (last: LINE error 500 Internal Server Error; will retry); please resend"; r.Reason != want {
			t.Fatalf("reason %q, want %q", r.Reason, want)
		}
		if got := e.stored(t, m.ID); got.DeliveryStatus != chat.DeliveryFailed || got.DeliveryError != r.Reason {
			t.Fatalf("stored %+v", got)
		}
	})
}

// A message tried before a long outage is not pushed again once LINE may
// have forgotten its retry key: that could be a second copy.
func TestNoRetryAfterTheRetryKeyWindow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{GiveUpAfter: 10 * time.Second})
		c := e.customer(t)
		e.line.FailNext(linefake.Push, linefake.Lost(linefake.Status(500)))
		m := e.send(t, c, "hello", "t1")
		e.expect(t, m.ID, chat.DeliveryPending)
		e.stop()
		e.clock.Advance(time.Minute) // the server is down: no outbox runs
		e.start(t)
		r := e.expect(t, m.ID, chat.DeliveryFailed)
		if n := len(e.line.Requests(linefake.Push)); n != 1 {
			t.Fatalf("%d pushes, want 1", n)
		}
		if fs := e.failed.all(); len(fs) != 1 || fs[0].reason != r.Reason || !fs[0].retryable {
			t.Fatalf("message_failed = %+v", fs)
		}
	})
}

// The test: a restart with pending deliveries delivers each once.
func TestRestartDeliversPendingOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{AttemptTimeout: 200 * time.Millisecond})
		a, b := e.customer(t), e.customer(t)

		// Before the "crash": a1's push reached LINE but its answer was
		// lost, and a2 and b1 were stored but never tried.
		e.line.FailNext(linefake.Push, linefake.Lost(linefake.Timeout()))
		a1 := e.send(t, a, "a1", "")
		e.expect(t, a1.ID, chat.DeliveryPending)
		e.stop()
		a2 := e.send(t, a, "a2", "") // Enqueue works; nobody runs the outbox
		b1 := e.send(t, b, "b1", "")
		b2 := e.send(t, b, "b2", "")

		e.start(t)
		e.expect(t, b1.ID, chat.DeliverySent) // a1 waits for its backoff
		e.expect(t, b2.ID, chat.DeliverySent)
		e.advance(t, time.Second)
		e.expect(t, a1.ID, chat.DeliverySent) // LINE answers 409
		e.expect(t, a2.ID, chat.DeliverySent)
		d := e.line.Deliveries()
		if len(d) != 4 {
			t.Fatalf("%d deliveries, want 4: %+v", len(d), d)
		}
		seen := map[string]int{}
		for _, r := range d {
			seen[pushText(r)]++
		}
		for _, text := range []string{"a1", "a2", "b1", "b2"} {
			if seen[text] != 1 {
				t.Fatalf("delivered %v, want each once", seen)
			}
		}
	})
}

// A crashed instance's attempt holds its row until the lock ends; then the
// next instance retries it with the same key.
func TestCrashedAttemptIsRetriedAfterItsLock(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{Lock: time.Minute})
		e.stop()
		c := e.customer(t)
		m := e.send(t, c, "hello", "")
		// The dead instance claimed it and pushed; LINE accepted it.
		_, key, err := db.ClaimDelivery(t.Context(), m.ID, t0, t0.Add(time.Minute), "unused")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.client.Push(t.Context(), c.LineUserID, []line.Message{line.Text("hello")}, key); err != nil {
			t.Fatal(err)
		}

		e.start(t)
		// The scans run every PollInterval (30 s): the one at +30 s finds
		// the row still locked, the one at +60 s takes it over.
		e.advance(t, 59*time.Second)
		// Not claimed again while the dead instance's lock holds.
		if next, _, err := db.NextDeliveryAt(t.Context()); err != nil || !next.Equal(t0.Add(time.Minute)) {
			t.Fatalf("next delivery at %v, %v; want the lock's end %v", next, err, t0.Add(time.Minute))
		}
		e.advance(t, time.Second)
		r := e.expect(t, m.ID, chat.DeliverySent)
		if r.Attempt != 2 {
			t.Fatalf("attempt %d, want 2", r.Attempt)
		}
		pushes := e.line.Requests(linefake.Push)
		sameKey(t, pushes)
		if len(pushes) != 2 || pushes[1].Status != http.StatusConflict || len(e.line.Deliveries()) != 1 {
			t.Fatalf("pushes = %+v", pushes)
		}
	})
}

// Stopping cancels a hanging push; the message stays pending and the next
// start delivers it at once.
func TestStopReleasesAttemptsInFlight(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, token, outbox.Config{AttemptTimeout: time.Hour})
		c := e.customer(t)
		e.line.FailNext(linefake.Push, linefake.Timeout())
		m := e.send(t, c, "hello", "")
		for {
			changed := e.line.Changed()
			if len(e.line.Requests(linefake.Push)) > 0 {
				break
			}
			<-changed
		}
		e.stop()
		r := e.expect(t, m.ID, chat.DeliveryPending)
		if !r.NextAttempt.Equal(t0) {
			t.Fatalf("released until %v, want now", r.NextAttempt)
		}
		e.start(t)
		e.expect(t, m.ID, chat.DeliverySent)
		sameKey(t, e.line.Requests(linefake.Push))
		if n := len(e.line.Deliveries()); n != 1 {
			t.Fatalf("%d deliveries", n)
		}
	})
}

// blockingPusher holds every push until release is closed.
type blockingPusher struct {
	started chan string
	release chan struct{}
}

func (p *blockingPusher) Push(ctx context.Context, _ string, msgs []line.Message, _ string) error {
	p.started <- pushTextOf(msgs)
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func pushTextOf(msgs []line.Message) string {
	s, _ := msgs[0]["text"].(string)
	return s
}

// With every worker busy and more conversations ready, Run sleeps until
// an attempt reports: no timer at once, which would spin.
func TestNoBusyLoopWhileWorkersAreBusy(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db, token, outbox.Config{Workers: 1})
	e.stop()
	p := &blockingPusher{started: make(chan string, 4), release: make(chan struct{})}
	e.push = p
	e.start(t)
	defer close(p.release)
	a, b := e.customer(t), e.customer(t)
	e.send(t, a, "a", "")
	e.send(t, b, "b", "")
	<-p.started // one push in flight, the other conversation ready
	e.sync(t)
	if next, ok := e.clock.Next(); !ok || !next.After(e.clock.Now()) {
		t.Fatalf("next timer at %v (pending %v), now %v: Run would spin", next, ok, e.clock.Now())
	}
}

// failClaims fails ClaimDeliveries on the database n times.
type failClaims struct {
	*store.DB
	n atomic.Int32
}

func (s *failClaims) ClaimDeliveries(ctx context.Context, cs []outbox.Claim, now, until time.Time) ([]outbox.Claimed, error) {
	if s.n.Add(-1) >= 0 {
		return nil, errors.New("injected: connection reset by peer")
	}
	return s.DB.ClaimDeliveries(ctx, cs, now, until)
}

// Two senders of one group commit return together, so the later message
// may be handed over first. When its claim then fails on the database, the
// earlier message, handed over next, still goes first, at once.
func TestEarlierMessageHandedOverLateGoesFirst(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	clk := clock.NewFake(t0)
	svc := chat.NewService(db, clk, outbound.NewRecorder(), slog.New(slog.DiscardHandler), time.UTC)
	hold := &held{}
	svc.SetEnqueuer(hold)
	op := storetest.Operator(t, db, "alice", chat.RoleAgent)
	e := &env{db: db, clock: clk}
	fs := &failClaims{DB: db}
	fs.n.Store(1)
	results := make(chan outbox.Result, 10)
	p := &recPusher{}
	ob := outbox.New(fs, p, nil, clk, nil, outbox.Config{Observe: func(r outbox.Result) { results <- r }})
	run(t, ob)
	e.ob = ob
	e.sync(t) // the start-up scan is done: the rows below come by hand-off only
	c := activeCustomer(t, db, op)
	first := sendAs(t, svc, op, c, "first")
	second := sendAs(t, svc, op, c, "second")
	_ = ob.Enqueue(t.Context(), second, "")
	e.sync(t) // its claim fails: a retry in 1 s
	_ = ob.Enqueue(t.Context(), first, "")
	for _, want := range []int64{first.ID, second.ID} {
		select {
		case r := <-results:
			if r.MessageID != want || r.Status != chat.DeliverySent {
				t.Fatalf("attempt %+v, want message %d sent", r, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d was not sent without a clock advance", want)
		}
	}
	if got := p.texts(); !equal(got, []string{"first", "second"}) {
		t.Fatalf("pushed %v", got)
	}
	if fs.n.Load() >= 0 {
		t.Fatal("the injected claim failure never happened")
	}
}

// held keeps what chat.Service hands over, for the test to enqueue.
type held struct {
	mu sync.Mutex
	ms []chat.Message
}

func (h *held) Enqueue(_ context.Context, m chat.Message, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ms = append(h.ms, m)
	return nil
}

func activeCustomer(t *testing.T, db *store.DB, op chat.Operator) chat.Customer {
	t.Helper()
	c := storetest.Customer(t, db)
	s, _, err := db.EnsureWaitingSession(t.Context(), c.LineUserID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimSession(t.Context(), s.ID, op.ID, t0); err != nil {
		t.Fatal(err)
	}
	return c
}

func sendAs(t *testing.T, svc *chat.Service, op chat.Operator, c chat.Customer, text string) chat.Message {
	t.Helper()
	m, err := svc.SendMessage(t.Context(), chat.SendRequest{Actor: op, LineUserID: c.LineUserID, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run runs ob until the test ends.
func run(t *testing.T, ob *outbox.Outbox) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

type recPusher struct {
	mu sync.Mutex
	ts []string
}

func (p *recPusher) Push(_ context.Context, _ string, msgs []line.Message, _ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ts = append(p.ts, pushTextOf(msgs))
	return nil
}

func (p *recPusher) texts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ts...)
}

// A restart takes over every pending row, page by page, not just the
// first page; and with room for only a few in memory, the rest follow as
// the queues drain.
func TestRecoveryTakesEveryPendingRow(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]outbox.Config{"all in memory": {}, "room for 7": {MaxQueued: 7}} {
		t.Run(name, func(t *testing.T) {
			db := storetest.Open(t, store.SQLite)
			clk := clock.NewFake(t0)
			svc := chat.NewService(db, clk, outbound.NewRecorder(), slog.New(slog.DiscardHandler), time.UTC)
			svc.SetEnqueuer(&held{}) // left pending, as by a run that stopped
			op := storetest.Operator(t, db, "alice", chat.RoleAgent)
			const convs, per = 130, 5 // more rows than one scan page
			for range convs {
				c := activeCustomer(t, db, op)
				for j := range per {
					sendAs(t, svc, op, c, fmt.Sprint(j))
				}
			}
			results := make(chan outbox.Result, convs*per)
			cfg.Observe = func(r outbox.Result) { results <- r }
			p := &recPusher{}
			run(t, outbox.New(db, p, nil, clk, nil, cfg))
			for i := range convs * per {
				select {
				case r := <-results:
					if r.Status != chat.DeliverySent {
						t.Fatalf("attempt %+v", r)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("%d of %d delivered without a clock advance", i, convs*per)
				}
			}
			if n := len(p.texts()); n != convs*per {
				t.Fatalf("%d pushes, want %d", n, convs*per)
			}
		})
	}
}

// Two instances on one database: an unreadable row the one quarantines is
// not read again and again by the other.
func TestQuarantinedElsewhereIsForgotten(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	clk := clock.NewFake(t0)
	svc := chat.NewService(db, clk, outbound.NewRecorder(), slog.New(slog.DiscardHandler), time.UTC)
	svc.SetEnqueuer(&held{})
	op := storetest.Operator(t, db, "alice", chat.RoleAgent)
	m := sendAs(t, svc, op, activeCustomer(t, db, op), "poison")
	corrupt(t, db, m.ID)
	var obs []*outbox.Outbox
	var counts []*atomic.Int32
	for range 2 {
		n := &atomic.Int32{}
		ob := outbox.New(db, &recPusher{}, nil, clk, nil, outbox.Config{MaxFailures: 3, Observe: func(outbox.Result) { n.Add(1) }})
		run(t, ob)
		obs, counts = append(obs, ob), append(counts, n)
	}
	sync := func() {
		for _, ob := range obs {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			if err := ob.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
	}
	sync()
	for range 8 { // 40 minutes: long past the quarantine
		clk.Advance(5 * time.Minute)
		sync()
	}
	if dead, _ := db.DeadDeliveries(t.Context(), 10); len(dead) != 1 {
		t.Fatalf("%d dead, want the poison", len(dead))
	}
	before := counts[0].Load() + counts[1].Load()
	for range 8 {
		clk.Advance(5 * time.Minute)
		sync()
	}
	if after := counts[0].Load() + counts[1].Load(); after != before {
		t.Fatalf("%d more attempts at a row quarantined 40 minutes ago", after-before)
	}
}

// linePeer is LINE as two instances share it: a retry key is accepted
// once (409 after), some pushes fail, and every acceptance is announced.
type linePeer struct {
	mu       sync.Mutex
	keys     map[string]bool
	accepted map[string][]string // per customer, in the order LINE took them
	n        int
	fail     func() bool
	changed  chan struct{}
}

func (l *linePeer) Push(_ context.Context, to string, msgs []line.Message, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail() {
		return &line.APIError{Status: 503}
	}
	if l.keys[key] {
		return &line.APIError{Status: 409}
	}
	l.keys[key] = true
	l.accepted[to] = append(l.accepted[to], pushTextOf(msgs))
	l.n++
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return nil
}

// randomly hands each message to one of two instances.
type split struct{ a, b *outbox.Outbox }

func (s split) Enqueue(ctx context.Context, m chat.Message, tempID string) error {
	if m.Seq%2 == 0 {
		return s.a.Enqueue(ctx, m, tempID)
	}
	return s.b.Enqueue(ctx, m, tempID)
}

// Two instances on one database, the messages of every conversation
// handed to both, two tabs sending at once, LINE failing one push in five:
// every message is accepted once, and each conversation in seq order.
func TestTwoInstancesKeepEveryConversationInOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var calls atomic.Int32
		peer := &linePeer{keys: map[string]bool{}, accepted: map[string][]string{}, changed: make(chan struct{}, 1),
			fail: func() bool { return calls.Add(1)%5 == 0 }}
		cfg := outbox.Config{Workers: 4, PollInterval: 50 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
		a := outbox.New(db, peer, nil, clock.Real{}, nil, cfg)
		b := outbox.New(db, peer, nil, clock.Real{}, nil, cfg)
		run(t, a)
		run(t, b)
		svc := chat.NewService(db, clock.Real{}, outbound.NewRecorder(), slog.New(slog.DiscardHandler), time.UTC)
		svc.SetEnqueuer(split{a, b})
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		const convs, tabs, per = 6, 2, 20
		var users []string
		var wg sync.WaitGroup
		for range convs {
			c := activeCustomer(t, db, op)
			users = append(users, c.LineUserID)
			for tab := range tabs {
				wg.Go(func() {
					for j := range per {
						if _, err := svc.SendMessage(context.Background(), chat.SendRequest{Actor: op, LineUserID: c.LineUserID, Text: fmt.Sprintf("%d-%d", tab, j)}); err != nil {
							t.Error(err)
						}
					}
				})
			}
		}
		wg.Wait()
		deadline := time.After(60 * time.Second)
		for {
			peer.mu.Lock()
			n := peer.n
			peer.mu.Unlock()
			if n == convs*tabs*per {
				break
			}
			select {
			case <-peer.changed:
			case <-deadline:
				t.Fatalf("LINE accepted %d of %d messages in 60 s", n, convs*tabs*per)
			}
		}
		for _, u := range users {
			ms, _, err := db.RecentMessages(t.Context(), u, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, m := range ms {
				want = append(want, m.Content)
			}
			peer.mu.Lock()
			got := peer.accepted[u]
			peer.mu.Unlock()
			if !equal(got, want) {
				t.Fatalf("%s: LINE took %v, want seq order %v", u, got, want)
			}
		}
	})
}

package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/outbound"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/webhook"
)

const (
	secret = "0123456789abcdef0123456789abcdef" // the test channel secret
	token  = "test-channel-token"
)

// t0 is Wednesday 2026-11-25 10:00 in Bangkok: within the default hours.
var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// env is the inbound side over real parts: a store, the chat service, the
// LINE client against the in-repo fake LINE, the handler behind httptest,
// and a worker that tests drive with drain (or run).
type env struct {
	t       testing.TB
	db      *store.DB
	clock   *clock.Fake
	svc     *chat.Service
	notes   *notes
	line    *linefake.Server
	client  *line.Client
	chat    *flakyChat
	worker  *webhook.Worker
	handler *webhook.Handler
	srv     *httptest.Server
	opt     webhook.Options
	log     *slog.Logger // nil: discarded
}

type envOption func(*env)

func withOptions(o webhook.Options) envOption { return func(e *env) { e.opt = o } }

// withLog logs the env's handler, worker and service to log.
func withLog(log *slog.Logger) envOption { return func(e *env) { e.log = log } }

func newEnv(t testing.TB, db *store.DB, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, db: db, clock: clock.NewFake(t0), notes: &notes{}}
	for _, o := range opts {
		o(e)
	}
	log := e.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bkk, _ := time.LoadLocation("Asia/Bangkok")
	e.svc = chat.NewService(db, e.clock, outbound.NewRecorder(), log, bkk)
	e.svc.SetNotifier(e.notes)
	e.line = linefake.New(token)
	base := e.line.Start()
	t.Cleanup(e.line.Close)
	e.client = line.NewClient(base, base, token, nil)
	e.chat = &flakyChat{Chat: e.svc}
	e.worker = webhook.NewWorker(webhook.Deps{
		Store: db, Chat: e.chat, Profiles: e.client, Replier: e.client, Clock: e.clock, Log: log,
	}, e.opt)
	e.handler = webhook.NewHandler(secret, db, e.worker, e.clock, log)
	mux := http.NewServeMux()
	mux.Handle("POST "+webhook.Path, e.handler)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// sqlite is a fresh SQLite store, for tests whose subject is not the database.
func sqlite(t testing.TB) *store.DB { return storetest.Open(t, store.SQLite) }

// post sends body with signature sig (none when empty).
func (e *env) post(body []byte, sig string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+webhook.Path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(webhook.SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("response %d is not JSON: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// send posts events, correctly signed, and expects 200.
func (e *env) send(events ...map[string]any) {
	e.t.Helper()
	if status, body := e.post(signed(events...)); status != http.StatusOK {
		e.t.Fatalf("webhook answered %d %v, want 200", status, body)
	}
}

func signed(events ...map[string]any) ([]byte, string) {
	if events == nil {
		events = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"destination": "Uffffffffffffffffffffffffffffffff", "events": events})
	return b, webhook.Sign([]byte(secret), b)
}

// drain processes the inbox until nothing is due.
func (e *env) drain() {
	e.t.Helper()
	for range 1000 {
		n, err := e.worker.ProcessDue(context.Background())
		if err != nil {
			e.t.Fatalf("ProcessDue: %v", err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("the inbox does not drain")
}

func (e *env) inbox() (total, pending int) {
	e.t.Helper()
	total, pending, err := e.db.CountInboxEvents(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return total, pending
}

func (e *env) messages(lineUserID string) []chat.Message {
	e.t.Helper()
	ms, _, err := e.db.RecentMessages(context.Background(), lineUserID, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func (e *env) customer(lineUserID string) chat.Customer {
	e.t.Helper()
	c, err := e.db.Customer(context.Background(), lineUserID)
	if err != nil {
		e.t.Fatalf("customer %s: %v", lineUserID, err)
	}
	return c
}

// replies are the texts replied so far, per reply token.
func (e *env) replies() map[string][]string {
	out := map[string][]string{}
	for _, r := range e.line.Requests(linefake.Reply) {
		if !r.Delivered {
			continue
		}
		for _, m := range r.Messages {
			text, _ := m["text"].(string)
			out[r.ReplyToken] = append(out[r.ReplyToken], text)
		}
	}
	return out
}

// count counts rows of a table matching where.
func (e *env) count(table, where string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Bun().NewRaw("SELECT count(*) FROM "+table+" WHERE "+where, args...).Scan(context.Background(), &n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// Event builders. Every event gets fresh ids and the fake clock's time.

var seq atomic.Int64

func next() int64 { return seq.Add(1) }

func (e *env) base(typ, userID string) map[string]any {
	n := next()
	return map[string]any{
		"type":            typ,
		"mode":            "active",
		"timestamp":       e.clock.Now().UnixMilli(),
		"webhookEventId":  fmt.Sprintf("01TESTEVENT%015d", n),
		"deliveryContext": map[string]any{"isRedelivery": false},
		"replyToken":      fmt.Sprintf("reply-%d", n),
		"source":          map[string]any{"type": "user", "userId": userID},
	}
}

func (e *env) follow(userID string) map[string]any { return e.base("follow", userID) }

func (e *env) unfollow(userID string) map[string]any {
	ev := e.base("unfollow", userID)
	delete(ev, "replyToken")
	return ev
}

func (e *env) msg(userID string, m map[string]any) map[string]any {
	ev := e.base("message", userID)
	if _, ok := m["id"]; !ok {
		m["id"] = fmt.Sprintf("46800000%08d", next())
	}
	ev["message"] = m
	return ev
}

func (e *env) text(userID, text string) map[string]any {
	return e.msg(userID, map[string]any{"type": "text", "text": text, "quoteToken": "q"})
}

func (e *env) postback(userID, data string) map[string]any {
	ev := e.base("postback", userID)
	ev["postback"] = map[string]any{"data": data}
	return ev
}

// notes records what the service announced (the hub's part).
type notes struct {
	mu          sync.Mutex
	queued      []chat.Session
	closed      []chat.Session
	messages    []chat.Message
	csat        []csatNote
	queuedTotal int
	afterClose  int // AfterClose calls (sweep_test.go)
	unsent      []chat.Message
}

type csatNote struct {
	session chat.Session
	score   int
}

func (n *notes) SessionQueued(_ context.Context, s chat.Session, _ chat.Customer, _, total int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queued = append(n.queued, s)
	n.queuedTotal = total
}
func (n *notes) SessionClaimed(context.Context, chat.Session)            {}
func (n *notes) SessionTransferred(context.Context, chat.Session, int64) {}
func (n *notes) SessionClosed(_ context.Context, s chat.Session) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = append(n.closed, s)
}
func (n *notes) MessageStored(_ context.Context, m chat.Message, _, _ string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.messages = append(n.messages, m)
}
func (n *notes) MessageFailed(context.Context, chat.Message, string, string, bool) {}
func (n *notes) MessageDelivered(context.Context, chat.Message, string)            {}
func (n *notes) CSATReceived(_ context.Context, s chat.Session, score int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.csat = append(n.csat, csatNote{s, score})
}

func (n *notes) SLAAlert(context.Context, chat.SLAAlert) {}

func (n *notes) ConversationTagged(context.Context, string, []chat.Tag) {}

func (n *notes) MessageUnsent(_ context.Context, m chat.Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.unsent = append(n.unsent, m)
}

func (n *notes) counts() (queued, closed, messages int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.queued), len(n.closed), len(n.messages)
}

// flakyChat is the real service, with failures injected in front of
// CustomerMessage.
type flakyChat struct {
	webhook.Chat
	fails atomic.Int32
	err   atomic.Value // error; the injected one
}

func (f *flakyChat) failNext(n int) { f.failNextWith(n, fmt.Errorf("injected failure")) }

func (f *flakyChat) failNextWith(n int, err error) {
	f.err.Store(err)
	f.fails.Store(int32(n))
}

func (f *flakyChat) CustomerMessage(ctx context.Context, m chat.Message) (chat.Message, error) {
	for n := f.fails.Load(); n > 0; n = f.fails.Load() {
		if f.fails.CompareAndSwap(n, n-1) {
			return chat.Message{}, f.err.Load().(error)
		}
	}
	return f.Chat.CustomerMessage(ctx, m)
}

package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"livechat/internal/auth"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/outbound"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

const (
	lc       = "/api/v1/admin/live-chat/"
	password = "correct horse battery"
)

// passwordHash is bcrypt(password) at the lowest cost: auth.CheckPassword
// accepts any cost, and the default one takes seconds under -race.
var passwordHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// env is the REST API over a real store and a real chat.Service, served by
// httptest, with a fake clock and a fake hub.
type env struct {
	db      *store.DB
	svc     *chat.Service
	tokens  *auth.Tokens
	clock   *clock.Fake
	out     *outbound.Recorder
	sockets *fakeSockets
	srv     *httptest.Server
	deps    rest.Deps
}

func newEnv(t testing.TB, db *store.DB, opts ...func(*rest.Deps)) *env {
	t.Helper()
	clk := clock.NewFake(t0)
	log := slog.New(slog.DiscardHandler)
	e := &env{db: db, clock: clk, out: outbound.NewRecorder(), sockets: &fakeSockets{online: map[int64]string{}}}
	e.tokens = auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), clk)
	e.svc = chat.NewService(db, clk, e.out, log, time.UTC)
	e.deps = rest.Deps{
		Store: db, Service: e.svc, Tokens: e.tokens, Sockets: e.sockets, Clock: clk, Log: log,
		AccessTTL: 30 * time.Minute, RefreshTTL: 7 * 24 * time.Hour,
		LoginMaxFailures: 3, LoginWindow: 15 * time.Minute,
	}
	for _, o := range opts {
		o(&e.deps)
	}
	e.srv = httptest.NewServer(rest.New(e.deps))
	t.Cleanup(e.srv.Close)
	return e
}

// fakeSockets stands in for the hub, which is tested on its own.
type fakeSockets struct {
	mu           sync.Mutex
	online       map[int64]string
	disconnected []disconnect
}

type disconnect struct {
	ID     int64
	Reason string
}

func (f *fakeSockets) Online() map[int64]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[int64]string, len(f.online))
	for k, v := range f.online {
		out[k] = v
	}
	return out
}

func (f *fakeSockets) DisconnectOperator(id int64, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnected = append(f.disconnected, disconnect{id, reason})
}

func (f *fakeSockets) setOnline(id int64, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.online[id] = status
}

func (f *fakeSockets) disconnects() []disconnect {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]disconnect(nil), f.disconnected...)
}

// operator creates an active operator whose password is `password`.
func (e *env) operator(t testing.TB, username string, role chat.Role) chat.Operator {
	t.Helper()
	op := storetest.Operator(t, e.db, username, role)
	if err := e.db.SetOperatorPassword(context.Background(), op.ID, passwordHash()); err != nil {
		t.Fatal(err)
	}
	op.PasswordHash = passwordHash()
	return op
}

// token is an access token for op, valid for an hour.
func (e *env) token(t testing.TB, op chat.Operator) string {
	t.Helper()
	tok, _, err := e.tokens.Issue(op.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// incoming stores a customer message, one minute after the previous event.
func (e *env) incoming(t testing.TB, c chat.Customer, text string) chat.Message {
	t.Helper()
	e.clock.Advance(time.Minute)
	m, err := e.svc.CustomerMessage(context.Background(), chat.Message{LineUserID: c.LineUserID, Content: text})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waiting makes a customer with a WAITING session and one message.
func (e *env) waiting(t testing.TB) chat.Customer {
	t.Helper()
	c := storetest.Customer(t, e.db)
	e.incoming(t, c, "I need a human")
	if _, created, _, _, err := e.svc.RequestHuman(context.Background(), c.LineUserID); err != nil || !created {
		t.Fatalf("handoff: created=%v err=%v", created, err)
	}
	return c
}

// active makes a customer whose session op has claimed.
func (e *env) active(t testing.TB, op chat.Operator) chat.Customer {
	t.Helper()
	c := e.waiting(t)
	if _, err := e.svc.Claim(context.Background(), op, c.LineUserID); err != nil {
		t.Fatal(err)
	}
	return c
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// call sends a request with a bearer token (if any); body is sent as is
// when a string, else as JSON.
func (e *env) call(t testing.TB, method, path, token string, body any) response {
	t.Helper()
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return e.callWith(t, method, path, h, body)
}

// callWith sends a request with the given headers.
func (e *env) callWith(t testing.TB, method, path string, header map[string]string, body any) response {
	t.Helper()
	r, err := e.send(method, path, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is callWith for goroutines other than the test's: it returns the
// error instead of failing the test.
func (e *env) send(method, path string, header map[string]string, body any) (response, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}, nil
}

// expect fails unless the status is want, and returns the decoded body.
func (r response) expect(t testing.TB, want int) map[string]any {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body %s", r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if bytes.Contains(r.Body, []byte("null")) {
		t.Errorf("body has a null: %s", r.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	return m
}

// expectError checks a JSON error's status, code and (if given) field.
func (r response) expectError(t testing.TB, status int, code string, field ...string) map[string]any {
	t.Helper()
	m := r.expect(t, status)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.Body)
	}
	if e["code"] != code {
		t.Fatalf("error code %v, want %s; body %s", e["code"], code, r.Body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("error without message: %s", r.Body)
	}
	if len(field) > 0 && e["field"] != field[0] {
		t.Errorf("error field %v, want %s; body %s", e["field"], field[0], r.Body)
	}
	return e
}

// list returns m[key] as a list of objects.
func list(t testing.TB, m map[string]any, key string) []map[string]any {
	t.Helper()
	raw, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%s is %T, want a list: %v", key, m[key], m)
	}
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i] = v.(map[string]any)
	}
	return out
}

// num reads a JSON number as int64.
func num(t testing.TB, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	return int64(f)
}

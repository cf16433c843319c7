package ws_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"livechat/asyncapi"
	"livechat/internal/api"
	"livechat/internal/auth"
	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/contract"
	"livechat/internal/contract/wstest"
	"livechat/internal/logctx"
	"livechat/internal/outbound"
	"livechat/internal/ratelimit"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC) // 10:00 in Bangkok

// env is a real server (httptest) over a real store and the real hub.
type env struct {
	t      testing.TB
	db     *store.DB
	svc    *chat.Service
	hub    *ws.Hub
	srv    *httptest.Server
	tokens *auth.Tokens
	clock  *clock.Fake
	out    *outbound.Recorder
	bus    bus.Bus
	logs   *logRecorder // everything the server logged
}

type envOption func(*ws.Options)

func newEnv(t testing.TB, db *store.DB, opts ...envOption) *env {
	t.Helper()
	return newEnvStore(t, db, db, opts...)
}

// newEnvStore is newEnv with the hub and the service reading through st
// (a wrapper of db that counts or holds reads).
func newEnvStore(t testing.TB, db *store.DB, st chat.Store, opts ...envOption) *env {
	t.Helper()
	return newEnvOn(t, db, st, bus.NewMemory(), opts...)
}

// newEnvOn is newEnvStore on bus b: envs on one bus are instances of one
// deployment (set each its own InstanceID).
func newEnvOn(t testing.TB, db *store.DB, st chat.Store, b bus.Bus, opts ...envOption) *env {
	t.Helper()
	return newEnvDeps(t, db, st, b, nil, nil, opts...)
}

// newEnvDeps is newEnvOn on clock clk (nil: one of its own; instances of a
// deployment share one) with deps, when not nil, changing the hub's
// dependencies (the env's clock is set by then).
func newEnvDeps(t testing.TB, db *store.DB, st chat.Store, b bus.Bus, clk *clock.Fake, deps func(*env, *ws.Deps), opts ...envOption) *env {
	t.Helper()
	if clk == nil {
		clk = clock.NewFake(t0)
	}
	logs := &logRecorder{}
	log := slog.New(logctx.NewHandler(logs)) // as the binary's: a context's ids on its lines
	validator, err := contract.New(asyncapi.YAML)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, clock: clk, out: outbound.NewRecorder(), logs: logs, bus: b}
	e.tokens = auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), clk)
	bkk, _ := time.LoadLocation("Asia/Bangkok")
	e.svc = chat.NewService(st, clk, e.out, log, bkk)
	o := ws.Options{InstanceID: "test", AllowedOrigins: []string{"https://admin.example.com"}}
	for _, f := range opts {
		f(&o)
	}
	d := ws.Deps{
		Store: st, Service: e.svc, Tokens: e.tokens, Bus: b, Validator: validator, Clock: clk, Log: log,
		Limit:  ratelimit.New(10, 30, clk),
		Typing: ratelimit.New(5, 10, clk),
	}
	if deps != nil {
		deps(e, &d)
	}
	e.hub = ws.NewHub(o, d)
	e.svc.SetNotifier(e.hub)
	e.srv = httptest.NewServer(api.New(api.Deps{DB: db, Socket: e.hub, AllowedOrigins: o.AllowedOrigins, Log: log}))
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.hub.Close(ctx); err != nil {
			t.Errorf("hub close: %v", err)
		}
		e.srv.Close()
		b.Close()
	})
	return e
}

func (e *env) url() string { return wstest.URL(e.srv.URL) }

func (e *env) token(t testing.TB, opID int64) string {
	t.Helper()
	tok, _, err := e.tokens.Issue(opID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// login opens a socket for op and authenticates it; it returns after the
// auth_success and the presence_update that follows it.
func (e *env) login(t testing.TB, op chat.Operator) *wstest.Client {
	t.Helper()
	c := wstest.Dial(t, e.url(), nil)
	c.Send("auth", map[string]any{"token": e.token(t, op.ID)})
	f := c.Expect("auth_success")
	if got := f.Map(t)["admin_id"]; got != idStr(op.ID) {
		t.Fatalf("auth_success admin_id = %v, want %d", got, op.ID)
	}
	c.WaitFor("presence_update")
	return c
}

// waiting makes a customer with a WAITING session.
func (e *env) waiting(t testing.TB) chat.Customer {
	t.Helper()
	cust := storetest.Customer(t, e.db)
	if _, created, _, _, err := e.svc.RequestHuman(context.Background(), cust.LineUserID); err != nil || !created {
		t.Fatalf("handoff: created=%v err=%v", created, err)
	}
	return cust
}

func idStr(id int64) string { return strconv.FormatInt(id, 10) }

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// sqlite is a fresh SQLite store, for tests whose subject is not the database.
func sqlite(t testing.TB) *store.DB { return storetest.Open(t, "sqlite") }

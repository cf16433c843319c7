package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"livechat/internal/api"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

type readyBody struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons"`
}

func ready(t *testing.T, d api.Deps) (int, readyBody) {
	t.Helper()
	d.Log = slog.New(slog.DiscardHandler)
	d.Socket = http.NotFoundHandler()
	rec := httptest.NewRecorder()
	api.New(d).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var b readyBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("readyz body %q: %v", rec.Body, err)
	}
	return rec.Code, b
}

// /readyz is 503 only when this instance's database fails; anything else
// wrong is 200 "degraded" with the reasons, so that a shared dependency
// never takes every instance out of the load balancer.
func TestReadiness(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	fine := func(context.Context) []string { return nil }
	if code, b := ready(t, api.Deps{DB: db, Checks: []api.Check{fine}}); code != 200 || b.Status != "ok" || len(b.Reasons) != 0 {
		t.Fatalf("healthy: %d %+v", code, b)
	}
	redisDown := func(context.Context) []string { return []string{"bus: redis unreachable"} }
	stuck := func(context.Context) []string { return []string{"inbox: stuck"} }
	code, b := ready(t, api.Deps{DB: db, Checks: []api.Check{redisDown, fine, stuck}})
	if code != 200 || b.Status != "degraded" || len(b.Reasons) != 2 || b.Reasons[0] != "bus: redis unreachable" || b.Reasons[1] != "inbox: stuck" {
		t.Fatalf("degraded: %d %+v", code, b)
	}
	code, b = ready(t, api.Deps{DB: failingDB{}, Checks: []api.Check{redisDown}})
	if code != 503 || b.Status != "unavailable" || len(b.Reasons) != 1 || b.Reasons[0] != "database: unreachable" {
		t.Fatalf("database down: %d %+v", code, b)
	}
}

type failingDB struct{}

func (failingDB) Ping(context.Context) error { return errors.New("connection refused") }

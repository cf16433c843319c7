package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"livechat/internal/api"
	"livechat/internal/bus"
	"livechat/internal/bus/redistest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

type readyBody struct {
	Status  string   `json:"status"`
	Redis   *string  `json:"redis"` // nil when absent
	Reasons []string `json:"reasons"`
}

func (b readyBody) redis() string {
	if b.Redis == nil {
		return "(absent)"
	}
	return *b.Redis
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
	if code, b := ready(t, api.Deps{DB: db, Checks: []api.Check{fine}}); code != 200 || b.Status != "ok" || len(b.Reasons) != 0 || b.Redis != nil {
		t.Fatalf("healthy, without Redis: %d %+v", code, b)
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

// With Redis configured, /readyz says "redis": "up" or "down"; down is
// degraded, never 503, and comes first among the reasons. The check here
// is a real Redis bus on a redis-server of the test's own, stopped and
// started again.
func TestReadinessRedis(t *testing.T) {
	srv := redistest.Start(t)
	db := storetest.Open(t, store.SQLite)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rb, err := bus.NewRedis(ctx, srv.URL, "livechat:test:readyz", slog.New(slog.DiscardHandler), bus.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	stuck := func(context.Context) []string { return []string{"inbox: stuck"} }
	web := httptest.NewServer(api.New(api.Deps{DB: db, Redis: rb.Ready, Socket: http.NotFoundHandler(), Log: slog.New(slog.DiscardHandler)}))
	defer web.Close()
	get := func() (int, readyBody) {
		t.Helper()
		resp, err := http.Get(web.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b readyBody
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
			t.Fatalf("readyz body: %v", err)
		}
		return resp.StatusCode, b
	}
	if code, b := get(); code != 200 || b.Status != "ok" || b.redis() != "up" || len(b.Reasons) != 0 {
		t.Fatalf("Redis up: %d %+v (redis %s)", code, b, b.redis())
	}

	srv.Stop()
	code, b := get()
	if code != 200 || b.Status != "degraded" || b.redis() != "down" || len(b.Reasons) != 1 || !strings.HasPrefix(b.Reasons[0], "bus: redis unreachable") {
		t.Fatalf("Redis down: %d %+v (redis %s)", code, b, b.redis())
	}
	// Redis's reason comes before the other reasons.
	code, b = ready(t, api.Deps{DB: db, Redis: rb.Ready, Checks: []api.Check{stuck}})
	if code != 200 || b.Status != "degraded" || b.redis() != "down" || len(b.Reasons) != 2 || b.Reasons[1] != "inbox: stuck" {
		t.Fatalf("Redis down, inbox stuck: %d %+v (redis %s)", code, b, b.redis())
	}
	// The database failing is 503 however Redis is.
	if code, b := ready(t, api.Deps{DB: failingDB{}, Redis: rb.Ready}); code != 503 || b.Status != "unavailable" {
		t.Fatalf("database and Redis down: %d %+v", code, b)
	}

	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, b := get()
		if code == 200 && b.Status == "ok" && b.redis() == "up" {
			break
		}
		if code != 200 || b.Status != "degraded" || b.redis() != "down" {
			t.Fatalf("Redis coming back: %d %+v (redis %s)", code, b, b.redis())
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz not ok within 15s of Redis coming back")
		}
		<-time.After(20 * time.Millisecond) // a probe's interval, as a load balancer's
	}
}

type failingDB struct{}

func (failingDB) Ping(context.Context) error { return errors.New("connection refused") }

package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// readyTimeout bounds one readiness probe.
const readyTimeout = 2 * time.Second

// readiness is GET /readyz. It answers 503 only when this instance cannot
// serve: its database fails. Anything else that is wrong (Redis, LINE, a
// stuck worker) makes it 200 with status "degraded" and the reasons: a
// shared dependency failing must never take every instance out of a load
// balancer at once. With Redis configured, "redis" says "up" or "down".
type readiness struct {
	db     Pinger
	redis  RedisCheck
	checks []Check
	log    *slog.Logger

	mu   sync.Mutex
	last string // the previous answer, to log changes only
}

type readyBody struct {
	Status  string   `json:"status"`          // ok, degraded or unavailable
	Redis   string   `json:"redis,omitempty"` // up or down; absent without Redis
	Reasons []string `json:"reasons,omitempty"`
}

// redisDown is the reason /readyz gives while Redis is down.
const redisDown = "bus: redis unreachable: this instance's sockets get its own events only; the other instances' are missed, and they miss this one's"

func (h *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := h.db.Ping(ctx); err != nil {
		body := readyBody{Status: "unavailable", Reasons: []string{"database: unreachable"}}
		h.changed(r.Context(), body, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	body := readyBody{Status: "ok"}
	var redisErr error
	if h.redis != nil {
		body.Redis = "up"
		if redisErr = h.redis(ctx); redisErr != nil {
			body.Redis = "down"
			body.Reasons = append(body.Reasons, redisDown)
		}
	}
	for _, c := range h.checks {
		body.Reasons = append(body.Reasons, c(ctx)...)
	}
	if len(body.Reasons) > 0 {
		body.Status = "degraded"
	}
	var args []any
	if redisErr != nil {
		args = append(args, "redis_err", redisErr)
	}
	h.changed(r.Context(), body, args...)
	writeJSON(w, http.StatusOK, body)
}

// changed logs an answer that differs from the previous one: probes come
// every few seconds, and only a change is news. The line is the probe's
// that saw it (ctx: its request id).
func (h *readiness) changed(ctx context.Context, b readyBody, args ...any) {
	key := b.Status + " " + b.Redis + ": " + strings.Join(b.Reasons, "; ")
	h.mu.Lock()
	same := key == h.last
	h.last = key
	h.mu.Unlock()
	if same {
		return
	}
	level := slog.LevelWarn
	if b.Status == "ok" {
		level = slog.LevelInfo
	}
	attrs := []any{"status", b.Status}
	if b.Redis != "" {
		attrs = append(attrs, "redis", b.Redis)
	}
	h.log.Log(ctx, level, "readiness changed", append(attrs, append([]any{"reasons", slices.Clone(b.Reasons)}, args...)...)...)
}

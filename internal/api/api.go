// Package api is the HTTP surface: health, the served spec, the WebSocket
// route and the REST API the dashboard uses. Errors are JSON
// {error: {code, message}} with a proper status.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"livechat/asyncapi"
	"livechat/internal/errcode"
)

// Pinger is the readiness check (the database).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Check is a readiness check of something this instance can serve
// without: a shared dependency (Redis, LINE) or a worker. It returns why
// it is degraded, nothing when it is fine.
type Check func(ctx context.Context) []string

// RedisCheck reports whether Redis is up: nil, or why not.
type RedisCheck func(ctx context.Context) error

// Deps are what the router serves.
type Deps struct {
	DB             Pinger
	Redis          RedisCheck   // nil when no Redis is configured; down degrades /readyz, never fails it
	Checks         []Check      // degrade /readyz, never fail it
	Socket         http.Handler // the WebSocket hub
	REST           http.Handler // /api/v1/… JSON endpoints; nil to leave them out
	Webhook        http.Handler // POST /api/v1/line/webhook (LINE-signed; no CORS, no bearer); nil to leave it out
	AllowedOrigins []string
	Log            *slog.Logger
}

// New returns the root handler. Every request gets an id (withRequestID).
func New(d Deps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", &readiness{db: d.DB, redis: d.Redis, checks: d.Checks, log: d.Log})
	mux.HandleFunc("GET /asyncapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		_, _ = w.Write(asyncapi.YAML)
	})
	mux.Handle("GET /api/v1/ws/live-chat", d.Socket)
	if d.Webhook != nil {
		mux.Handle("POST /api/v1/line/webhook", d.Webhook)
	}
	if d.REST != nil {
		mux.Handle("/api/v1/", cors(d.AllowedOrigins, d.REST))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, &errcode.Error{Code: errcode.NotFound, Message: "no such endpoint: " + r.Method + " " + r.URL.Path}, http.StatusNotFound)
	})
	return withRequestID(mux)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes {error: {code, message}}. status 0 takes the mapped one.
func WriteError(w http.ResponseWriter, err error, status int) { errcode.WriteHTTP(w, err, status) }

// cors lets the allowed browser origins call the REST API.
func cors(allowed []string, next http.Handler) http.Handler {
	set := map[string]bool{}
	for _, o := range allowed {
		set[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && set[origin] {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key")
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Expose-Headers", RequestIDHeader) // for the dashboard to quote
			h.Set("Access-Control-Max-Age", "600")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if origin == "" || !set[origin] {
				WriteError(w, &errcode.Error{Code: errcode.Forbidden, Message: "origin not allowed"}, http.StatusForbidden)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

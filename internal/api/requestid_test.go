package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"livechat/internal/api"
	"livechat/internal/clock"
	"livechat/internal/logctx"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/webhook"
)

// logBuffer is the JSON log of a server: what its handlers wrote, read by
// the test once each response is in (every line is written before it).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns the lines written since the last take.
func (b *logBuffer) take(t *testing.T) (raw string, lines []map[string]any) {
	t.Helper()
	b.mu.Lock()
	raw = b.buf.String()
	b.buf.Reset()
	b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimSpace(raw), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return raw, lines
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// The public router the way the binary builds it (the JSON log through
// logctx): every request gets an id in X-Request-Id, and its lines carry it.
func TestRequestID(t *testing.T) {
	logs := &logBuffer{}
	log := slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	db := storetest.Open(t, store.SQLite)
	srv := httptest.NewServer(api.New(api.Deps{
		DB: db, Socket: http.NotFoundHandler(), Log: log,
		Webhook: webhook.NewHandler("channel-secret", db, nil, clock.Real{}, log),
	}))
	t.Cleanup(srv.Close)
	_, _ = logs.take(t) // NewHandler's own lines

	do := func(method, path, requestID string) (*http.Response, string, []map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if requestID != "" {
			req.Header.Set("X-Request-Id", requestID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		raw, lines := logs.take(t)
		return resp, raw, lines
	}
	// one is the single line a request logged, with the id it answered with.
	one := func(what string, resp *http.Response, lines []map[string]any, msg string) string {
		t.Helper()
		id := resp.Header.Get("X-Request-Id")
		if len(lines) != 1 || lines[0]["msg"] != msg {
			t.Fatalf("%s: logged %v, want one %q", what, lines, msg)
		}
		if lines[0]["request_id"] != id {
			t.Fatalf("%s: line's request_id %v, response's X-Request-Id %q", what, lines[0]["request_id"], id)
		}
		return id
	}

	// A generated id: the probe that saw readiness change logs it.
	resp, _, lines := do("GET", "/readyz", "")
	ready := one("readyz", resp, lines, "readiness changed")
	if !generatedID.MatchString(ready) {
		t.Fatalf("generated id %q, want 16 hex digits", ready)
	}

	// Each request its own id, also where nothing is logged.
	resp, _, _ = do("GET", "/healthz", "")
	if h := resp.Header.Get("X-Request-Id"); !generatedID.MatchString(h) || h == ready {
		t.Fatalf("healthz X-Request-Id %q (readyz had %q)", h, ready)
	}
	resp, _, _ = do("GET", "/nope", "")
	if resp.StatusCode != 404 || !generatedID.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Fatalf("404: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}

	// A safe incoming id (a proxy's) is kept: the webhook's refusal logs it.
	for _, safe := range []string{"proxy-7f3a.B_9", "x", strings.Repeat("a", 64)} {
		resp, _, lines = do("POST", webhook.Path, safe)
		if resp.StatusCode != 401 {
			t.Fatalf("unsigned webhook: %d", resp.StatusCode)
		}
		if got := one("safe "+safe, resp, lines, "webhook refused: no signature"); got != safe {
			t.Fatalf("safe incoming id %q answered as %q", safe, got)
		}
	}

	// Anything else is replaced, and never logged.
	seen := map[string]bool{}
	for _, unsafe := range []string{
		strings.Repeat("a", 65),
		`evil" msg="forged`,
		"two words",
		"a\tb",
		"id=1;drop",
		"ünïcode",
		"<script>",
		"../../etc",
	} {
		resp, raw, lines := do("POST", webhook.Path, unsafe)
		got := one("unsafe "+unsafe, resp, lines, "webhook refused: no signature")
		if !generatedID.MatchString(got) || seen[got] {
			t.Fatalf("unsafe incoming id %q answered as %q, want a fresh one", unsafe, got)
		}
		seen[got] = true
		if strings.Contains(raw, unsafe) {
			t.Fatalf("unsafe incoming id %q was logged: %s", unsafe, raw)
		}
	}
}

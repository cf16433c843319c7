package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"livechat/internal/config"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"livechat/internal/auth"
	"livechat/internal/clock"
	"livechat/internal/contract/wstest"
)

type result struct {
	code           int
	stdout, stderr string
}

// getenvOf reads env, with the metrics listener off unless env sets it:
// tests run many servers at once, which the default port does not allow.
func getenvOf(env map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := env[k]; ok || k != "LIVECHAT_METRICS_ADDR" {
			return v
		}
		return config.Off
	}
}

func runCmd(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, getenvOf(env), strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func TestSubcommandsInAnEmptyFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data") // does not exist yet
	env := map[string]string{"LIVECHAT_DATA_DIR": dir}

	if r := runCmd(t, env, "", "migrate"); r.code != 0 || r.stdout != "" {
		t.Fatalf("migrate: %+v", r)
	}
	r := runCmd(t, env, "a-long-password\n", "operator", "create", "--username", "alice", "--display-name", "Alice", "--role", "admin")
	if r.code != 0 || r.stdout != "1\n" {
		t.Fatalf("operator create: %+v", r)
	}
	r = runCmd(t, env, "", "operator", "create", "--username", "bob", "--display-name", "Bob", "--role", "agent", "--password", "another-password")
	if r.code != 0 || r.stdout != "2\n" {
		t.Fatalf("operator create with --password: %+v", r)
	}
	r = runCmd(t, env, "", "token", "--operator-id", "1", "--ttl", "2h")
	if r.code != 0 || !regexp.MustCompile(`^[\w-]+\.[\w-]+\.[\w-]+\n$`).MatchString(r.stdout) {
		t.Fatalf("token: %+v", r)
	}
	if !strings.Contains(r.stderr, "generated a JWT secret") {
		t.Fatalf("the first command needing the secret must say it generated one: %s", r.stderr)
	}
	info, err := os.Stat(filepath.Join(dir, auth.SecretFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", info, err)
	}
	secret, _, err := auth.LoadOrCreateSecret("", dir)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := auth.NewTokens(secret, clock.Real{}).Verify(strings.TrimSpace(r.stdout))
	if err != nil || claims.OperatorID != 1 || time.Until(claims.ExpiresAt) < 110*time.Minute {
		t.Fatalf("token verifies to %+v, %v", claims, err)
	}
	// Later commands reuse the same secret.
	r2 := runCmd(t, env, "", "token", "--operator-id", "2")
	if _, err := auth.NewTokens(secret, clock.Real{}).Verify(strings.TrimSpace(r2.stdout)); err != nil || strings.Contains(r2.stderr, "generated") {
		t.Fatalf("second token: %v %s", err, r2.stderr)
	}
	if r := runCmd(t, env, "", "operator", "disable", "--id", "2"); r.code != 0 {
		t.Fatalf("disable: %+v", r)
	}
	if r := runCmd(t, env, "", "token", "--operator-id", "2"); r.code != 1 || !strings.Contains(r.stderr, "disabled") {
		t.Fatalf("token for a disabled operator: %+v", r)
	}
}

func TestBadInvocationsFailWithAMessage(t *testing.T) {
	env := map[string]string{"LIVECHAT_DATA_DIR": t.TempDir()}
	runCmd(t, env, "", "operator", "create", "--username", "alice", "--display-name", "A", "--role", "admin", "--password", "long-enough")
	cases := []struct {
		args  []string
		stdin string
		code  int
		msg   string
	}{
		{nil, "", 2, "usage"},
		{[]string{"bogus"}, "", 2, "unknown command"},
		{[]string{"operator"}, "", 2, "create or disable"},
		{[]string{"operator", "create", "--username", "b b", "--display-name", "", "--role", "boss"}, "", 2, "--role"},
		{[]string{"operator", "create", "--username", "bob", "--display-name", "Bob", "--role", "agent"}, "short\n", 1, "at least 8"},
		{[]string{"operator", "create", "--username", "alice", "--display-name", "A", "--role", "agent", "--password", "long-enough"}, "", 1, "already taken"},
		{[]string{"operator", "disable", "--id", "99"}, "", 1, "no operator"},
		{[]string{"token", "--operator-id", "99"}, "", 1, "no operator"},
		{[]string{"token"}, "", 2, "--operator-id"},
		{[]string{"token", "--operator-id", "1", "--ttl", "-1h"}, "", 2, "--ttl"},
		{[]string{"migrate", "extra"}, "", 2, "unexpected argument"},
	}
	for _, tc := range cases {
		r := runCmd(t, env, tc.stdin, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
			t.Errorf("%v: code %d stdout %q stderr %q; want code %d mentioning %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.msg)
		}
	}
	if r := runCmd(t, map[string]string{"LIVECHAT_DATA_DIR": t.TempDir(), "LIVECHAT_DATABASE_URL": "mysql://x"}, "", "migrate"); r.code != 1 || !strings.Contains(r.stderr, "LIVECHAT_DATABASE_URL") {
		t.Errorf("bad config: %+v", r)
	}
}

// lineWriter calls found when a line matching re is written.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := w.re.FindStringSubmatch(w.buf.String()); m != nil && w.found != nil {
		w.found <- m[1]
		w.found = nil
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

type readyBody struct {
	Status  string   `json:"status"`
	Redis   string   `json:"redis"`
	Reasons []string `json:"reasons"`
}

func readyz(t *testing.T, addr string) (int, readyBody) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	var b readyBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatalf("readyz body: %v", err)
	}
	return resp.StatusCode, b
}

// TestServeEndToEnd runs the real serve command: a token from the CLI
// authenticates over the socket, a second server on the same data dir with
// the in-process bus is refused, and cancelling (SIGTERM) shuts down cleanly.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"LIVECHAT_DATA_DIR": dir, "LIVECHAT_ADDR": "127.0.0.1:0", "LIVECHAT_METRICS_ADDR": "127.0.0.1:0"}
	runCmd(t, env, "", "operator", "create", "--username", "alice", "--display-name", "Alice", "--role", "agent", "--password", "long-enough")
	tok := strings.TrimSpace(runCmd(t, env, "", "token", "--operator-id", "1").stdout)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	found := make(chan string, 1) // read here, not through w: Write clears w.found
	w := &lineWriter{re: regexp.MustCompile(`serving on http://(\S+)`), found: found}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, getenvOf(env), strings.NewReader(""), io.Discard, w)
	}()
	var addr string
	select {
	case addr = <-found:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, w.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}

	c := wstest.Dial(t, "ws://"+addr+"/api/v1/ws/live-chat", nil)
	c.Send("auth", map[string]any{"token": tok})
	c.Expect("auth_success")
	c.Send("ping", nil)
	c.WaitFor("pong")
	c.Send("no_such_event", nil)
	c.WaitFor("error")
	checkMetrics(t, w.String())
	// Up, but without LINE: degraded, and says why.
	if code, body := readyz(t, addr); code != 200 || body.Status != "degraded" || len(body.Reasons) != 2 ||
		!strings.Contains(body.Reasons[0], "LIVECHAT_LINE_CHANNEL_TOKEN") || !strings.Contains(body.Reasons[1], "LIVECHAT_LINE_CHANNEL_SECRET") {
		t.Fatalf("readyz: %d %+v", code, body)
	}

	r := runCmd(t, map[string]string{"LIVECHAT_DATA_DIR": dir, "LIVECHAT_ADDR": "127.0.0.1:0"}, "", "serve")
	if r.code != 1 || !strings.Contains(r.stderr, "already serving data dir") {
		t.Fatalf("second serve: %+v", r)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d after shutdown: %s", code, w.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if got := c.ExpectClosed(); got != 1001 {
		t.Fatalf("socket closed with %d at shutdown, want 1001 (going away)", got)
	}
}

// checkMetrics reads /metrics from the listener the server logged and
// checks the series the issue names, with the socket's own traffic.
func checkMetrics(t *testing.T, logs string) {
	t.Helper()
	m := regexp.MustCompile(`"metrics serving" addr=(\S+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no metrics listener in the logs:\n%s", logs)
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, series := range []string{
		"livechat_ws_sockets 1",
		"livechat_ws_operators 1",
		`livechat_ws_frames_in_total{type="auth"} 1`,
		`livechat_ws_frames_in_total{type="ping"} 1`,
		`livechat_ws_frames_in_total{type="unknown"} 1`,
		`livechat_ws_frames_out_total{type="auth_success"} 1`,
		`livechat_ws_frames_out_total{type="pong"} 1`,
		`livechat_errors_total{code="unknown_event",transport="ws"} 1`,
		"livechat_ws_send_seconds_count 0",
		`livechat_db_query_seconds_count{op="SELECT"}`,
		`livechat_sla_alerts_total{severity="critical"} 0`,
		`livechat_backlog_rows{queue="outbox",state="pending"} 0`,
		`livechat_backlog_rows{queue="inbox",state="dead"} 0`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %q", series)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livechat/internal/contract/wstest"
	"livechat/internal/line/linefake"
	"livechat/internal/simulate"
)

// simBuffer is a bytes.Buffer safe for a writer and a reader in two goroutines.
type simBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *simBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *simBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// simServe runs the real serve command in-process with env and returns
// its address; the server stops (and is checked to exit 0) at cleanup.
func simServe(t *testing.T, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	found := make(chan string, 1)
	w := &lineWriter{re: regexp.MustCompile(`serving on http://(\S+)`), found: found}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, getenvOf(env), strings.NewReader(""), io.Discard, w)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d after shutdown: %s", code, w.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	select {
	case addr := <-found:
		return addr
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, w.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
}

// simSetup starts the fake LINE and the real serve command pointed at it
// (business hours all week), with the admin operator 1, and returns the
// fake, its base URL, the server's environment and address, the
// operator's token and its authenticated socket.
func simSetup(t *testing.T) (fake *linefake.Server, base string, env map[string]string, addr, tok string, op *wstest.Client) {
	t.Helper()
	const (
		secret = "simulate-test-channel-secret"
		token  = "simulate-test-channel-token"
	)
	fake = linefake.New(token)
	base = fake.Start()
	t.Cleanup(fake.Close)
	env = map[string]string{
		"LIVECHAT_DATA_DIR":            t.TempDir(),
		"LIVECHAT_ADDR":                "127.0.0.1:0",
		"LIVECHAT_LINE_API_BASE":       base,
		"LIVECHAT_LINE_DATA_API_BASE":  base,
		"LIVECHAT_LINE_CHANNEL_SECRET": secret,
		"LIVECHAT_LINE_CHANNEL_TOKEN":  token,
		"LIVECHAT_BUSINESS_HOURS":      "mon-sun 00:00-24:00",
		"LIVECHAT_LOG_LEVEL":           "warn",
	}
	if r := runCmd(t, env, "", "operator", "create", "--username", "alice", "--display-name", "Alice", "--role", "admin", "--password", "long-enough"); r.code != 0 {
		t.Fatalf("operator create: %+v", r)
	}
	tok = strings.TrimSpace(runCmd(t, env, "", "token", "--operator-id", "1").stdout)
	addr = simServe(t, env)

	op = wstest.Dial(t, "ws://"+addr+"/api/v1/ws/live-chat", nil)
	op.Send("auth", map[string]any{"token": tok})
	op.Expect("auth_success")
	return fake, base, env, addr, tok, op
}

// simWaitFrame skips frames until one of type typ satisfies ok.
func simWaitFrame(t *testing.T, c *wstest.Client, typ string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(wstest.Timeout)
	for time.Now().Before(deadline) {
		if p := c.WaitFor(typ).Map(t); ok(p) {
			return p
		}
	}
	t.Fatalf("no matching %s within %v", typ, wstest.Timeout)
	return nil
}

func simForUser(u string) func(map[string]any) bool {
	return func(p map[string]any) bool { return p["line_user_id"] == u }
}

// TestSimulateEndToEnd runs the whole loop on one machine: the real serve
// command pointed at the fake LINE, the simulator playing two customers,
// and an operator over a real socket whose every frame is validated
// against the spec. The customers queue, the operator claims each one and
// writes, the customer's answer comes back through the webhook, the
// operator closes, the customer rates, and the score is stored.
func TestSimulateEndToEnd(t *testing.T) {
	const (
		seed  = 7
		score = 4
	)
	fake, base, env, addr, tok, op := simSetup(t)

	customers := simulate.Customers(seed, 2, score)
	var transcript, logs simBuffer
	simDone := make(chan int, 1)
	simCtx, stopSim := context.WithCancel(t.Context())
	defer stopSim()
	go func() {
		simDone <- run(simCtx, []string{"simulate", "--server", "http://" + addr, "--fakeline", base,
			"--customers", "2", "--seed", strconv.Itoa(seed), "--score", strconv.Itoa(score), "--duration", "25s"},
			getenvOf(env), strings.NewReader(""), &transcript, &logs)
	}()

	sessions := map[string]int64{}
	for len(sessions) < len(customers) {
		q := op.WaitFor("session_queued").Map(t)
		u, _ := q["line_user_id"].(string)
		sessions[u] = int64(q["session_id"].(float64))
		var want string
		for _, c := range customers {
			if c.UserID == u {
				want = c.Name
			}
		}
		if want == "" || q["display_name"] != want {
			t.Fatalf("session_queued %v: want one of the simulated customers, named from the fake LINE's profile", q)
		}
	}

	for _, c := range customers {
		op.Send("join_room", map[string]any{"line_user_id": c.UserID})
		simWaitFrame(t, op, "conversation_update", func(p map[string]any) bool { return p["line_user_id"] == c.UserID && p["messages"] != nil })
		op.Send("claim_session", map[string]any{})
		simWaitFrame(t, op, "session_claimed", simForUser(c.UserID))
		text := fmt.Sprintf("Hello %s, how can I help?", c.Name)
		op.Send("send_message", map[string]any{"text": text, "temp_id": "t-" + c.UserID})
		simWaitFrame(t, op, "message_sent", func(p map[string]any) bool { return p["temp_id"] == "t-"+c.UserID })
		answer := fmt.Sprintf("Thanks! My order #%d has not arrived yet.", 1000+c.N)
		simWaitFrame(t, op, "new_message", func(p map[string]any) bool {
			return p["line_user_id"] == c.UserID && p["direction"] == "INCOMING" && p["content"] == answer
		})
		op.Send("close_session", map[string]any{})
		simWaitFrame(t, op, "session_closed", simForUser(c.UserID))
	}

	select {
	case code := <-simDone:
		if code != 0 {
			t.Fatalf("simulate exited %d\ntranscript:\n%s\nlogs:\n%s", code, transcript.String(), logs.String())
		}
	case <-time.After(25 * time.Second):
		t.Fatalf("simulate did not finish\ntranscript:\n%s\nlogs:\n%s", transcript.String(), logs.String())
	}

	for _, c := range customers {
		id := sessions[c.UserID]
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/admin/live-chat/sessions/"+strconv.FormatInt(id, 10), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || got["csat_score"] != float64(score) || got["status"] != "CLOSED" {
			t.Fatalf("session %d of %s: %d %v %v, want CLOSED with csat_score %d", id, c.Name, resp.StatusCode, got, err, score)
		}
		// What the customer saw and did, in the transcript.
		out := transcript.String()
		for _, want := range []string{
			c.Name + " -> follow",
			c.Name + " -> text     " + simulate.Handoff,
			c.Name + " <- reply    ",
			c.Name + " <- operator Hello " + c.Name + ", how can I help?",
			fmt.Sprintf("%s <- survey   rate session %d", c.Name, id),
			fmt.Sprintf("%s -> postback csat|%d|%d", c.Name, id, score),
		} {
			if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3}  ` + regexp.QuoteMeta(strings.Replace(want, c.Name+" ", fmt.Sprintf("%-12s ", c.Name), 1))).MatchString(out) {
				t.Errorf("transcript lacks %q:\n%s", want, out)
			}
		}
	}
	t.Logf("transcript:\n%s", transcript.String())
	// The operator's text reached each customer once, through the fake LINE.
	for _, c := range customers {
		n := 0
		for _, r := range fake.Deliveries() {
			if r.To == c.UserID && len(r.Messages) == 1 && r.Messages[0]["text"] == fmt.Sprintf("Hello %s, how can I help?", c.Name) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s got the operator's text %d times at the fake LINE, want 1", c.Name, n)
		}
	}
	op.Sync()
}

// TestSimulateQueuesInListOrder: the customers join the queue in the order
// of --list, so the first one listed (whose join_room the demo prints) is
// the first in the queue.
func TestSimulateQueuesInListOrder(t *testing.T) {
	const (
		seed = 11
		n    = 5
	)
	_, base, env, addr, _, op := simSetup(t)

	var transcript, logs simBuffer
	simDone := make(chan int, 1)
	simCtx, stopSim := context.WithCancel(t.Context())
	defer stopSim()
	go func() {
		simDone <- run(simCtx, []string{"simulate", "--server", "http://" + addr, "--fakeline", base,
			"--customers", strconv.Itoa(n), "--seed", strconv.Itoa(seed), "--duration", "25s"},
			getenvOf(env), strings.NewReader(""), &transcript, &logs)
	}()

	list := runCmd(t, nil, "", "simulate", "--list", "--customers", strconv.Itoa(n), "--seed", strconv.Itoa(seed)).stdout
	for i, line := range strings.Split(strings.TrimSuffix(list, "\n"), "\n") {
		id, name, _ := strings.Cut(line, "\t")
		q := op.WaitFor("session_queued").Map(t)
		if q["line_user_id"] != id || q["display_name"] != name || q["queue_position"] != float64(i+1) || q["total_waiting"] != float64(i+1) {
			t.Fatalf("session_queued %d = %v, want %s (%s) at queue_position %d of %d\ntranscript:\n%s",
				i+1, q, id, name, i+1, i+1, transcript.String())
		}
	}
	stopSim()
	select {
	case <-simDone:
	case <-time.After(wstest.Timeout):
		t.Fatal("simulate did not stop when interrupted")
	}
	op.Sync()
}

func TestSimulateBadFlags(t *testing.T) {
	env := map[string]string{}
	ok := []string{"--server", "http://127.0.0.1:1", "--customers", "1", "--secret", "s"}
	cases := []struct {
		args []string
		msg  string
	}{
		{nil, "--server is required"},
		{[]string{"--customers", "1", "--secret", "s"}, "--server is required"},
		{[]string{"--server", "127.0.0.1:8080", "--customers", "1", "--secret", "s"}, "--server must be an http"},
		{[]string{"--server", "ftp://x", "--customers", "1", "--secret", "s"}, "--server must be an http"},
		{append(ok, "--fakeline", "nope"), "--fakeline must be an http"},
		{[]string{"--server", "http://x", "--secret", "s"}, "--customers must be 1-1000"},
		{[]string{"--server", "http://x", "--customers", "0", "--secret", "s"}, "--customers must be 1-1000"},
		{[]string{"--server", "http://x", "--customers", "1001", "--secret", "s"}, "--customers must be 1-1000"},
		{[]string{"--server", "http://x", "--customers", "many", "--secret", "s"}, "invalid value"},
		{[]string{"--server", "http://x", "--customers", "1"}, "LIVECHAT_LINE_CHANNEL_SECRET"},
		{append(ok, "--duration", "0s"), "--duration must be positive"},
		{append(ok, "--duration", "-1m"), "--duration must be positive"},
		{append(ok, "--duration", "soon"), "invalid value"},
		{append(ok, "--score", "6"), "--score must be 1-5"},
		{append(ok, "--seed", "-1"), "invalid value"},
		{append(ok, "extra"), "unexpected argument"},
		{[]string{"--list", "--customers", "0"}, "--list needs --customers 1-1000"},
		{[]string{"--list", "--customers", "1", "--score", "7"}, "--score 1-5"},
		{[]string{"--bogus"}, "not defined"},
	}
	for _, tc := range cases {
		r := runCmd(t, env, "", append([]string{"simulate"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
			t.Errorf("%v: code %d stdout %q stderr %q; want code 2 mentioning %q", tc.args, r.code, r.stdout, r.stderr, tc.msg)
		}
	}
	// The secret may come from the server's variable instead of --secret:
	// then the flags are fine and what fails is the unreachable fake LINE.
	r := runCmd(t, map[string]string{"LIVECHAT_LINE_CHANNEL_SECRET": "s"}, "", "simulate", "--server", "http://127.0.0.1:1", "--fakeline", "http://127.0.0.1:1", "--customers", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "fake LINE at http://127.0.0.1:1 is unreachable") {
		t.Errorf("secret from the environment: %+v", r)
	}
}

// simClosedAddr is a loopback address nobody listens on.
func simClosedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSimulateUnreachable(t *testing.T) {
	fake := linefake.New("")
	base := fake.Start()
	t.Cleanup(fake.Close)
	down := "http://" + simClosedAddr(t)

	r := runCmd(t, nil, "", "simulate", "--server", base, "--fakeline", down, "--customers", "1", "--secret", "s")
	if r.code != 1 || !strings.Contains(r.stderr, "the fake LINE at "+down+" is unreachable") {
		t.Errorf("fake LINE down: %+v", r)
	}
	r = runCmd(t, nil, "", "simulate", "--server", down, "--fakeline", base, "--customers", "1", "--secret", "s")
	if r.code != 1 || !strings.Contains(r.stderr, "the livechat server at "+down+" is unreachable") {
		t.Errorf("server down: %+v", r)
	}
	// Something that is not the fake LINE (here, the server role played by
	// the fake itself has no webhook).
	r = runCmd(t, nil, "", "simulate", "--server", base, "--fakeline", base, "--customers", "1", "--secret", "s")
	if r.code != 1 || !strings.Contains(r.stderr, "no webhook at "+base+"/api/v1/line/webhook") {
		t.Errorf("not a livechat server: %+v", r)
	}
}

func TestSimulateWrongSecret(t *testing.T) {
	fake := linefake.New("tok")
	base := fake.Start()
	t.Cleanup(fake.Close)
	env := map[string]string{
		"LIVECHAT_DATA_DIR": t.TempDir(), "LIVECHAT_ADDR": "127.0.0.1:0", "LIVECHAT_LOG_LEVEL": "error",
		"LIVECHAT_LINE_API_BASE": base, "LIVECHAT_LINE_CHANNEL_SECRET": "the-server-secret", "LIVECHAT_LINE_CHANNEL_TOKEN": "tok",
	}
	addr := simServe(t, env)
	r := runCmd(t, nil, "", "simulate", "--server", "http://"+addr, "--fakeline", base, "--customers", "1", "--secret", "another-secret")
	if r.code != 1 || !strings.Contains(r.stderr, "rejected the webhook signature") {
		t.Errorf("wrong secret: %+v", r)
	}
}

func TestSimulateList(t *testing.T) {
	r := runCmd(t, nil, "", "simulate", "--list", "--customers", "2", "--seed", "42")
	want := ""
	for _, c := range simulate.Customers(42, 2, 0) {
		want += c.UserID + "\t" + c.Name + "\n"
	}
	if r.code != 0 || r.stdout != want || !regexp.MustCompile(`^U[0-9a-f]{32}\tCustomer 1\nU[0-9a-f]{32}\tCustomer 2\n$`).MatchString(r.stdout) {
		t.Fatalf("list: %+v, want %q", r, want)
	}
}

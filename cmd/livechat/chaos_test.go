package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bench"
	"livechat/internal/bench/proc"
	"livechat/internal/bus/redistest"
	"livechat/internal/chat"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/simulate"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/webhook"
)

// The chaos test (issue 9, item 5): two real `livechat serve` processes
// (this test binary, through TestMain) on a Postgres schema and a Redis of
// the test's own, a fake LINE, 10 operators, each the owner of a room on one
// instance and the watcher of another room on the other instance. Operators
// send, customers write through signed webhooks to either instance, while
// Redis is restarted, one server is SIGKILLed and restarted on the same
// port, and clients are cut without a close frame. Every client resumes
// with join_room.last_seq on the other instance, retrying an unacknowledged
// send with its temp_id. At the end every client must hold every message of
// its room exactly once, in seq order; the store exactly what was
// acknowledged; the fake LINE every operator message exactly once.

// chaosEnv turns the full run (about 60 s, at least 2,000 messages) on;
// without it a small run (a few hundred messages, each fault once) runs
// whenever Postgres and Redis tests run.
const chaosEnv = "LIVECHAT_TEST_CHAOS"

type chaosProfile struct {
	name        string
	load        time.Duration // how long messages are sent
	opEvery     time.Duration // each room's operator sends one message this often
	custEvery   time.Duration // each room's customer writes this often
	killFor     time.Duration // the SIGKILLed server stays down this long
	redisFor    time.Duration // Redis stays down this long
	minMessages int
}

var (
	chaosFull  = chaosProfile{name: "full", load: 45 * time.Second, opEvery: 300 * time.Millisecond, custEvery: 600 * time.Millisecond, killFor: 2 * time.Second, redisFor: 3 * time.Second, minMessages: 2000}
	chaosSmall = chaosProfile{name: "small", load: 8 * time.Second, opEvery: 250 * time.Millisecond, custEvery: 500 * time.Millisecond, killFor: time.Second, redisFor: 1500 * time.Millisecond, minMessages: 200}
)

const (
	chaosRooms     = 10
	chaosInstances = 2
)

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers, Redis and a fake LINE, and loads them for seconds")
	}
	prof := chaosSmall
	if os.Getenv(chaosEnv) == "1" {
		prof = chaosFull
	}
	pgURL := storetest.PostgresURL(t) // skips without LIVECHAT_TEST_POSTGRES_DSN
	rds := redistest.Start(t)         // skips without LIVECHAT_TEST_REDIS_URL
	h := newChaosHarness(t, prof, pgURL, rds)
	h.run()
}

// --- the harness ------------------------------------------------------

type chaosHarness struct {
	t     *testing.T
	prof  chaosProfile
	ctx   context.Context
	start time.Time // the test's clock: faults are scheduled on it
	dir   string

	pgURL    string
	redis    *redistest.Server
	line     *linefake.Server
	lineBase string
	db       *store.DB
	secret   string
	env      []string // the servers' and CLI's

	srvMu   sync.Mutex
	servers [chaosInstances]*proc.Process
	addrs   [chaosInstances]string // fixed: a restart takes the same port

	tokens  []string // operator i's JWT
	rooms   []string // room i's customer (owned by operator i)
	base    []int64  // room i's last seq before the load
	clients []*chaosClient

	events *simulate.Events
	hook   *http.Client

	accMu    sync.Mutex
	accepted map[string]int // customer texts answered 200 → instance
	failedWH int            // webhook attempts that got no 200 (retried)

	faults []faultRecord
	fmu    sync.Mutex
}

type faultRecord struct {
	what     string
	from, to time.Duration
}

func newChaosHarness(t *testing.T, prof chaosProfile, pgURL string, rds *redistest.Server) *chaosHarness {
	return &chaosHarness{t: t, prof: prof, ctx: t.Context(), dir: t.TempDir(), pgURL: pgURL, redis: rds,
		secret: "chaos-secret-" + strconv.FormatInt(time.Now().UnixNano(), 16), events: simulate.NewEvents(),
		hook: &http.Client{Timeout: 10 * time.Second}, accepted: map[string]int{}}
}

func (h *chaosHarness) now() time.Duration { return time.Since(h.start) }

func (h *chaosHarness) logf(format string, args ...any) {
	h.t.Helper()
	h.t.Logf("[%6.2fs] "+format, append([]any{h.now().Seconds()}, args...)...)
}

func (h *chaosHarness) run() {
	t := h.t
	h.start = time.Now()
	h.setUpServers()
	h.setUpOperators()
	h.setUpRooms()
	h.logf("set up: %d rooms, %d clients on %v", len(h.rooms), len(h.clients), h.addrs)

	// The load.
	loadCtx, stopLoad := context.WithCancel(h.ctx)
	var senders, customers sync.WaitGroup
	for i := range h.rooms {
		senders.Go(func() { h.operatorLoad(loadCtx, i) })
		customers.Go(func() { h.customerLoad(loadCtx, i) })
	}
	loadStart := h.now()
	h.faultSchedule(loadStart)
	stopLoad()
	h.logf("load stopped; waiting for every send and webhook to be answered")
	if !waitGroup(&senders, 90*time.Second) {
		t.Errorf("operator senders still unanswered 90 s after the load stopped")
	}
	if !waitGroup(&customers, 60*time.Second) {
		t.Errorf("customer webhooks still unanswered 60 s after the load stopped")
	}
	h.check()
}

// waitGroup waits for wg within d.
func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// freePort is a loopback port nothing listens on now.
func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var chaosServing = regexp.MustCompile(`livechat is serving on http://(\S+)`)

func (h *chaosHarness) setUpServers() {
	t := h.t
	token := "chaos-token"
	h.line = linefake.New(token)
	h.lineBase = h.line.Start()
	t.Cleanup(h.line.Close)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIVECHAT_") {
			env = append(env, kv)
		}
	}
	env = append(env, asLivechat+"=1", "LIVECHAT_METRICS_ADDR=", "LIVECHAT_DATABASE_URL="+h.pgURL, "LIVECHAT_JWT_SECRET=chaos-jwt-secret-0123456789abcdef",
		"LIVECHAT_LOG_LEVEL=info")
	h.env = env
	if _, err := h.cli("migrate"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for i := range chaosInstances {
		h.addrs[i] = freePort(t)
		h.startServer(i)
	}
	t.Cleanup(func() {
		h.srvMu.Lock()
		defer h.srvMu.Unlock()
		for i, p := range h.servers {
			if p != nil {
				if err := p.Stop(10 * time.Second); err != nil {
					t.Logf("server %d: %v", i, err)
				}
			}
		}
	})
	var err error
	h.db, err = store.Open(h.ctx, store.Config{URL: h.pgURL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	t.Cleanup(func() { _ = h.db.Close() })
}

// serverEnv is instance i's environment, the same at every start.
func (h *chaosHarness) serverEnv(i int) []string {
	lineURL := h.lineURL()
	env := append(append([]string{}, h.env...), bench.ServerEnv(lineURL, "chaos-token", h.secret)...)
	return append(env, "LIVECHAT_ADDR="+h.addrs[i], "LIVECHAT_REDIS_URL="+h.redis.URL,
		"LIVECHAT_DATA_DIR="+filepath.Join(h.dir, "data"+strconv.Itoa(i)))
}

func (h *chaosHarness) lineURL() string { return h.lineBase }

// startServer starts (or restarts) instance i on its port and waits until
// it serves.
func (h *chaosHarness) startServer(i int) {
	h.t.Helper()
	p, addr, err := proc.Start(h.ctx, proc.Spec{Name: "server" + strconv.Itoa(i), Path: h.exe(), Args: []string{"serve"},
		Env: h.serverEnv(i), CPU: proc.Unpinned, Log: filepath.Join(h.dir, "server"+strconv.Itoa(i)+".log"),
		Ready: chaosServing, ReadyTimeout: 60 * time.Second})
	if err != nil {
		h.t.Fatalf("start server %d: %v", i, err)
	}
	if addr != h.addrs[i] {
		h.t.Fatalf("server %d serves on %s, want %s", i, addr, h.addrs[i])
	}
	h.srvMu.Lock()
	h.servers[i] = p
	h.srvMu.Unlock()
}

// kill SIGKILLs instance i and waits until it is gone.
func (h *chaosHarness) kill(i int) {
	h.srvMu.Lock()
	p := h.servers[i]
	h.servers[i] = nil
	h.srvMu.Unlock()
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		h.t.Fatalf("server %d survived SIGKILL for 10 s", i)
	}
}

func (h *chaosHarness) exe() string {
	exe, err := os.Executable()
	if err != nil {
		h.t.Fatal(err)
	}
	return exe
}

// cli runs a livechat command in-process (as the CLI does) and returns its stdout.
func (h *chaosHarness) cli(args ...string) (string, error) {
	env := map[string]string{}
	for _, kv := range h.env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	env["LIVECHAT_DATA_DIR"] = filepath.Join(h.dir, "cli")
	var out, errb bytes.Buffer
	if code := run(h.ctx, args, getenvOf(env), strings.NewReader(""), &out, &errb); code != 0 {
		return "", fmt.Errorf("livechat %s exited %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

func (h *chaosHarness) setUpOperators() {
	for i := range chaosRooms {
		role := "agent"
		if i == 0 {
			role = "admin"
		}
		name := "chaos-op-" + strconv.Itoa(i)
		id, err := h.cli("operator", "create", "--username", name, "--display-name", "Chaos "+strconv.Itoa(i),
			"--role", role, "--password", "chaos-password-"+strconv.Itoa(i))
		if err != nil {
			h.t.Fatalf("operator %s: %v", name, err)
		}
		tok, err := h.cli("token", "--operator-id", id, "--ttl", "2h")
		if err != nil {
			h.t.Fatalf("token of %s: %v", name, err)
		}
		h.tokens = append(h.tokens, tok)
	}
}

// wsURL is instance i's socket.
func (h *chaosHarness) wsURL(i int) string { return "ws://" + h.addrs[i] + "/api/v1/ws/live-chat" }
func (h *chaosHarness) httpURL(i int) string {
	return "http://" + h.addrs[i]
}

// setUpRooms queues one customer per room through signed webhooks, then
// connects the clients: room i's owner (operator i, on instance i%2)
// claims it; its watcher (operator i+1, on the other instance) watches it.
func (h *chaosHarness) setUpRooms() {
	t := h.t
	watch, err := chaosDial(h.ctx, h.wsURL(0), h.tokens[0])
	if err != nil {
		t.Fatalf("set-up socket: %v", err)
	}
	defer watch.ws.Close()
	for i := range chaosRooms {
		u := storetest.LineUserID()
		h.rooms = append(h.rooms, u)
		h.line.SetProfile(line.Profile{UserID: u, DisplayName: "Chaos customer " + strconv.Itoa(i)})
	}
	for i, u := range h.rooms {
		for _, ev := range []simulate.Event{h.events.Follow(u), h.events.Text(u, simulate.Handoff)} {
			if st, err := h.postWebhook(i%chaosInstances, ev); err != nil || st != http.StatusOK {
				t.Fatalf("set-up webhook for %s: %d %v", u, st, err)
			}
		}
	}
	want := map[string]bool{}
	for _, u := range h.rooms {
		want[u] = true
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(want) > 0 {
		f, err := watch.next(time.Until(deadline))
		if err != nil {
			t.Fatalf("%d customers not queued within 60 s: %v", len(want), err)
		}
		if f.Type == lc.TypeSessionQueued {
			var p struct {
				LineUserID string `json:"line_user_id"`
			}
			if json.Unmarshal(f.Payload, &p) == nil {
				delete(want, p.LineUserID)
			}
		}
	}
	for i, u := range h.rooms {
		owner := &chaosClient{h: h, name: "owner" + strconv.Itoa(i), room: i, token: h.tokens[i], sender: true, inst: i % chaosInstances}
		watcher := &chaosClient{h: h, name: "watcher" + strconv.Itoa(i), room: i, token: h.tokens[(i+1)%chaosRooms], inst: (i + 1) % chaosInstances}
		for _, c := range []*chaosClient{owner, watcher} {
			c.init()
			if err := c.connect(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			h.clients = append(h.clients, c)
		}
		if err := owner.claim(); err != nil {
			t.Fatalf("owner of room %d (%s) claims: %v", i, u, err)
		}
	}
	for _, u := range h.rooms {
		last, err := h.lastSeq(u)
		if err != nil {
			t.Fatal(err)
		}
		h.base = append(h.base, last)
	}
	for _, c := range h.clients {
		go c.loop()
	}
}

// --- webhooks -----------------------------------------------------------

// postWebhook posts one signed event to instance i.
func (h *chaosHarness) postWebhook(i int, ev simulate.Event) (int, error) {
	body, sig := simulate.Body(h.secret, ev)
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.httpURL(i)+webhook.Path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, sig)
	resp, err := h.hook.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// customerLoad has room i's customer write every custEvery, to the two
// instances in turn. A webhook without a 200 (its instance killed, say) is
// sent again, the same event (LINE redelivers; the server deduplicates by
// webhookEventId), to the other instance, until one answers 200.
func (h *chaosHarness) customerLoad(ctx context.Context, i int) {
	tick := time.NewTicker(h.prof.custEvery)
	defer tick.Stop()
	inst := i % chaosInstances
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		text := fmt.Sprintf("chaos cust %d %d", i, n)
		ev := h.events.Text(h.rooms[i], text)
		deadline := time.Now().Add(45 * time.Second)
		for {
			st, err := h.postWebhook(inst, ev)
			if err == nil && st == http.StatusOK {
				h.accMu.Lock()
				h.accepted[text] = inst
				h.accMu.Unlock()
				break
			}
			h.accMu.Lock()
			h.failedWH++
			h.accMu.Unlock()
			inst = (inst + 1) % chaosInstances
			if time.Now().After(deadline) || h.ctx.Err() != nil {
				h.t.Errorf("customer %d: webhook %q never answered 200 within 45 s (last: %d %v)", i, text, st, err)
				return
			}
			backoff(h.ctx, 50*time.Millisecond)
		}
		inst = (inst + 1) % chaosInstances
	}
}

// backoff waits d (a retry's pause, not a synchronisation).
func backoff(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// --- operators ----------------------------------------------------------

// operatorLoad has room i's owner send every opEvery, one message at a
// time: each with a unique temp_id, retried with the same temp_id on the
// next socket when its socket dies before the message_sent.
func (h *chaosHarness) operatorLoad(ctx context.Context, i int) {
	c := h.clients[2*i]
	tick := time.NewTicker(h.prof.opEvery)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		temp := fmt.Sprintf("chaos-%d-%d", i, n)
		if err := c.send(temp, fmt.Sprintf("chaos op %d %d", i, n)); err != nil {
			h.t.Errorf("%s: send %s: %v", c.name, temp, err)
			return
		}
	}
}

// --- faults -------------------------------------------------------------

// faultSchedule runs the faults on the test's clock while the load runs,
// and returns when the load's time is up.
func (h *chaosHarness) faultSchedule(loadStart time.Duration) {
	t := h.t
	at := func(frac float64) time.Duration { return loadStart + time.Duration(frac*float64(h.prof.load)) }
	until := func(d time.Duration) {
		if w := d - h.now(); w > 0 {
			backoff(h.ctx, w)
		}
	}
	record := func(what string, from time.Duration) {
		h.fmu.Lock()
		h.faults = append(h.faults, faultRecord{what, from, h.now()})
		h.fmu.Unlock()
	}

	until(at(0.15))
	h.cut(0, 3, 5) // an owner and watchers on both instances
	record("cut owner0 watcher1 watcher2", h.now())

	until(at(0.30))
	from := h.now()
	h.logf("SIGKILL server 1")
	h.kill(1)
	until(from + h.prof.killFor)
	h.startServer(1)
	h.logf("server 1 restarted on %s", h.addrs[1])
	record("server 1 SIGKILLed, restarted", from)

	until(at(0.45))
	h.cut(1, 2, 7, 8, 11, 12) // back to instance 1 for some, which the kill emptied
	record("cut watcher0 owner1 watcher3 owner4 watcher5 owner6", h.now())

	until(at(0.60))
	from = h.now()
	h.logf("Redis stopped")
	h.redis.Stop()
	until(from + h.prof.redisFor)
	h.redis.Restart()
	h.logf("Redis restarted on the same port")
	record("redis down", from)

	until(at(0.80))
	h.cut(6, 9, 13, 18)
	record("cut owner3 watcher4 watcher6 owner9", h.now())

	until(at(1))
	if t.Failed() {
		h.logf("the run has failed already")
	}
}

// cut closes the TCP connections of the given clients without a close frame.
func (h *chaosHarness) cut(idx ...int) {
	for _, k := range idx {
		c := h.clients[k]
		h.logf("cut %s (on instance %d)", c.name, c.current())
		c.cut()
	}
}

// --- the store ---------------------------------------------------------

func (h *chaosHarness) roomMessages(room string) ([]chat.Message, error) {
	var all []chat.Message
	after := int64(0)
	for {
		ms, err := h.db.MessagesAfter(h.ctx, room, after, 100)
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
		if len(ms) < 100 {
			return all, nil
		}
		after = ms[len(ms)-1].Seq
	}
}

func (h *chaosHarness) lastSeq(room string) (int64, error) {
	ms, err := h.roomMessages(room)
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	return ms[len(ms)-1].Seq, nil
}

package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the run's schema

	lc "livechat/gen/livechat"
	"livechat/internal/bench/proc"
	"livechat/internal/simulate"
)

// livechatSpec is one livechat target to start.
type livechatSpec struct {
	name        string
	databaseURL string // empty: SQLite in the data dir
	redisURL    string // with instances = 2
	instances   int
	scenarios   map[string]bool
}

// ServerEnv is the bench configuration of a server: every cap and rate
// limit that would throttle the load raised, LINE faked, business hours all
// week (so a handoff queues). `livechat bench --print-env` prints it, to
// configure a server measured with --server.
func ServerEnv(fakeLine, channelToken, channelSecret string) []string {
	return []string{
		"LIVECHAT_RATE_LIMIT=1000000",
		"LIVECHAT_RATE_BURST=1000000",
		"LIVECHAT_TYPING_RATE_LIMIT=1000000",
		"LIVECHAT_TYPING_RATE_BURST=1000000",
		"LIVECHAT_WS_MAX_CONNECTIONS=100000",
		"LIVECHAT_WS_MAX_CONNECTIONS_PER_OPERATOR=100000",
		"LIVECHAT_WS_MAX_PENDING=100000",
		"LIVECHAT_WS_MAX_PENDING_PER_IP=0",
		"LIVECHAT_BUSINESS_HOURS=mon-sun 00:00-24:00",
		"LIVECHAT_LINE_API_BASE=" + fakeLine,
		"LIVECHAT_LINE_DATA_API_BASE=" + fakeLine,
		"LIVECHAT_LINE_CHANNEL_TOKEN=" + channelToken,
		"LIVECHAT_LINE_CHANNEL_SECRET=" + channelSecret,
	}
}

var (
	serverReady   = regexp.MustCompile(`livechat is serving on http://(\S+)`)
	fakeLineReady = regexp.MustCompile(`fake LINE serving on (http://\S+)`)
)

// livechat is a livechat target the bench starts, and starts afresh: its
// operators are made once with the CLI; each start is a new database with
// them (a copy of the seed on SQLite, a new schema and the operators made
// again on Postgres), a new fake LINE and server(s), and new customers.
// Every message scenario runs on a fresh start, so what the last one left
// behind (today: an outbox far behind LINE) weighs on no other.
type livechat struct {
	r             *runner
	spec          livechatSpec
	dir           string
	env           []string // the servers' and the CLI's: the JWT secret, the database
	channelToken  string
	channelSecret string
	seed          string // SQLite: the data dir with the operators, copied for each start
	ops           []operator
	starts        int
}

// startLivechat creates the operators; the first scenario starts the target.
func (r *runner) startLivechat(ctx context.Context, spec livechatSpec) (*target, error) {
	lv := &livechat{r: r, spec: spec, dir: filepath.Join(r.dir, safeName(spec.name)),
		channelToken: "bench-token-" + randomHex(8), channelSecret: "bench-secret-" + randomHex(8)}
	if err := os.MkdirAll(lv.dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.name, err)
	}
	lv.env = append(append([]string{}, r.env...), "LIVECHAT_JWT_SECRET="+randomHex(24))
	t := &target{Name: spec.name, Livechat: true, scenarios: spec.scenarios}
	t.restart = func(ctx context.Context) error { return lv.start(ctx, t) }
	if spec.databaseURL == "" {
		lv.seed = filepath.Join(lv.dir, "seed")
		began := time.Now()
		ops, err := r.createOperators(ctx, lv.dir, append(append([]string{}, lv.env...), "LIVECHAT_DATA_DIR="+lv.seed), "bench-op-")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.name, err)
		}
		lv.ops = ops
		r.log.Info("operators created", "target", spec.name, "operators", len(ops), "took", time.Since(began).Round(time.Millisecond))
	}
	return t, nil // started by the first scenario (runner.fresh)
}

// start stops what runs (if anything) and starts the target afresh.
func (lv *livechat) start(ctx context.Context, t *target) error {
	r, spec := lv.r, lv.spec
	if err := t.stopProcesses(); err != nil {
		r.log.Warn("stop before a fresh start", "target", t.Name, "err", err)
	}
	t.URLs, t.PIDs, t.Rooms, t.Owners, t.Spare, t.Tokens, t.Admins = nil, nil, nil, nil, nil, nil, nil
	lv.starts++
	dir := filepath.Join(lv.dir, "start"+strconv.Itoa(lv.starts))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s: %w", spec.name, err)
	}
	env := append([]string{}, lv.env...)
	dataDir := func(i int) string { return filepath.Join(dir, "data"+strconv.Itoa(i)) }
	if spec.databaseURL != "" {
		u, drop, err := postgresSchema(ctx, spec.databaseURL)
		if err != nil {
			return fmt.Errorf("%s: %w", spec.name, err)
		}
		t.cleanup = append(t.cleanup, drop)
		env = append(env, "LIVECHAT_DATABASE_URL="+u)
		began := time.Now()
		ops, err := r.createOperators(ctx, dir, append(append([]string{}, env...), "LIVECHAT_DATA_DIR="+dataDir(0)), "bench-op-")
		if err != nil {
			return fmt.Errorf("%s: %w", spec.name, err)
		}
		lv.ops = ops
		r.log.Info("operators created", "target", spec.name, "operators", len(ops), "took", time.Since(began).Round(time.Millisecond))
	} else if err := copyDir(lv.seed, dataDir(0)); err != nil {
		return fmt.Errorf("%s: %w", spec.name, err)
	}

	fake, fakeURL, err := proc.Start(ctx, proc.Spec{
		Name: "fakeline", Path: r.cfg.Bin, Args: []string{"fakeline", "--addr", "127.0.0.1:0", "--token", lv.channelToken},
		Env: r.env, CPU: r.loadCPU(), Log: filepath.Join(dir, "fakeline.log"), Ready: fakeLineReady,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", spec.name, err)
	}
	t.procs = append(t.procs, fake)
	t.line = newLineLog(fakeURL, r.clock)
	lineCtx, stopLine := context.WithCancel(context.WithoutCancel(ctx))
	lineDone := make(chan struct{})
	go func() { defer close(lineDone); t.line.run(lineCtx) }()
	t.lineStop = func() { stopLine(); <-lineDone }
	serverBase := ""
	for i := range max(spec.instances, 1) {
		senv := append(append([]string{}, env...), ServerEnv(fakeURL, lv.channelToken, lv.channelSecret)...)
		// The metrics are on, as by default, each instance on a port of its own.
		senv = append(senv, "LIVECHAT_ADDR=127.0.0.1:0", "LIVECHAT_METRICS_ADDR=127.0.0.1:0", "LIVECHAT_DATA_DIR="+dataDir(i))
		if spec.redisURL != "" {
			senv = append(senv, "LIVECHAT_REDIS_URL="+spec.redisURL)
		}
		name := "server"
		if spec.instances > 1 {
			name += strconv.Itoa(i)
		}
		p, addr, err := proc.Start(ctx, proc.Spec{
			Name: name, Path: r.cfg.Bin, Args: []string{"serve"}, Env: senv, CPU: r.serverCPU(),
			Log: filepath.Join(dir, name+".log"), Ready: serverReady,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", spec.name, err)
		}
		t.procs = append(t.procs, p)
		t.PIDs = append(t.PIDs, p.PID)
		t.URLs = append(t.URLs, "ws://"+addr+"/api/v1/ws/live-chat")
		if i == 0 {
			serverBase = "http://" + addr
		}
	}
	if err := r.setUp(ctx, t, lv.ops, serverBase, fakeURL, lv.channelSecret); err != nil {
		return fmt.Errorf("%s: %w", spec.name, err)
	}
	r.targets = append(r.targets, t.info())
	return nil
}

// copyDir copies the files of src (a data dir no process has open) into dst.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return fmt.Errorf("copy %s: %w", e.Name(), err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return fmt.Errorf("copy %s: %w", e.Name(), err)
		}
	}
	return nil
}

// attachLivechat sets up a server the user started (--server): operators
// through the CLI with the bench's own environment (the same LIVECHAT_*
// as the server's, so the CLI reaches its database and JWT secret), and
// customers signed with secret.
func (r *runner) attachLivechat(ctx context.Context, base string, pid int, secret string, scenarios map[string]bool) (*target, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--server %q is not a base URL like http://127.0.0.1:8080", base)
	}
	ws := "ws://" + u.Host + "/api/v1/ws/live-chat"
	if u.Scheme == "https" {
		ws = "wss://" + u.Host + "/api/v1/ws/live-chat"
	}
	t := &target{Name: "livechat/external", Livechat: true, URLs: []string{ws}, PIDs: []int{pid}, scenarios: scenarios}
	dir := filepath.Join(r.dir, "external")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ops, err := r.createOperators(ctx, dir, r.cfg.Env, "bench-"+randomHex(3)+"-op-")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	if err := r.setUp(ctx, t, ops, strings.TrimRight(base, "/"), "", secret); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	return t, nil
}

// operator is one created operator.
type operator struct {
	id    int64
	admin bool
	token string
}

// createOperators runs `livechat migrate` once, then `operator create` and
// `token` for each operator, a few at a time.
func (r *runner) createOperators(ctx context.Context, dir string, env []string, prefix string) ([]operator, error) {
	run := func(args ...string) (string, error) {
		out, err := proc.Run(ctx, proc.Spec{Name: "livechat " + args[0], Path: r.cfg.Bin, Args: args, Env: env,
			CPU: proc.Unpinned, Log: filepath.Join(dir, "cli.log")}, "", time.Minute)
		return strings.TrimSpace(out), err
	}
	if _, err := run("migrate"); err != nil {
		return nil, err
	}
	ops := make([]operator, r.prof.Operators)
	jobs := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range 4 { // bcrypt and process start-up: a few in parallel on any machine
		wg.Go(func() {
			for i := range jobs {
				role := "agent"
				if i < r.prof.Admins {
					role = "admin"
				}
				name := prefix + strconv.Itoa(i)
				id, err := run("operator", "create", "--username", name, "--display-name", "Bench "+strconv.Itoa(i),
					"--role", role, "--password", "bench-"+randomHex(8))
				if err == nil {
					ops[i].id, err = strconv.ParseInt(id, 10, 64)
				}
				if err == nil {
					ops[i].admin = role == "admin"
					ops[i].token, err = run("token", "--operator-id", strconv.FormatInt(ops[i].id, 10), "--ttl", "12h")
				}
				if err != nil {
					select {
					case errc <- fmt.Errorf("operator %s: %w", name, err):
					default:
					}
				}
			}
		})
	}
feed:
	for i := range ops {
		select {
		case jobs <- i:
		case err := <-errc:
			errc <- err
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ops, nil
}

// setUp queues one customer per room and spare room through the webhook,
// and has each room's sender claim its session.
func (r *runner) setUp(ctx context.Context, t *target, ops []operator, base, fakeURL, secret string) error {
	var agents []operator
	for _, op := range ops {
		t.Tokens = append(t.Tokens, op.token)
		if op.admin {
			t.Admins = append(t.Admins, op.token)
		} else {
			agents = append(agents, op)
		}
	}
	if len(agents) == 0 || len(t.Admins) == 0 {
		return errors.New("the profile needs at least one agent and one admin")
	}
	rooms, spare := r.roomsNeeded(), r.prof.Triggers
	customers := make([]string, rooms+spare)
	for i := range customers {
		customers[i] = lineUserID()
	}
	hook := simulate.Webhook{Base: base, Secret: secret, HTTP: &http.Client{}}
	if err := hook.Check(ctx); err != nil {
		return err
	}
	if fakeURL != "" {
		for i, c := range customers {
			if err := setProfile(ctx, fakeURL, c, "Bench customer "+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}

	// One operator socket hears every session_queued.
	watch, err := dial(ctx, t.url(0), r.clock)
	if err != nil {
		return err
	}
	defer watch.close()
	if err := watch.authenticate(ctx, agents[0].token); err != nil {
		return err
	}
	queued := make(chan string, len(customers))
	watch.onFrame(func(f frame) {
		if f.Type != lc.TypeSessionQueued {
			return
		}
		var p struct {
			LineUserID string `json:"line_user_id"`
		}
		if f.payload(&p) == nil {
			select { // never block the reader: another customer's queueing may fill it
			case queued <- p.LineUserID:
			default:
			}
		}
	})
	events := simulate.NewEvents()
	for _, c := range customers {
		for _, ev := range []simulate.Event{events.Follow(c), events.Text(c, simulate.Handoff)} {
			if err := hook.Send(ctx, ev); err != nil {
				return fmt.Errorf("webhook for customer %s: %w", c, err)
			}
		}
	}
	want := map[string]bool{}
	for _, c := range customers {
		want[c] = true
	}
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for len(want) > 0 {
		select {
		case c := <-queued:
			delete(want, c)
		case <-deadline.C:
			return fmt.Errorf("%d of %d customers were not queued within a minute (is the inbox worker running?)", len(want), len(customers))
		case <-watch.done:
			return fmt.Errorf("the set-up socket closed: %v", watch.err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	watch.onFrame(nil)

	// Each room's sender claims it.
	for i := range rooms {
		owner := agents[i%len(agents)]
		if err := claim(ctx, t.url(0), r.clock, owner.token, customers[i]); err != nil {
			return fmt.Errorf("claim room %d: %w", i, err)
		}
		t.Rooms = append(t.Rooms, customers[i])
		t.Owners = append(t.Owners, owner.token)
	}
	t.Spare = customers[rooms:]
	r.log.Info("livechat set up", "target", t.Name, "rooms", len(t.Rooms), "spare", len(t.Spare), "operators", len(ops))
	return nil
}

// claim joins room with token and claims its session.
func claim(ctx context.Context, url string, clk clock, token, room string) error {
	c, err := dial(ctx, url, clk)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.authenticate(ctx, token); err != nil {
		return err
	}
	if _, err := c.join(ctx, room); err != nil {
		return err
	}
	_, err = c.request(ctx, lc.TypeClaimSession, map[string]string{}, func(f frame) bool {
		var p struct {
			LineUserID string `json:"line_user_id"`
		}
		return f.Type == lc.TypeSessionClaimed && f.payload(&p) == nil && p.LineUserID == room
	})
	return err
}

// setProfile gives a customer a name at the fake LINE, which the server
// fetches when the customer follows.
func setProfile(ctx context.Context, fakeURL, userID, name string) error {
	body, _ := json.Marshal(map[string]string{"displayName": name})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, fakeURL+"/_fake/profiles/"+userID, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fake LINE profile: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("fake LINE profile: %s", resp.Status)
	}
	return nil
}

// postgresSchema creates a schema for the run and returns a URL whose
// search_path selects it, and the function that drops it.
func postgresSchema(ctx context.Context, dsn string) (string, func(context.Context) error, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("--database-url: %w", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, fmt.Errorf("open postgres: %w", err)
	}
	schema := "livechat_bench_" + randomHex(6)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := db.ExecContext(cctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create schema at %s: %w", u.Redacted(), err)
	}
	drop := func(ctx context.Context) error {
		defer db.Close()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

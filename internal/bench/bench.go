// Package bench is `livechat bench`: it measures what a livechat server
// delivers and what it costs, the same way on any machine, and beside it
// the floor (package floor), so every figure is also a ratio that holds on
// a noisy shared machine.
//
// A run starts what it measures as child processes of the livechat binary
// (the floor twice, without and with SQLite; `livechat serve` with its own
// data dir and a bench configuration; `livechat fakeline` as LINE), sets
// livechat up through its public interfaces only (operators and tokens
// with the CLI, customers with signed LINE webhooks, claims over the
// socket), drives open-loop load from one process on one clock, and reads
// the servers' CPU and memory from /proc. The scenarios and the method are
// in the README's Performance section; the output is a readable table and
// one JSON line, the last line printed.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// Config is one run.
type Config struct {
	Profile     string   // quick, full, smoke, tiny
	Bin         string   // the livechat binary the children run
	Env         []string // the environment children start from (LIVECHAT_* is dropped for started servers)
	Server      string   // measure this running server instead of starting one
	ServerPID   int      // its process, for CPU and RSS
	Secret      string   // its LINE channel secret (with Server)
	DatabaseURL string   // adds a livechat target on Postgres
	RedisURL    string   // with DatabaseURL: adds two instances on Redis
	Pin         bool     // servers on CPU 0, the load on CPU 1
	Targets     []string // run only these targets (by name); empty: all
	Scenarios   []string // run only these scenarios; empty: all
	Markdown    string   // write the report into this file, between its markers
	Keep        bool     // keep the run's directory (logs, databases)
	Check       bool     // fail on any lost, duplicated or reordered delivery
	Command     string   // the command line, for the report
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if _, err := LookupProfile(c.Profile); err != nil {
		errs = append(errs, err)
	}
	if c.Bin == "" {
		errs = append(errs, errors.New("no livechat binary to start"))
	}
	if (c.Server == "") != (c.ServerPID == 0) {
		errs = append(errs, errors.New("--server and --server-pid go together"))
	}
	if c.Server != "" && c.Secret == "" {
		errs = append(errs, errors.New("--server needs the server's LINE channel secret (--secret or LIVECHAT_LINE_CHANNEL_SECRET)"))
	}
	if c.Server != "" && (c.DatabaseURL != "" || c.RedisURL != "") {
		errs = append(errs, errors.New("--server measures that server only; --database-url and --redis-url start servers"))
	}
	if c.RedisURL != "" && c.DatabaseURL == "" {
		errs = append(errs, errors.New("--redis-url needs --database-url: two instances share one database"))
	}
	for _, s := range c.Scenarios {
		if !contains(Scenarios, s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q (one of %s)", s, strings.Join(Scenarios, ", ")))
		}
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runner is one run's state.
type runner struct {
	cfg     Config
	prof    Profile
	log     *slog.Logger
	clock   clock
	dir     string   // the run's directory: logs, data dirs
	env     []string // cfg.Env without LIVECHAT_*
	pinned  bool
	phases  atomic.Int64 // phase ids are unique in a run: stamps name them
	targets []TargetInfo
	results []Result
}

func (r *runner) serverCPU() int {
	if r.pinned {
		return 0
	}
	return -1
}

func (r *runner) loadCPU() int {
	if r.pinned {
		return 1
	}
	return -1
}

// roomsNeeded is how many rooms a target sets up.
func (r *runner) roomsNeeded() int { return max(r.prof.Rooms, r.prof.ReconnectRooms) }

// ErrCheck is a run with lost, duplicated or reordered deliveries under --check.
var ErrCheck = errors.New("deliveries were lost, duplicated or out of order")

// Run runs cfg, prints the table and, last, the JSON line to stdout, and
// returns the report. Every process it started is stopped when it returns,
// also on error or when ctx ends.
func Run(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	prof, _ := LookupProfile(cfg.Profile)
	rep := newReport(cfg)
	r := &runner{cfg: cfg, prof: prof, log: log, clock: newClock(), env: withoutLivechatVars(cfg.Env)}
	if cfg.Pin {
		if err := pinSelf(1); err != nil {
			log.Warn("running unpinned", "why", err)
		} else {
			r.pinned = true
		}
	}
	rep.setPlacement(r.pinned, cfg.Server != "")
	dir, err := os.MkdirTemp("", "livechat-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: run directory: %w", err)
	}
	r.dir = dir
	runErr := r.all(ctx)
	if cfg.Keep || runErr != nil {
		log.Info("the run's logs and data are kept", "dir", dir)
	} else if err := os.RemoveAll(dir); err != nil {
		log.Warn("remove the run directory", "dir", dir, "err", err)
	}
	rep.finish(r.targets, r.results, runErr)
	if err := rep.print(stdout, cfg.Markdown); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil && cfg.Check && !rep.Pass {
		runErr = ErrCheck
	}
	return rep, runErr
}

// all runs every target in turn: the floors first, so what livechat is
// divided by was measured in the same sitting.
func (r *runner) all(ctx context.Context) error {
	type plan struct {
		name  string
		start func(context.Context, map[string]bool) (*target, error)
		only  map[string]bool // the scenarios it can run; nil: all
	}
	var plans []plan
	floorOnly := map[string]bool{ScenarioIdle: true, ScenarioConnect: true, ScenarioFanout: true, ScenarioStep: true, ScenarioReconnect: true}
	storeOnly := map[string]bool{ScenarioFanout: true, ScenarioStep: true} // idle and connect do not touch the store
	plans = append(plans,
		plan{"floor", func(ctx context.Context, s map[string]bool) (*target, error) {
			return r.startFloor(ctx, "floor", false, s)
		}, floorOnly},
		plan{"floor+sqlite", func(ctx context.Context, s map[string]bool) (*target, error) {
			return r.startFloor(ctx, "floor+sqlite", true, s)
		}, storeOnly})
	if r.cfg.Server != "" {
		plans = append(plans, plan{"livechat/external", func(ctx context.Context, s map[string]bool) (*target, error) {
			return r.attachLivechat(ctx, r.cfg.Server, r.cfg.ServerPID, r.cfg.Secret, s)
		}, nil})
	} else {
		plans = append(plans, plan{"livechat/sqlite", func(ctx context.Context, s map[string]bool) (*target, error) {
			return r.startLivechat(ctx, livechatSpec{name: "livechat/sqlite", scenarios: s})
		}, nil})
		if r.cfg.DatabaseURL != "" {
			plans = append(plans, plan{"livechat/postgres", func(ctx context.Context, s map[string]bool) (*target, error) {
				return r.startLivechat(ctx, livechatSpec{name: "livechat/postgres", databaseURL: r.cfg.DatabaseURL, scenarios: s})
			}, nil})
		}
		if r.cfg.RedisURL != "" {
			plans = append(plans, plan{"livechat/2×redis", func(ctx context.Context, s map[string]bool) (*target, error) {
				return r.startLivechat(ctx, livechatSpec{name: "livechat/2×redis", databaseURL: r.cfg.DatabaseURL,
					redisURL: r.cfg.RedisURL, instances: 2, scenarios: s})
			}, map[string]bool{ScenarioFanout: true, ScenarioStep: true, ScenarioAnalytics: true}})
		}
	}
	for _, p := range plans {
		if len(r.cfg.Targets) > 0 && !contains(r.cfg.Targets, p.name) {
			continue
		}
		scen := map[string]bool{}
		for _, s := range Scenarios {
			if (p.only == nil || p.only[s]) && (len(r.cfg.Scenarios) == 0 || contains(r.cfg.Scenarios, s)) {
				scen[s] = true
			}
		}
		if len(scen) == 0 {
			continue
		}
		if err := r.target(ctx, p.name, func(ctx context.Context) (*target, error) { return p.start(ctx, scen) }); err != nil {
			return err
		}
	}
	return nil
}

// target starts one target, runs its scenarios and stops it.
func (r *runner) target(ctx context.Context, name string, start func(context.Context) (*target, error)) (err error) {
	began := time.Now()
	r.log.Info("starting", "target", name)
	t, err := start(ctx)
	if err != nil {
		return err
	}
	if t.restart == nil { // a restartable target records each start itself
		r.targets = append(r.targets, t.info())
	}
	defer func() {
		if serr := t.stop(context.WithoutCancel(ctx)); serr != nil {
			r.log.Warn("stop", "target", name, "err", serr)
			if err == nil {
				err = serr
			}
		}
		r.log.Info("done", "target", name, "took", time.Since(began).Round(time.Second))
	}()
	first := len(r.results)
	defer func() { r.lineFigures(r.results[first:]) }()
	for _, s := range Scenarios {
		if !t.runs(s) || !r.enabled(s, t) {
			continue
		}
		if s == ScenarioIdle || s == ScenarioConnect || s == ScenarioAnalytics {
			// Message scenarios start each phase afresh (phase); these share
			// the first start.
			if t.restart != nil && len(t.procs) == 0 {
				if err := r.fresh(ctx, t); err != nil {
					return err
				}
			}
			r.quiesce(ctx, t)
		}
		var res []Result
		switch s {
		case ScenarioIdle:
			var one Result
			one, err = r.idle(ctx, t)
			res = []Result{one}
		case ScenarioConnect:
			var one Result
			one, err = r.connectStorm(ctx, t)
			res = []Result{one}
		case ScenarioFanout:
			res, err = r.fanout(ctx, t)
		case ScenarioStep:
			res, err = r.step(ctx, t)
		case ScenarioMixed:
			res, err = r.mixed(ctx, t)
		case ScenarioReconnect:
			res, err = r.reconnect(ctx, t)
		case ScenarioAnalytics:
			var one Result
			one, err = r.analytics(ctx, t)
			if one.Scenario != "" {
				res = []Result{one}
			}
		}
		for _, x := range res {
			if x.Scenario == ScenarioIdle || x.Scenario == ScenarioConnect || x.Scenario == ScenarioAnalytics || x.Scenario == ScenarioStep+"-max" {
				r.progress(x)
			}
		}
		r.results = append(r.results, res...)
		if err != nil {
			return fmt.Errorf("%s %s: %w", name, s, err)
		}
		if err := t.alive(); err != nil {
			return err
		}
	}
	return nil
}

// enabled reports whether the profile has load for s.
func (r *runner) enabled(s string, t *target) bool {
	switch s {
	case ScenarioIdle:
		return r.prof.Idle > 0
	case ScenarioConnect:
		return r.prof.Connect > 0
	case ScenarioFanout:
		return len(r.prof.Rates) > 0
	case ScenarioStep:
		return len(r.prof.StepRates) > 0
	case ScenarioMixed:
		return r.prof.MixedRate > 0
	case ScenarioReconnect:
		return r.prof.ReconnectRooms > 0
	case ScenarioAnalytics:
		return r.prof.Subscribers > 0 && r.prof.Triggers > 0
	}
	return false
}

// quiesce waits (bounded) until the server is idle: what the last
// scenario left queued (an outbox catching up, say) must not weigh on the next.
func (r *runner) quiesce(ctx context.Context, t *target) {
	const sample = 250 * time.Millisecond
	deadline := time.Now().Add(r.prof.Quiesce)
	prev, err := t.usage()
	if err != nil {
		return
	}
	for time.Now().Before(deadline) {
		if sleepFor(ctx, sample) != nil {
			return
		}
		u, err := t.usage()
		if err != nil {
			return
		}
		if u.CPU-prev.CPU < sample/10 { // under 10 % of a core
			return
		}
		prev = u
	}
	r.log.Warn("the server is still busy; going on", "target", t.Name, "waited", r.prof.Quiesce)
}

// lineFigures fills in what reached LINE of each of the target's message
// results: what the fake LINE had of the phase's messages when the phase's
// server stopped.
func (r *runner) lineFigures(results []Result) {
	for i := range results {
		res := &results[i]
		if res.linePhase == nil {
			continue
		}
		res.Line = &LineFigures{Pushed: int(res.linePhase.n.Load()), Stored: res.Acked + res.Unacked, Latency: res.linePhase.lat.Summarize()}
	}
}

// fresh starts a restartable target afresh before a message phase.
func (r *runner) fresh(ctx context.Context, t *target) error {
	if t.restart == nil {
		return nil
	}
	began := time.Now()
	if err := t.restart(ctx); err != nil {
		return err
	}
	r.log.Info("started afresh", "target", t.Name, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// progress logs a result as it comes.
func (r *runner) progress(res Result) {
	args := []any{"target", res.Target, "scenario", res.Scenario}
	if res.Params.Rate > 0 {
		args = append(args, "rate", res.Params.Rate)
	}
	if res.Deliver != nil {
		args = append(args, "p50_ms", round(res.Deliver.P50), "p99_ms", round(res.Deliver.P99), "lost", res.Counts.Lost, "unacked", res.Unacked)
	}
	if res.Server != nil && res.Server.CPUPercent > 0 {
		args = append(args, "server_cpu", fmt.Sprintf("%.0f%%", res.Server.CPUPercent))
	}
	if res.KBPerSocket != 0 {
		args = append(args, "kb_per_socket", round(res.KBPerSocket))
	}
	if res.ConnsPerS != 0 {
		args = append(args, "conns_per_s", round(res.ConnsPerS))
	}
	if res.Sustained != 0 || res.Scenario == ScenarioStep+"-max" {
		args = append(args, "sustained", res.Sustained)
	}
	if len(res.LastMS) > 0 {
		args = append(args, "last_ms", res.LastMS)
	}
	r.log.Info("result", args...)
}

func round(f float64) float64 {
	switch {
	case f >= 100:
		return float64(int64(f + 0.5))
	case f >= 1:
		return float64(int64(f*10+0.5)) / 10
	}
	return float64(int64(f*1000+0.5)) / 1000
}

// withoutLivechatVars drops LIVECHAT_* from env: a started server's
// configuration is the bench's, not whatever the shell had.
func withoutLivechatVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "LIVECHAT_") {
			out = append(out, kv)
		}
	}
	return out
}

// gomaxprocs is the runtime's current setting.
func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

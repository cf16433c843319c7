package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bench/hist"
)

// idle: N authenticated sockets, held; the server's RSS growth per socket.
func (r *runner) idle(ctx context.Context, t *target) (Result, error) {
	n := r.prof.Idle
	before, err := t.usage()
	if err != nil {
		return Result{}, err
	}
	conns, connect, errs, elapsed := r.openMany(ctx, t, n, false)
	defer closeAll(conns)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if err := sleepFor(ctx, r.prof.IdleSettle); err != nil {
		return Result{}, err
	}
	after, err := t.usage()
	if err != nil {
		return Result{}, err
	}
	res := Result{Target: t.Name, Scenario: ScenarioIdle, Params: Params{Sockets: n},
		Sockets: len(conns), ConnectErrors: errs, Connect: ptr(connect.Summarize()),
		Server: &Usage{RSSKB: after.RSSKB, PeakKB: after.PeakKB, CPUSeconds: (after.CPU - before.CPU).Seconds()}}
	if len(conns) > 0 {
		res.KBPerSocket = float64(after.RSSKB-before.RSSKB) / float64(len(conns))
		res.ConnsPerS = float64(len(conns)) / elapsed.Seconds()
	}
	return res, nil
}

// connectStorm: N sockets connect, authenticate and join a room, as fast as
// the dialers go; connections per second and the time each took.
func (r *runner) connectStorm(ctx context.Context, t *target) (Result, error) {
	n := r.prof.Connect
	before, err := t.usage()
	if err != nil {
		return Result{}, err
	}
	conns, connect, errs, elapsed := r.openMany(ctx, t, n, true)
	defer closeAll(conns)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	after, err := t.usage()
	if err != nil {
		return Result{}, err
	}
	cpu := (after.CPU - before.CPU).Seconds()
	res := Result{Target: t.Name, Scenario: ScenarioConnect, Params: Params{Sockets: n},
		Sockets: len(conns), ConnectErrors: errs, Connect: ptr(connect.Summarize()),
		ConnsPerS: float64(len(conns)) / elapsed.Seconds(),
		Server:    &Usage{CPUSeconds: cpu, CPUPercent: 100 * cpu / elapsed.Seconds(), RSSKB: after.RSSKB, PeakKB: after.PeakKB}}
	return res, nil
}

// openMany opens n sockets on the profile's dialers: authenticated, and
// joined to the target's rooms in turn when join. It returns the open
// ones, the time each took, the failures, and the wall time of it all.
func (r *runner) openMany(ctx context.Context, t *target, n int, join bool) ([]*conn, *hist.Hist, int, time.Duration) {
	var (
		h     hist.Hist
		fails atomic.Int64
		mu    sync.Mutex
		conns = make([]*conn, n)
	)
	start := time.Now()
	_ = r.parallel(ctx, n, func(ctx context.Context, i int) error {
		room := ""
		if join {
			room = t.Rooms[i%len(t.Rooms)]
		}
		began := time.Now()
		c, _, err := r.openSocket(ctx, t.url(i), t.token(i), room)
		if err != nil {
			if fails.Add(1) <= 3 {
				r.log.Warn("socket failed", "target", t.Name, "err", err)
			}
			return nil
		}
		h.Record(time.Since(began))
		mu.Lock()
		conns[i] = c
		mu.Unlock()
		return nil
	})
	elapsed := time.Since(start)
	open := slices.DeleteFunc(conns, func(c *conn) bool { return c == nil })
	return open, &h, int(fails.Load()), elapsed
}

// closeAll closes in reverse order of opening: each operator's first
// socket (whose close makes livechat broadcast presence) goes last.
func closeAll(conns []*conn) {
	for i := len(conns) - 1; i >= 0; i-- {
		conns[i].close()
	}
}

func sleepFor(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// phase runs one phase on its own room set, on a server started afresh
// when the target can be (livechat: a new database, so no backlog of an
// earlier phase weighs on it).
func (r *runner) phase(ctx context.Context, t *target, rooms, watchers int, spec phaseSpec) (Result, error) {
	if err := r.fresh(ctx, t); err != nil {
		return Result{}, err
	}
	r.quiesce(ctx, t)
	rs, err := r.openRooms(ctx, t, rooms, watchers)
	if err != nil {
		return Result{}, err
	}
	defer rs.close()
	return rs.run(ctx, spec)
}

// fanout: the rooms at each of the profile's rates.
func (r *runner) fanout(ctx context.Context, t *target) ([]Result, error) {
	var out []Result
	for _, rate := range r.prof.Rates {
		res, err := r.phase(ctx, t, r.prof.Rooms, r.prof.Watchers, phaseSpec{scenario: ScenarioFanout, rate: rate, warmup: r.prof.Warmup, measure: r.prof.Measure})
		if err != nil {
			return out, err
		}
		r.progress(res)
		out = append(out, res)
	}
	return out, nil
}

// step raises the fan-out rate until a step misses: p99 of delivery at or
// over the SLO, a lost or late message, or messages never acknowledged.
// The highest step that held is the sustainable rate.
func (r *runner) step(ctx context.Context, t *target) ([]Result, error) {
	var out []Result
	sustained := 0.0
	for _, rate := range r.prof.StepRates {
		res, err := r.phase(ctx, t, r.prof.Rooms, r.prof.Watchers, phaseSpec{scenario: ScenarioStep, rate: rate, warmup: r.prof.StepWarmup, measure: r.prof.StepMeasure})
		if err != nil {
			return out, err
		}
		held := res.Deliver.P99 < ms(r.prof.SLO) && res.Counts.Lost == 0 && res.Counts.Late == 0 && res.Unacked == 0 && res.Failed == 0 && !res.DrainTimedOut
		res.Pass = &held
		res.SLOms = ms(r.prof.SLO)
		r.progress(res)
		out = append(out, res)
		if !held {
			break
		}
		sustained = rate
	}
	if len(out) > 0 {
		out = append(out, Result{Target: t.Name, Scenario: ScenarioStep + "-max", Sustained: sustained, SLOms: ms(r.prof.SLO),
			Params: Params{Rooms: r.prof.Rooms, Watchers: r.prof.Watchers}})
	}
	return out, nil
}

// mixed: the fan-out at MixedRate, plain, then again with every watcher
// typing and flipping its status; the message latency of both.
func (r *runner) mixed(ctx context.Context, t *target) ([]Result, error) {
	plain, err := r.phase(ctx, t, r.prof.Rooms, r.prof.Watchers, phaseSpec{scenario: ScenarioMixed + "-plain", rate: r.prof.MixedRate, warmup: r.prof.Warmup, measure: r.prof.Measure})
	if err != nil {
		return nil, err
	}
	r.progress(plain)
	res, err := r.phase(ctx, t, r.prof.Rooms, r.prof.Watchers, phaseSpec{scenario: ScenarioMixed, rate: r.prof.MixedRate, warmup: r.prof.Warmup, measure: r.prof.Measure, mixed: true})
	if err != nil {
		return []Result{plain}, err
	}
	res.Mixed.PlainP99MS = plain.Deliver.P99
	res.Mixed.PlainDeliverCPU = plain.DeliveriesPerCPU
	if plain.Deliver.P99 > 0 {
		res.Mixed.P99Ratio = res.Deliver.P99 / plain.Deliver.P99
	}
	r.progress(res)
	return []Result{plain, res}, nil
}

// reconnect: while messages flow, every watcher but one per room drops at
// once and reconnects; how long until all are back, and what a rejoined
// watcher missed of what came after its join's history.
func (r *runner) reconnect(ctx context.Context, t *target) ([]Result, error) {
	res, err := r.phase(ctx, t, r.prof.ReconnectRooms, r.prof.ReconnectWatch, phaseSpec{scenario: ScenarioReconnect, rate: r.prof.ReconnectRate,
		warmup: r.prof.Warmup, measure: r.prof.ReconnectMeasure, drop: r.prof.ReconnectDrop})
	if err != nil {
		return nil, err
	}
	r.progress(res)
	return []Result{res}, nil
}

// analytics: N sockets subscribed to analytics; a claim of a waiting
// session changes the KPIs, and the server pushes analytics_update to all
// of them. The time from the claim until each, and the last, had it.
// Pushes are coalesced to one a second, so the triggers are further apart.
func (r *runner) analytics(ctx context.Context, t *target) (Result, error) {
	n := r.prof.Subscribers
	res := Result{Target: t.Name, Scenario: ScenarioAnalytics, Params: Params{Sockets: n}}
	type sub struct {
		c      *conn
		active atomic.Int64 // the last pushed KPI "active"
	}
	subs := make([]*sub, n)
	var got hist.Hist
	var trigger atomic.Pointer[pushWait]
	err := r.parallel(ctx, n, func(ctx context.Context, i int) error {
		c, _, err := r.openSocket(ctx, t.url(i), t.Admins[i%len(t.Admins)], "")
		if err != nil {
			return err
		}
		s := &sub{c: c}
		subs[i] = s
		f, err := c.request(ctx, lc.TypeSubscribeAnalytics, map[string]any{}, typeIs(lc.TypeAnalyticsUpdate))
		if err != nil {
			return err
		}
		s.active.Store(kpiActive(f))
		c.onFrame(func(f frame) {
			if f.Type != lc.TypeAnalyticsUpdate {
				return
			}
			a := kpiActive(f)
			s.active.Store(a)
			if w := trigger.Load(); w != nil && a >= w.active {
				w.arrive(s, f.at, &got)
			}
		})
		return nil
	})
	defer func() {
		for i := len(subs) - 1; i >= 0; i-- {
			if subs[i] != nil {
				subs[i].c.close()
			}
		}
	}()
	if err != nil {
		return res, err
	}
	res.Subscribers = n
	trig, _, err := r.openSocket(ctx, t.URLs[0], t.Admins[0], "")
	if err != nil {
		return res, err
	}
	defer trig.close()
	base := subs[0].active.Load()
	// Pushes are coalesced to one a second: a push the subscribers' own
	// connects caused may still be pending for up to a second, and the
	// next is held back for a second after it. Only then is a claim's push
	// immediate, and its time the fan-out's alone.
	if err := sleepFor(ctx, time.Second); err != nil {
		return res, err
	}
	for k := range min(r.prof.Triggers, len(t.Spare)) {
		if err := sleepFor(ctx, r.prof.TriggerGap); err != nil {
			return res, err
		}
		room := t.Spare[k]
		if _, err := trig.join(ctx, room); err != nil {
			return res, fmt.Errorf("trigger %d: %w", k, err)
		}
		w := &pushWait{active: base + int64(k) + 1, seen: map[any]bool{}, n: n, all: make(chan struct{})}
		trigger.Store(w)
		w.sent = r.clock.now()
		if err := trig.send(lc.TypeClaimSession, map[string]any{}); err != nil {
			return res, err
		}
		timeout := time.NewTimer(10 * time.Second)
		select {
		case <-w.all:
		case <-timeout.C:
		case <-ctx.Done():
		}
		timeout.Stop()
		trigger.Store(nil)
		if err := ctx.Err(); err != nil {
			return res, err
		}
		w.mu.Lock()
		res.Triggers++
		res.LastMS = append(res.LastMS, ms(w.last-w.sent))
		res.NotReceived += n - len(w.seen)
		w.mu.Unlock()
	}
	res.Push = ptr(got.Summarize())
	return res, nil
}

// pushWait is one analytics trigger being waited for.
type pushWait struct {
	active int64 // the KPI value the push carries
	sent   time.Duration
	n      int
	all    chan struct{} // closed when every subscriber had it

	mu   sync.Mutex
	seen map[any]bool
	last time.Duration
}

func (w *pushWait) arrive(s any, at time.Duration, h *hist.Hist) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[s] {
		return
	}
	w.seen[s] = true
	h.Record(at - w.sent)
	w.last = max(w.last, at)
	if len(w.seen) == w.n {
		close(w.all)
	}
}

func kpiActive(f frame) int64 {
	var p struct {
		Active int64 `json:"active"`
	}
	_ = f.payload(&p)
	return p.Active
}

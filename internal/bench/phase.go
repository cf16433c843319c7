package bench

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bench/hist"
	"livechat/internal/bench/procfs"
)

// phaseSpec is one window of open-loop load on a room set.
type phaseSpec struct {
	scenario string
	rate     float64 // msgs/s offered, all rooms together
	warmup   time.Duration
	measure  time.Duration
	mixed    bool          // watchers also type and flip their status
	drop     time.Duration // > 0: this long after the warm-up, the watchers (but one per room) drop and reconnect
}

// phase is the state of one running phaseSpec. Times are on the run's
// clock: the schedule starts at start, the measurement window is [w0, w1),
// and the schedule ends at w1.
type phase struct {
	id   int
	spec phaseSpec
	clk  clock
	prof Profile

	start, w0, w1 time.Duration

	ack, deliver    hist.Hist
	sent, sentWin   atomic.Int64
	acked, ackedWin atomic.Int64
	failed          atomic.Int64
	delivWin        atomic.Int64
	lagMax, behind  atomic.Int64
	typingSent      atomic.Int64
	statusSent      atomic.Int64
	typingRecv      atomic.Int64
	presenceRecv    atomic.Int64
	reconnects      hist.Hist
	reconnectFails  atomic.Int64
	backAt          atomic.Int64 // the last rejoin, on the run's clock
	dropAt          atomic.Int64
	lastDelivery    atomic.Int64  // on the run's clock
	stormDone       chan struct{} // closed when every dropped watcher is back or gave up
	dropped         int

	logs []*ackLog // per room

	mu       sync.Mutex
	steady   []*watch // watchers there from the start to the end
	rejoined []*watch // watchers back after the drop, from their join on
	errs     map[string]int
}

// outstanding is the sends not answered yet.
func (ph *phase) outstanding() int64 { return ph.sent.Load() - ph.acked.Load() - ph.failed.Load() }

func (ph *phase) inWindow(t time.Duration) bool { return t >= ph.w0 && t < ph.w1 }

func (ph *phase) fail(what string) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	ph.errs[what]++
}

// message is the part of message_sent and new_message the bench reads.
type message struct {
	ID     int64  `json:"id"`
	Seq    int64  `json:"seq"`
	TempID string `json:"temp_id"`
}

// onSender handles a sender's frames: acknowledgements and refusals.
func (ph *phase) onSender(log *ackLog) func(frame) {
	return func(f frame) {
		switch f.Type {
		case lc.TypeMessageSent:
			var m message
			if !decodeMessage(f, &m) {
				return
			}
			id, intended, ok := parseStamp(m.TempID)
			if !ok || id != ph.id {
				return // a late answer from an earlier phase
			}
			log.add(m.ID, m.Seq)
			ph.acked.Add(1)
			if ph.inWindow(intended) {
				ph.ack.Record(f.at - intended)
			}
			if ph.inWindow(f.at) {
				ph.ackedWin.Add(1)
			}
		case lc.TypeError:
			var p struct {
				Code        string `json:"code"`
				TempID      string `json:"temp_id"`
				RequestType string `json:"request_type"`
			}
			if f.payload(&p) != nil {
				return
			}
			if id, _, ok := parseStamp(p.TempID); ok && id == ph.id {
				ph.failed.Add(1)
			}
			ph.fail(p.RequestType + ": " + p.Code)
		}
	}
}

// onWatcher handles a watcher's frames: deliveries, and the side traffic
// the mixed scenario counts.
func (ph *phase) onWatcher(w *watch) func(frame) {
	return func(f frame) {
		switch f.Type {
		case lc.TypeNewMessage:
			var m message
			if !decodeMessage(f, &m) {
				return
			}
			id, intended, ok := parseStamp(m.TempID)
			if !ok || id != ph.id {
				return
			}
			if w.deliver(m.ID, m.Seq) {
				ph.lastDelivery.Store(int64(f.at))
				if ph.inWindow(intended) {
					ph.deliver.Record(f.at - intended)
				}
				if ph.inWindow(f.at) {
					ph.delivWin.Add(1)
				}
			}
		case lc.TypeTypingIndicator:
			ph.typingRecv.Add(1)
		case lc.TypePresenceUpdate:
			ph.presenceRecv.Add(1)
		case lc.TypeError:
			var p struct {
				Code        string `json:"code"`
				RequestType string `json:"request_type"`
			}
			if f.payload(&p) == nil {
				ph.fail(p.RequestType + ": " + p.Code)
			}
		}
	}
}

// schedule is the open-loop sender of one room: a message every interval
// from start+offset, whatever the server does. A send the socket held up
// goes out late but keeps its intended time, so the latency counts the
// wait (no coordinated omission).
func (ph *phase) schedule(ctx context.Context, c *conn, offset, interval time.Duration) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for k := 0; ; k++ {
		intended := ph.start + offset + time.Duration(k)*interval
		if intended >= ph.w1 {
			return
		}
		if wait := intended - ph.clk.now(); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			if late := ph.clk.now() - intended; ph.inWindow(intended) {
				atomicMax(&ph.lagMax, int64(late))
			}
		} else if -wait > time.Millisecond && ph.inWindow(intended) {
			ph.behind.Add(1)
		}
		st := stamp(ph.id, intended)
		if err := c.send(lc.TypeSendMessage, map[string]string{"text": messageText(st), "temp_id": st}); err != nil {
			ph.fail("send_message: write failed")
			return
		}
		ph.sent.Add(1)
		if ph.inWindow(intended) {
			ph.sentWin.Add(1)
		}
	}
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}

// side is one watcher's typing and presence traffic in the mixed scenario:
// typing_start every TypingEvery (typing_stop half-way), set_status every
// StatusEvery, each watcher at its own offset (k of n).
func (ph *phase) side(ctx context.Context, c *conn, k, n int) {
	typing, status := ph.prof.TypingEvery, ph.prof.StatusEvery
	nextType := ph.start + typing*time.Duration(k)/time.Duration(n)
	nextStop := time.Duration(-1)
	nextStatus := ph.start + status*time.Duration(k)/time.Duration(n)
	away := false
	for {
		next, what := nextType, lc.TypeTypingStart
		if nextStop >= 0 && nextStop < next {
			next, what = nextStop, lc.TypeTypingStop
		}
		if nextStatus < next {
			next, what = nextStatus, lc.TypeSetStatus
		}
		if next >= ph.w1 || sleepUntil(ctx, ph.clk, next) != nil {
			break
		}
		var err error
		switch what {
		case lc.TypeTypingStart:
			err = c.send(what, map[string]any{})
			nextType += typing
			nextStop = next + typing/2
			ph.typingSent.Add(1)
		case lc.TypeTypingStop:
			err = c.send(what, map[string]any{})
			nextStop = -1
			ph.typingSent.Add(1)
		case lc.TypeSetStatus:
			away = !away
			err = c.send(what, map[string]string{"status": map[bool]string{true: "away", false: "online"}[away]})
			nextStatus += status
			ph.statusSent.Add(1)
		}
		if err != nil {
			ph.fail(what + ": write failed")
			return
		}
	}
	if away { // leave the operator as it was for the next scenario
		_ = c.send(lc.TypeSetStatus, map[string]string{"status": "online"})
	}
}

// storm drops every watcher but the steady ones at once, reconnects them
// in parallel (dial, auth, join) while the senders go on, and from each
// rejoin on expects every message after the seq its join covered.
func (rs *roomSet) storm(ctx context.Context, ph *phase) {
	defer close(ph.stormDone)
	if sleepUntil(ctx, ph.clk, ph.w0+ph.spec.drop) != nil {
		return
	}
	type victim struct {
		w    *watcher
		room int
	}
	var victims []victim
	for i, rm := range rs.rooms {
		for _, w := range rm.watchers {
			if !w.steady {
				victims = append(victims, victim{w, i})
			}
		}
	}
	// Logged as it happens, so that a profile of the server can be
	// timed to the rejoin (README: Performance).
	rs.r.log.Info("storm: dropping watchers", "target", rs.t.Name, "watchers", len(victims))
	ph.dropAt.Store(int64(ph.clk.now()))
	for _, v := range victims {
		v.w.current().drop()
	}
	ph.dropped = len(victims)
	_ = rs.r.parallel(ctx, len(victims), func(ctx context.Context, i int) error {
		v := victims[i]
		began := ph.clk.now()
		// livechat resumes from the last seq the dropped socket had: the
		// new one expects every message after it, in the answer or live.
		// The floor knows no resume: it expects what follows its join.
		var last *int64
		wt := newWatch(ph.logs[v.room], 0)
		if rs.t.Livechat {
			v.w.mu.Lock()
			s := v.w.watch.highest()
			v.w.mu.Unlock()
			last, wt = &s, newWatch(ph.logs[v.room], s)
		}
		c, err := dial(ctx, v.w.url, ph.clk)
		if err == nil {
			wt.sock = c
			c.onFrame(ph.onWatcher(wt)) // before the join: nothing after its answer is missed by us
			if err = c.authenticate(ctx, v.w.token); err == nil {
				var from int64
				var resync bool
				from, resync, err = c.resume(ctx, rs.rooms[v.room].id, last, func(id, seq int64) { wt.deliver(id, seq) })
				if err == nil && (last == nil || resync) {
					wt.setFrom(from)
				}
			}
			if err != nil {
				c.close()
			}
		}
		if err != nil {
			ph.reconnectFails.Add(1)
			ph.fail("reconnect: " + shortErr(err))
			return nil
		}
		now := ph.clk.now()
		ph.reconnects.Record(now - began)
		atomicMax(&ph.backAt, int64(now))
		v.w.mu.Lock()
		v.w.conn = c
		v.w.mu.Unlock()
		ph.mu.Lock()
		ph.rejoined = append(ph.rejoined, wt)
		ph.mu.Unlock()
		return nil
	})
	rs.r.log.Info("storm: over", "target", rs.t.Name, "took", (ph.clk.now() - time.Duration(ph.dropAt.Load())).Round(time.Millisecond),
		"failed", ph.reconnectFails.Load())
}

// shortErr is an error's first line, for counting errors by kind.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexAny(s, "\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// run runs one phase and settles it.
func (rs *roomSet) run(ctx context.Context, spec phaseSpec) (Result, error) {
	r, t := rs.r, rs.t
	rs.phases++
	ph := &phase{id: int(r.phases.Add(1)), spec: spec, clk: r.clock, prof: r.prof, errs: map[string]int{}, stormDone: make(chan struct{})}
	for _, rm := range rs.rooms {
		log := &ackLog{}
		ph.logs = append(ph.logs, log)
		rm.sender.onFrame(ph.onSender(log))
		for _, w := range rm.watchers {
			wt := newWatch(log, 0)
			w.mu.Lock()
			c := w.conn
			w.watch = wt
			w.mu.Unlock()
			wt.sock = c
			c.onFrame(ph.onWatcher(wt))
			if w.steady || spec.drop <= 0 {
				ph.steady = append(ph.steady, wt)
			}
		}
	}
	const lead = 200 * time.Millisecond // every sender is waiting when the schedule starts
	ph.start = r.clock.now() + lead
	ph.w0 = ph.start + spec.warmup
	ph.w1 = ph.w0 + spec.measure
	var lp *linePhase
	if t.line != nil {
		lp = t.line.watch(ph.id, ph.w0, ph.w1)
	}
	perRoom := spec.rate / float64(len(rs.rooms))
	interval := time.Duration(float64(time.Second) / perRoom)

	var wg sync.WaitGroup
	for i, rm := range rs.rooms {
		offset := interval * time.Duration(i) / time.Duration(len(rs.rooms)) // spread the rooms' sends
		wg.Go(func() { ph.schedule(ctx, rm.sender, offset, interval) })
	}
	if spec.mixed {
		n := 0
		for _, rm := range rs.rooms {
			n += len(rm.watchers)
		}
		k := 0
		for _, rm := range rs.rooms {
			for _, w := range rm.watchers {
				c, kk := w.current(), k
				wg.Go(func() { ph.side(ctx, c, kk, n) })
				k++
			}
		}
	}
	rs.prev = ph
	if spec.drop > 0 {
		wg.Go(func() { rs.storm(ctx, ph) })
	} else {
		close(ph.stormDone)
	}

	// The resources of the measurement window.
	var u0, u1 procfs.Usage
	var self0, self1 time.Duration
	var selfWait0, selfWait1 time.Duration
	var uerr error
	if sleepUntil(ctx, r.clock, ph.w0) == nil {
		u0, uerr = t.usage()
		self0, _ = procfs.SelfCPU()
		selfWait0 = procfs.SchedWait(os.Getpid())
		if sleepUntil(ctx, r.clock, ph.w1) == nil {
			u1, uerr = t.usage()
			self1, _ = procfs.SelfCPU()
			selfWait1 = procfs.SchedWait(os.Getpid())
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if uerr != nil {
		return Result{}, uerr
	}

	// Drain: the schedule is over; wait for the last acknowledgements and
	// deliveries, bounded.
	timedOut := !rs.drain(ctx, ph, r.prof.Drain)
	drained := r.clock.now() - ph.w1
	if err := t.alive(); err != nil {
		return Result{}, err
	}

	res := Result{
		Target: t.Name, Scenario: spec.scenario,
		Params: Params{Rooms: len(rs.rooms), Watchers: len(rs.rooms[0].watchers), Rate: spec.rate,
			WarmupS: spec.warmup.Seconds(), MeasureS: spec.measure.Seconds(), Payload: textSize},
		Sent: int(ph.sent.Load()), Acked: int(ph.acked.Load()), Failed: int(ph.failed.Load()),
		RateIn:         float64(ph.sentWin.Load()) / spec.measure.Seconds(),
		Throughput:     float64(ph.ackedWin.Load()) / spec.measure.Seconds(),
		DeliveriesPerS: float64(ph.delivWin.Load()) / spec.measure.Seconds(),
		Deliver:        ptr(ph.deliver.Summarize()),
		Ack:            ptr(ph.ack.Summarize()),
		DrainMS:        ms(drained),
		DrainTimedOut:  timedOut,
	}
	res.Unacked = res.Sent - res.Acked - res.Failed
	res.linePhase = lp
	cpu := (u1.CPU - u0.CPU).Seconds()
	window := spec.measure.Seconds()
	res.Server = &Usage{CPUSeconds: cpu, CPUPercent: 100 * cpu / window, WaitPercent: 100 * max(u1.Wait-u0.Wait, 0).Seconds() / window,
		RSSKB: u1.RSSKB, PeakKB: u1.PeakKB}
	lag := time.Duration(ph.lagMax.Load())
	res.Bench = &Bench{CPUSeconds: (self1 - self0).Seconds(), WaitPercent: 100 * max(selfWait1-selfWait0, 0).Seconds() / window,
		LagMaxMS: ms(lag), Behind: int(ph.behind.Load()), Lagging: lag > 5*time.Millisecond}
	if cpu > 0 {
		res.DeliveriesPerCPU = float64(ph.delivWin.Load()) / cpu
	}
	var all counts
	for _, w := range ph.steady {
		all.add(w.count())
	}
	if spec.drop > 0 {
		steady := all
		res.SteadyCounts = &steady
		var back counts
		for _, w := range ph.rejoined {
			back.add(w.count())
		}
		res.Missed = back.Lost
		back.Lost = 0 // lost on a socket that stayed is Counts.Lost; after a rejoin it is Missed
		all.add(back)
		res.Dropped = ph.dropped
		res.ConnectErrors = int(ph.reconnectFails.Load())
		res.Connect = ptr(ph.reconnects.Summarize())
		if b := ph.backAt.Load(); b > 0 {
			res.BackMS = ms(time.Duration(b - ph.dropAt.Load()))
		}
	}
	res.Counts = &all
	res.Rooms = ph.perRoom(rs)
	if spec.mixed {
		res.Mixed = &Mixed{TypingSent: int(ph.typingSent.Load()), StatusSent: int(ph.statusSent.Load()),
			TypingReceived: int(ph.typingRecv.Load()), PresenceRecv: int(ph.presenceRecv.Load())}
	}
	ph.mu.Lock()
	if len(ph.errs) > 0 {
		res.Errors = ph.errs
	}
	ph.mu.Unlock()
	return res, nil
}

// perRoom is the accounting room by room: where a loss happened.
func (ph *phase) perRoom(rs *roomSet) []RoomCounts {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	out := make([]RoomCounts, len(ph.logs))
	for i, log := range ph.logs {
		out[i] = RoomCounts{Room: rs.rooms[i].id, Acked: log.len()}
		for _, w := range ph.steady {
			if w.room == log {
				out[i].Watchers++
				out[i].counts.add(w.count())
			}
		}
		for _, w := range ph.rejoined {
			if w.room == log {
				c := w.count()
				out[i].Rejoined++
				out[i].Missed += c.Lost
				c.Lost = 0
				out[i].counts.add(c)
			}
		}
	}
	return out
}

// drain waits until every send is answered, the storm (if any) is over and
// every counted watcher has all it expects; false when timeout passed first.
func (rs *roomSet) drain(ctx context.Context, ph *phase, timeout time.Duration) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if rs.settled(ph) {
			return true
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return rs.settled(ph)
		case <-ctx.Done():
			return false
		}
	}
}

// settled: every send answered, the storm over, and every watcher has all
// it expects, or (something was lost) has caught up with its room and
// nothing has arrived for a while.
func (rs *roomSet) settled(ph *phase) bool {
	select {
	case <-ph.stormDone:
	default:
		return false
	}
	if ph.outstanding() > 0 {
		return false
	}
	ph.mu.Lock()
	ws := append(append([]*watch{}, ph.steady...), ph.rejoined...)
	ph.mu.Unlock()
	complete := true
	for _, w := range ws {
		if w.complete() {
			continue
		}
		if !w.caughtUp() {
			return false
		}
		complete = false
	}
	const quiet = 250 * time.Millisecond
	return complete || ph.clk.now()-time.Duration(ph.lastDelivery.Load()) > quiet
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

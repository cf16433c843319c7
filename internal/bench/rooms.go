package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// roomSet is R rooms, each with its sender and K watchers, connected,
// authenticated and joined. Phases of load run on it one after another.
type roomSet struct {
	r      *runner
	t      *target
	rooms  []*room
	phases int
	prev   *phase // the last phase run
}

type room struct {
	id       string
	sender   *conn
	watchers []*watcher
}

// watcher is one watching socket; conn changes when it reconnects.
type watcher struct {
	mu     sync.Mutex
	conn   *conn
	token  string
	url    string
	steady bool   // stays connected through a reconnect storm
	watch  *watch // this phase's deliveries to conn
}

func (w *watcher) current() *conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn
}

// openRooms connects nRooms × (1 + watchers) sockets, the senders with
// their rooms' owners' tokens, the watchers spread over every operator and
// (with two instances) alternating between them; the sender is on the
// first instance.
func (r *runner) openRooms(ctx context.Context, t *target, nRooms, watchers int) (*roomSet, error) {
	if nRooms > len(t.Rooms) {
		return nil, fmt.Errorf("%d rooms wanted, %d set up", nRooms, len(t.Rooms))
	}
	rs := &roomSet{r: r, t: t}
	type job struct {
		room, watcher int // watcher -1: the sender
	}
	var jobs []job
	for i := range nRooms {
		rs.rooms = append(rs.rooms, &room{id: t.Rooms[i], watchers: make([]*watcher, watchers)})
		jobs = append(jobs, job{i, -1})
		for j := range watchers {
			jobs = append(jobs, job{i, j})
		}
	}
	err := r.parallel(ctx, len(jobs), func(ctx context.Context, k int) error {
		jb := jobs[k]
		rm := rs.rooms[jb.room]
		if jb.watcher < 0 {
			c, _, err := r.openSocket(ctx, t.URLs[0], t.Owners[jb.room], rm.id)
			rm.sender = c
			return err
		}
		i := jb.room*watchers + jb.watcher
		w := &watcher{token: t.token(i + 1), url: t.url(jb.watcher + 1), steady: jb.watcher == 0}
		c, _, err := r.openSocket(ctx, w.url, w.token, rm.id)
		w.conn = c
		rm.watchers[jb.watcher] = w
		return err
	})
	if err != nil {
		rs.close()
		return nil, err
	}
	return rs, nil
}

// openSocket dials, authenticates and joins; it returns the join's last seq.
func (r *runner) openSocket(ctx context.Context, url, token, roomID string) (*conn, int64, error) {
	c, err := dial(ctx, url, r.clock)
	if err != nil {
		return nil, 0, err
	}
	if err := c.authenticate(ctx, token); err != nil {
		c.close()
		return nil, 0, err
	}
	from := int64(0)
	if roomID != "" {
		if from, err = c.join(ctx, roomID); err != nil {
			c.close()
			return nil, 0, err
		}
	}
	return c, from, nil
}

// settle waits (bounded) until the last phase's every send was answered,
// so what the server still works through does not weigh on what comes next.
func (rs *roomSet) settle(ctx context.Context) error {
	p := rs.prev
	if p == nil || p.outstanding() == 0 {
		return nil
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(rs.r.prof.Drain)
	defer deadline.Stop()
	for p.outstanding() > 0 {
		select {
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("%d messages of the last phase still unanswered after %s", p.outstanding(), rs.r.prof.Drain)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// close closes every socket, watchers first (each operator's last socket,
// which makes livechat broadcast presence to all, goes when few are
// left). On a server that is not started afresh for the next phase it
// first waits (bounded) for the last phase's answers, so that what the
// server still works through does not weigh on what comes next.
func (rs *roomSet) close() {
	if rs.t.restart == nil {
		if err := rs.settle(context.Background()); err != nil {
			rs.r.log.Warn("closing the room set anyway", "target", rs.t.Name, "why", err)
		}
	}
	for _, rm := range rs.rooms {
		for _, w := range rm.watchers {
			if w != nil && w.current() != nil {
				w.current().close()
			}
		}
	}
	for _, rm := range rs.rooms {
		if rm.sender != nil {
			rm.sender.close()
		}
	}
}

// parallel runs f(0..n-1) on the profile's number of dialers and returns
// the first error (the others still run to their end).
func (r *runner) parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	jobs := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(r.prof.Dialers, max(n, 1)) {
		wg.Go(func() {
			for i := range jobs {
				if err := f(ctx, i); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// sleepUntil waits until the run's clock reads at.
func sleepUntil(ctx context.Context, clk clock, at time.Duration) error {
	d := at - clk.now()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

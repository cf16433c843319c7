package ws

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"livechat/internal/bus"
	"livechat/internal/clock"
)

// Directory is who is online on the other instances (presence.Redis).
// Without one, an instance knows only its own sockets.
type Directory interface {
	// Put replaces this instance's online operators (id → status) and
	// renews them for the directory's TTL.
	Put(ctx context.Context, instance string, online map[int64]string) error
	// Others is every live instance's but self's, by instance.
	Others(ctx context.Context, self string) (map[string]map[int64]string, error)
	// Drop removes this instance's (a graceful shutdown).
	Drop(ctx context.Context, instance string) error
}

// directoryTimeout bounds one directory call.
const directoryTimeout = 5 * time.Second

// directory is the hub's side of it: one goroutine writes this instance's
// operators when they change (kick, coalesced) and every heartbeat. Each
// heartbeat also reconciles: the statuses this instance's sockets were
// last told (announced: every presence frame it delivered or listed) are
// checked against the directory, and what differs is pushed to this
// instance's sockets only (each instance corrects its own: a push over the
// bus would come once per instance) when it still differs at the next
// heartbeat. That covers an instance that died (its entry expires within
// the TTL) or shut down, and a push computed while another instance's entry
// was a moment old.
type directory struct {
	kick chan struct{}      // capacity 1: a write is due
	tick chan struct{}      // capacity 1: a heartbeat is due
	beat chan chan struct{} // a heartbeat now, closing the channel after (tests)
	done chan struct{}

	mu        sync.Mutex
	announced map[int64]string // operator → the status last sent to this instance's sockets
	suspect   map[int64]string // operator → the status it differed by at the last heartbeat
	failed    bool             // the last call failed (logged once per outage)
}

func (h *Hub) directoryChanged() {
	if h.deps.Directory == nil {
		return
	}
	select {
	case h.dir.kick <- struct{}{}:
	default:
	}
}

func (h *Hub) directoryLoop() {
	defer close(h.dir.done)
	var timer clock.Timer
	arm := func() {
		timer = h.deps.Clock.AfterFunc(h.opt.PresenceHeartbeat, func() {
			select {
			case h.dir.tick <- struct{}{}:
			default:
			}
		})
	}
	arm()
	defer func() { timer.Stop() }()
	h.putDirectory()
	for {
		select {
		case <-h.stop:
			ctx, cancel := context.WithTimeout(context.Background(), directoryTimeout)
			h.directoryResult(h.deps.Directory.Drop(ctx, h.opt.InstanceID))
			cancel()
			return
		case <-h.dir.kick:
			h.putDirectory()
		case <-h.dir.tick:
			h.putDirectory()
			h.checkOthers()
			arm()
		case done := <-h.dir.beat:
			h.putDirectory()
			h.checkOthers()
			close(done)
		}
	}
}

func (h *Hub) putDirectory() {
	ctx, cancel := context.WithTimeout(context.Background(), directoryTimeout)
	defer cancel()
	h.directoryResult(h.deps.Directory.Put(ctx, h.opt.InstanceID, h.localOnline()))
}

// checkOthers pushes to this instance's sockets the operators whose
// status differs from what they were last told.
func (h *Hub) checkOthers() {
	ctx, cancel := context.WithTimeout(context.Background(), directoryTimeout)
	defer cancel()
	others, err := h.deps.Directory.Others(ctx, h.opt.InstanceID)
	if h.directoryResult(err) != nil {
		return
	}
	now := merge(h.localOnline(), others)
	h.dir.mu.Lock()
	stale := map[int64]string{} // operator → its status now
	for id, told := range h.dir.announced {
		if told != "offline" && now[id] == "" {
			stale[id] = "offline"
		}
	}
	for id, status := range now {
		if h.dir.announced[id] != status {
			stale[id] = status
		}
	}
	// Only what was stale at the last heartbeat too: a push on its way
	// (coalesced for up to a second) is not corrected twice.
	fix := map[int64]struct{}{}
	for id, status := range stale {
		if h.dir.suspect[id] == status {
			fix[id] = struct{}{}
			delete(stale, id)
		}
	}
	h.dir.suspect = stale
	h.dir.mu.Unlock()
	if len(fix) > 0 {
		h.pushPresence(ctx, fix, true)
	}
}

// announce records the statuses of a presence frame this instance's
// sockets are sent.
func (h *Hub) announce(frame []byte) {
	if h.deps.Directory == nil {
		return
	}
	var f struct {
		Payload struct {
			Operators []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"operators"`
		} `json:"payload"`
	}
	if json.Unmarshal(frame, &f) != nil {
		return
	}
	h.dir.mu.Lock()
	defer h.dir.mu.Unlock()
	if h.dir.announced == nil {
		h.dir.announced = map[int64]string{}
	}
	for _, o := range f.Payload.Operators {
		if id, err := strconv.ParseInt(o.ID, 10, 64); err == nil {
			h.dir.announced[id] = o.Status
		}
	}
}

// directoryResult logs the start and the end of an outage, once each.
func (h *Hub) directoryResult(err error) error {
	h.dir.mu.Lock()
	defer h.dir.mu.Unlock()
	switch {
	case err != nil && !h.dir.failed:
		h.dir.failed = true
		h.log.Warn("presence directory unreachable: operators on other instances may show offline", "err", err)
	case err == nil && h.dir.failed:
		h.dir.failed = false
		h.log.Info("presence directory answers again")
	}
	return err
}

// everywhere is, for each operator online on any instance, its status. An
// operator online on several whose statuses differ gets the most
// restrictive (busy, away, online), as in the directory: a set_status
// reaches the operator's tabs on every instance, but a tab opened later on
// another instance starts online. When the directory fails it is this
// instance's alone.
func (h *Hub) everywhere(ctx context.Context) map[int64]string {
	out := h.localOnline()
	if h.deps.Directory == nil {
		return out
	}
	// Not the caller's cancellation: a socket that just closed asks too.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), directoryTimeout)
	defer cancel()
	others, err := h.deps.Directory.Others(ctx, h.opt.InstanceID)
	if h.directoryResult(err) != nil {
		return out
	}
	return merge(out, others)
}

// merge adds the instances' operators to local, each with the most
// restrictive of its statuses.
func merge(local map[int64]string, instances map[string]map[int64]string) map[int64]string {
	for _, ops := range instances {
		for id, s := range ops {
			if statusRank(s) > statusRank(local[id]) {
				local[id] = s
			}
		}
	}
	return local
}

func statusRank(status string) int {
	switch status {
	case "online":
		return 1
	case "away":
		return 2
	case "busy":
		return 3
	}
	return 0
}

// publishStatus tells the other instances an operator's new status, for
// its tabs there.
func (h *Hub) publishStatus(ctx context.Context, opID int64, status string) {
	data, _ := json.Marshal(status)
	if err := h.deps.Bus.Publish(ctx, bus.Message{Origin: h.opt.InstanceID, Audience: bus.Audience{Kind: bus.Status, OperatorID: opID}, Frame: data}); err != nil {
		h.log.Error("publish status", "err", err, "operator_id", opID)
	}
}

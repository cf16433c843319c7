package ws

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/clock"
	"livechat/internal/wire"
)

// kpiInterval is the most often analytics_update is pushed.
const kpiInterval = time.Second

// kpiRefresh is how often the KPIs are pushed with no change: the rates
// and means move with the clock alone.
const kpiRefresh = 10 * time.Second

// Leases elects one instance of a deployment for work done once for all
// of them (lease.Redis).
type Leases interface {
	// Hold takes or renews name for holder for ttl, unless another holds
	// it; it reports whether holder does.
	Hold(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// Release gives name up if holder holds it.
	Release(ctx context.Context, name, holder string) error
}

// The KPI lease: its holder computes the KPIs for every instance, renewing
// it every kpiLeaseRenew; when it dies, another takes over within
// kpiLeaseTTL + kpiLeaseRenew, and at its next renewal when it shuts down.
const (
	kpiLease      = "kpis"
	kpiLeaseTTL   = 15 * time.Second
	kpiLeaseRenew = 5 * time.Second
)

// kpiRole is what an instance does about the KPIs.
type kpiRole int

const (
	// kpisForAll: it computes them and publishes them to every instance's
	// subscribers (it holds the lease, or there are no leases: one instance).
	kpisForAll kpiRole = iota
	// kpisForHere: the holder's may not reach its subscribers (the bus is
	// down, or the lease table did not answer): it computes them on a
	// change here, for every instance the bus reaches, and every
	// kpiRefresh for its own subscribers.
	kpisForHere
	// kpisFromHolder: the holder computes them; a change here is a hint
	// to it over the bus.
	kpisFromHolder
)

// kpiPush coalesces KPI pushes to at most one per kpiInterval, and holds
// the KPI lease.
type kpiPush struct {
	mu       sync.Mutex
	last     time.Time
	pending  clock.Timer
	periodic clock.Timer // the next kpiRefresh push
	renewal  clock.Timer // the next lease renewal
	known    bool        // the lease table answered the last renewal
	holder   bool        // and this instance holds the lease
	tried    bool        // the lease table was asked
	closed   bool
	runs     atomic.Int64 // computations, for tests
}

// roleLocked is this instance's kpiRole; the caller holds k.mu.
func (h *Hub) roleLocked() kpiRole {
	k := &h.kpi
	switch {
	case h.deps.Leases == nil:
		return kpisForAll
	case !h.busHealthy() || !k.known:
		return kpisForHere
	case k.holder:
		return kpisForAll
	}
	return kpisFromHolder
}

func (h *Hub) kpiRole() kpiRole {
	h.kpi.mu.Lock()
	defer h.kpi.mu.Unlock()
	return h.roleLocked()
}

// busHealthy reports whether frames published here reach the other
// instances, as far as the bus knows.
func (h *Hub) busHealthy() bool {
	s, ok := h.deps.Bus.(bus.Shared)
	return !ok || s.Healthy()
}

// holdKPILease takes or renews the KPI lease, and again every
// kpiLeaseRenew until the hub closes.
func (h *Hub) holdKPILease() {
	ctx, cancel := context.WithTimeout(context.Background(), kpiLeaseRenew)
	held, err := h.deps.Leases.Hold(ctx, kpiLease, h.opt.InstanceID, kpiLeaseTTL)
	cancel()
	k := &h.kpi
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil && (k.known || !k.tried) { // once per outage, not per renewal
		h.log.Warn("kpi lease: this instance computes its own KPIs", "err", err)
	}
	k.tried = true
	if k.closed {
		if held { // taken as the hub closed: give it back
			h.releaseKPILease()
		}
		return
	}
	k.known, k.holder = err == nil, held && err == nil
	if k.renewal != nil {
		k.renewal.Stop() // HoldKPILease (tests) runs it between renewals
	}
	k.renewal = h.deps.Clock.AfterFunc(kpiLeaseRenew, h.holdKPILease)
}

// releaseKPILease gives the lease up, for another instance to take at its
// next renewal.
func (h *Hub) releaseKPILease() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.deps.Leases.Release(ctx, kpiLease, h.opt.InstanceID); err != nil {
		h.log.Warn("kpi lease not released", "err", err)
	}
}

// refreshKPIs pushes the KPIs every kpiRefresh until the hub closes: the
// holder of the lease to every instance's subscribers, an instance
// without leases (or cut off from the holder) to its own.
func (h *Hub) refreshKPIs() {
	k := &h.kpi
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return
	}
	k.periodic = h.deps.Clock.AfterFunc(kpiRefresh, func() {
		ctx, cancel := context.WithTimeout(context.Background(), kpiRefresh)
		switch role := h.kpiRole(); {
		case role == kpisForAll && h.deps.Leases != nil:
			h.pushKPIs(ctx) // other instances' subscribers count on it
		case role != kpisFromHolder && h.hasAnalytics():
			h.pushLocalKPIs(ctx)
		}
		cancel()
		h.refreshKPIs()
	})
}

func (h *Hub) hasAnalytics() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.analytics) > 0
}

// pushLocalKPIs delivers the KPIs to this instance's subscribers.
func (h *Hub) pushLocalKPIs(ctx context.Context) {
	p, err := h.kpis(ctx)
	if err != nil {
		h.log.Error("kpis", "err", err)
		return
	}
	data, err := json.Marshal(lc.NewAnalyticsUpdateEvent(p, h.deps.Clock.Now()))
	if err != nil {
		h.log.Error("encode frame", "err", err)
		return
	}
	h.deliver(bus.Message{Origin: h.opt.InstanceID, Audience: bus.Audience{Kind: bus.Analytics}, Frame: data})
}

// kpis computes the live KPIs.
func (h *Hub) kpis(ctx context.Context) (lc.AnalyticsUpdatePayloadSchema, error) {
	h.kpi.runs.Add(1)
	k, err := h.deps.Service.KPIs(ctx, len(h.everywhere(ctx)))
	if err != nil {
		return lc.AnalyticsUpdatePayloadSchema{}, err
	}
	return wire.KPIs(k), nil
}

// kpisChanged pushes analytics_update to subscribers now, or at the end of
// the current interval when one was pushed less than a second ago; on an
// instance that does not compute them, it hints the holder.
func (h *Hub) kpisChanged(ctx context.Context) {
	k := &h.kpi
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return
	}
	if h.roleLocked() == kpisFromHolder {
		k.mu.Unlock()
		h.hintKPIs(ctx)
		return
	}
	if k.pending != nil {
		k.mu.Unlock()
		return
	}
	now := h.deps.Clock.Now()
	if wait := k.last.Add(kpiInterval).Sub(now); wait > 0 {
		h.schedulePushLocked(ctx, wait)
		k.mu.Unlock()
		return
	}
	k.last = now
	k.mu.Unlock()
	h.pushKPIs(ctx)
}

// kpisHinted is a hint from another instance: the holder pushes, at the
// latest at the end of the current interval. It never computes on the
// bus's goroutine.
func (h *Hub) kpisHinted(origin string) {
	if origin == h.opt.InstanceID {
		return
	}
	k := &h.kpi
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed || k.pending != nil || h.roleLocked() != kpisForAll {
		return
	}
	h.schedulePushLocked(context.Background(), max(0, k.last.Add(kpiInterval).Sub(h.deps.Clock.Now())))
}

// schedulePushLocked pushes after wait; the caller holds k.mu.
func (h *Hub) schedulePushLocked(ctx context.Context, wait time.Duration) {
	k := &h.kpi
	ctx = context.WithoutCancel(ctx) // the push outlives the request that caused it
	k.pending = h.deps.Clock.AfterFunc(wait, func() {
		k.mu.Lock()
		k.pending = nil
		k.last = h.deps.Clock.Now()
		closed := k.closed
		k.mu.Unlock()
		if !closed {
			h.pushKPIs(ctx)
		}
	})
}

// pushKPIs publishes to the subscribers of every instance; an instance
// that does not compute them hints the holder instead.
func (h *Hub) pushKPIs(ctx context.Context) {
	if h.kpiRole() == kpisFromHolder {
		h.hintKPIs(ctx)
		return
	}
	p, err := h.kpis(ctx)
	if err != nil {
		h.log.Error("kpis", "err", err)
		return
	}
	h.publish(ctx, bus.Audience{Kind: bus.Analytics}, lc.NewAnalyticsUpdateEvent(p, h.deps.Clock.Now()))
}

// hintKPIs tells the lease holder the KPIs may have moved.
func (h *Hub) hintKPIs(ctx context.Context) {
	if err := h.deps.Bus.Publish(ctx, bus.Message{Origin: h.opt.InstanceID, Audience: bus.Audience{Kind: bus.KPIs}, Frame: json.RawMessage("null")}); err != nil {
		h.log.Error("publish kpi hint", "err", err)
	}
}

// stopKPIs cancels a pending push and the lease renewal, and gives the
// lease up (shutdown).
func (h *Hub) stopKPIs() {
	k := &h.kpi
	k.mu.Lock()
	k.closed = true
	for _, t := range []clock.Timer{k.pending, k.periodic, k.renewal} {
		if t != nil {
			t.Stop()
		}
	}
	k.pending = nil
	held := k.holder
	k.mu.Unlock()
	if held {
		h.releaseKPILease()
	}
}

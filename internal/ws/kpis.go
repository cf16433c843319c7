package ws

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/clock"
	"livechat/internal/wire"
)

// kpiInterval is the most often analytics_update is pushed.
const kpiInterval = time.Second

// kpiPush coalesces KPI pushes to at most one per kpiInterval.
type kpiPush struct {
	mu       sync.Mutex
	last     time.Time
	pending  clock.Timer
	periodic clock.Timer // the next kpiRefresh push
	closed   bool
}

// kpiRefresh is how often the KPIs are pushed with no change: the rates
// and means move with the clock alone.
const kpiRefresh = 10 * time.Second

// refreshKPIs pushes the KPIs to this instance's subscribers every
// kpiRefresh, until the hub closes. Each instance serves its own; the
// pushes on a change go to every instance's.
func (h *Hub) refreshKPIs() {
	k := &h.kpi
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return
	}
	k.periodic = h.deps.Clock.AfterFunc(kpiRefresh, func() {
		if h.hasAnalytics() {
			ctx, cancel := context.WithTimeout(context.Background(), kpiRefresh)
			h.pushLocalKPIs(ctx)
			cancel()
		}
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
	k, err := h.deps.Service.KPIs(ctx, len(h.everywhere(ctx)))
	if err != nil {
		return lc.AnalyticsUpdatePayloadSchema{}, err
	}
	return wire.KPIs(k), nil
}

// kpisChanged pushes analytics_update to subscribers now, or at the end of
// the current interval when one was pushed less than a second ago.
func (h *Hub) kpisChanged(ctx context.Context) {
	k := &h.kpi
	k.mu.Lock()
	if k.pending != nil || k.closed {
		k.mu.Unlock()
		return
	}
	now := h.deps.Clock.Now()
	if wait := k.last.Add(kpiInterval).Sub(now); wait > 0 {
		ctx := context.WithoutCancel(ctx) // the push outlives the request that caused it
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
		k.mu.Unlock()
		return
	}
	k.last = now
	k.mu.Unlock()
	h.pushKPIs(ctx)
}

// pushKPIs publishes to the subscribers of every instance.
func (h *Hub) pushKPIs(ctx context.Context) {
	p, err := h.kpis(ctx)
	if err != nil {
		h.log.Error("kpis", "err", err)
		return
	}
	h.publish(ctx, bus.Audience{Kind: bus.Analytics}, lc.NewAnalyticsUpdateEvent(p, h.deps.Clock.Now()))
}

// stopKPIs cancels a pending push (shutdown).
func (k *kpiPush) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	if k.pending != nil {
		k.pending.Stop()
		k.pending = nil
	}
	if k.periodic != nil {
		k.periodic.Stop()
	}
}

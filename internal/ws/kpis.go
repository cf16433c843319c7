package ws

import (
	"context"
	"sync"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/clock"
)

// kpiInterval is the most often analytics_update is pushed.
const kpiInterval = time.Second

// kpiPush coalesces KPI pushes to at most one per kpiInterval.
type kpiPush struct {
	mu      sync.Mutex
	last    time.Time
	pending clock.Timer
	closed  bool
}

// kpis computes the live KPIs.
func (h *Hub) kpis(ctx context.Context) (lc.AnalyticsUpdatePayloadSchema, error) {
	k, err := h.deps.Service.KPIs(ctx, len(h.everywhere(ctx)))
	if err != nil {
		return lc.AnalyticsUpdatePayloadSchema{}, err
	}
	return lc.AnalyticsUpdatePayloadSchema{
		Waiting: int64(k.Waiting), Active: int64(k.Active), OnlineOperators: int64(k.OnlineOperators), SessionsToday: int64(k.SessionsToday),
	}, nil
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
}

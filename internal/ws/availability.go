package ws

import (
	"context"
	"time"

	"livechat/internal/chat"
)

// Availability stores when operators are online on an instance, for the
// operator-performance report (store.DB).
type Availability interface {
	// SeenOnline records windows of operators online on instance: each
	// created, or its end moved to To (a window is known by its operator
	// and From).
	SeenOnline(ctx context.Context, instance string, windows []chat.Window) error
	// PurgeAvailability deletes the windows that ended before before.
	PurgeAvailability(ctx context.Context, before time.Time) (int64, error)
}

// availabilityKept is how long the windows are kept: the report covers
// 30 days at most.
const availabilityKept = 31 * 24 * time.Hour

// availabilityRetry bounds the ended windows kept for another try after a
// failed record.
const availabilityRetry = 10000

// availabilityLoop records this instance's online operators every
// AvailabilityTick, and purges old windows once an hour, until the hub
// closes; Close records them one last time.
func (h *Hub) availabilityLoop() {
	defer close(h.availDone)
	t := time.NewTicker(h.opt.AvailabilityTick)
	defer t.Stop()
	var purged time.Time
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.RecordAvailability()
			if now := h.deps.Clock.Now(); now.Sub(purged) >= time.Hour {
				purged = now
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if _, err := h.deps.Availability.PurgeAvailability(ctx, now.Add(-availabilityKept)); err != nil {
					h.log.Warn("availability not purged", "err", err)
				}
				cancel()
			}
		}
	}
}

// RecordAvailability records this instance's online operators now: each
// one's window since its first socket here opened ends now, until the
// next record moves its end; and the windows that ended since the last
// record, with their ends. A window's end is late by up to a tick while
// its operator is online.
func (h *Hub) RecordAvailability() { h.recordAvailability(context.Background()) }

// recordAvailability is RecordAvailability within ctx (and 10 s).
func (h *Hub) recordAvailability(ctx context.Context) {
	if h.deps.Availability == nil {
		return
	}
	now := h.deps.Clock.Now()
	h.mu.Lock()
	windows := h.gone
	h.gone = nil
	for op, at := range h.since {
		windows = append(windows, chat.Window{OperatorID: op, From: at, To: now})
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.deps.Availability.SeenOnline(ctx, h.opt.InstanceID, windows); err != nil {
		h.log.Warn("availability not recorded", "err", err, "windows", len(windows))
		h.mu.Lock()
		if len(h.gone) < availabilityRetry { // the ended ones again at the next record
			for _, w := range windows {
				if at, online := h.since[w.OperatorID]; !online || !at.Equal(w.From) { // not sent again anyway
					h.gone = append(h.gone, w)
				}
			}
		}
		h.mu.Unlock()
	}
}

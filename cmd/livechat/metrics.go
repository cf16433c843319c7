package main

import (
	"context"
	"log/slog"

	"livechat/internal/bus"
	"livechat/internal/metrics"
	"livechat/internal/store"
	"livechat/internal/ws"
)

// watchMetrics registers the series read at each scrape: the sockets, the
// bus (rb nil: the in-process bus) and the inbox's and outbox's backlogs.
func watchMetrics(m *metrics.Metrics, hub *ws.Hub, rb *bus.Redis, db *store.DB, log *slog.Logger) {
	m.Gauge("ws_sockets", "Open sockets on this instance.", func() float64 {
		s, _ := hub.Counts()
		return float64(s)
	})
	m.Gauge("ws_operators", "Operators with an authenticated socket on this instance.", func() float64 {
		_, o := hub.Counts()
		return float64(o)
	})
	if rb != nil {
		m.Counter("bus_published_total", "Messages Redis took for the other instances.", func() float64 { return float64(rb.Sent()) })
		m.Counter("bus_received_total", "The other instances' messages received.", func() float64 { return float64(rb.Received()) })
		m.Counter("bus_dropped_total", "Messages not sent to the other instances (Redis down, queue full).", func() float64 { return float64(rb.Dropped()) })
		m.Gauge("bus_queue_length", "Messages waiting to be sent to Redis.", func() float64 { return float64(rb.Queued()) })
		m.Gauge("redis_up", "1 while the bus has Redis, 0 while it does not.", func() float64 {
			if rb.Healthy() {
				return 1
			}
			return 0
		})
	}
	m.Backlogs(func(ctx context.Context) (metrics.Backlog, error) {
		ip, id, op, od, err := db.Backlog(ctx)
		return metrics.Backlog{InboxPending: ip, InboxDead: id, OutboxPending: op, OutboxDead: od}, err
	}, log)
}

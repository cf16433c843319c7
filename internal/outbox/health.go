package outbox

import (
	"context"
	"fmt"
	"time"
)

// Health says what keeps messages from going out, one reason each; none
// when nothing does. It runs beside Run (readiness probes): LINE failing,
// LINE's rate limit holding the outbox back, or a message due for longer
// than stall that nobody has attempted for as long (the worker is stuck,
// or not running anywhere).
func (o *Outbox) Health(ctx context.Context, stall time.Duration) []string {
	var out []string
	now := o.clock.Now()
	if t := o.lineTrouble.Load(); t != nil {
		out = append(out, "line: "+*t)
	}
	if until := time.Unix(0, o.paused.Load()); now.Before(until) {
		out = append(out, fmt.Sprintf("line: rate limited, the outbox waits until %s", until.UTC().Format(time.RFC3339)))
		return out // due messages wait on purpose
	}
	next, ok, err := o.store.NextDeliveryAt(ctx)
	switch {
	case err != nil:
		out = append(out, "outbox: cannot read the queue")
	case ok && now.Sub(next) >= stall && now.Sub(time.Unix(0, o.lastAttempt.Load())) >= stall:
		out = append(out, fmt.Sprintf("outbox: a message due since %s has not been attempted for %s",
			next.UTC().Format(time.RFC3339), stall))
	}
	return out
}

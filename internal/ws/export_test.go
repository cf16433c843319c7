package ws

// BudgetCounts is every count of the socket budgets, for tests that check
// nothing leaks.
type BudgetCounts struct{ Pending, PendingIPs, Authed, Reserved int }

func (h *Hub) BudgetCounts() BudgetCounts {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return BudgetCounts{Pending: h.pending, PendingIPs: len(h.pendingIP), Authed: h.authed, Reserved: len(h.reserved)}
}

// PresenceListWaiting is how many sockets wait for the next round of the
// full presence list.
func (h *Hub) PresenceListWaiting() int {
	l := &h.pres.lists
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next == nil {
		return 0
	}
	return len(l.next.conns)
}

// Heartbeat runs a presence directory heartbeat now: this instance's
// operators written, the others read.
func (h *Hub) Heartbeat() {
	done := make(chan struct{})
	h.dir.beat <- done
	<-done
}

// Reconnected runs the bus's reconnect hook, as a Redis reconnect or
// another instance's resync order does.
func (h *Hub) Reconnected() { h.reconnected() }

// HoldKPILease takes or renews the KPI lease now, as the renewal timer does.
func (h *Hub) HoldKPILease() { h.holdKPILease() }

// KPIRuns is how many times this instance computed the KPIs.
func (h *Hub) KPIRuns() int64 { return h.kpi.runs.Load() }

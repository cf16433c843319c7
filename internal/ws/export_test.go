package ws

// BudgetCounts is every count of the socket budgets, for tests that check
// nothing leaks.
type BudgetCounts struct{ Pending, PendingIPs, Authed, Reserved int }

func (h *Hub) BudgetCounts() BudgetCounts {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return BudgetCounts{Pending: h.pending, PendingIPs: len(h.pendingIP), Authed: h.authed, Reserved: len(h.reserved)}
}

package chat

// SetRealertBatch sets the page size of a repeat round, for a test of a
// backlog over several pages; the returned func restores it.
func SetRealertBatch(n int) (restore func()) {
	old := realertBatch
	realertBatch = n
	return func() { realertBatch = old }
}

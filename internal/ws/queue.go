package ws

import (
	"sync"

	"github.com/gorilla/websocket"
)

// outbound is one queued write: a text frame, or a close frame when code != 0.
// A broadcast's outbound carries its PreparedMessage, framed once and shared
// by every socket it goes to; a frame for one socket only has just data.
type outbound struct {
	data []byte
	pm   *websocket.PreparedMessage
	code int
	text string
}

// queue is a socket's bounded FIFO of writes, and the socket's writer
// when it has something to write. A writer goroutine runs only while
// frames wait: push starts one, and it ends when it finds the queue empty,
// so an idle socket keeps no writer (nor its stack). It takes everything
// queued at once and writes it as one batch. The bound is on what waits,
// as a channel's capacity is: a socket whose writer is stuck on a batch
// is disconnected when max more frames wait behind it, so it holds at most
// twice max frames. An idle socket's queue holds no buffer of that size:
// the slices grow while frames flow and are dropped after a burst.
type queue struct {
	mu      sync.Mutex
	items   []*outbound
	spare   []*outbound // the last batch's slice, for the next one
	max     int
	open    bool // the socket is served: writers may start
	writing bool // a writer runs
	ended   bool // the socket ended: no writer starts any more
	writers sync.WaitGroup
}

// keepSlots is the largest slice a queue always keeps for the next batch.
const keepSlots = 16

func newQueue(max int) *queue {
	return &queue{max: max}
}

// push appends o unless the queue is full. start tells the caller to
// start a writer, which then owns the queue's writing until it ends.
func (q *queue) push(o *outbound) (ok, start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= q.max {
		return false, false
	}
	q.items = append(q.items, o)
	return true, q.startLocked()
}

// serve lets writers start; start as for push.
func (q *queue) serve() (start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.open = true
	return len(q.items) > 0 && q.startLocked()
}

func (q *queue) startLocked() bool {
	if !q.open || q.writing || q.ended {
		return false
	}
	q.writing = true
	q.writers.Add(1) // under the lock, so end's caller can Wait
	return true
}

// next hands the writer everything queued, in order, or nil when nothing
// is: the writer ends then, and the next push starts another.
func (q *queue) next() []*outbound {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		q.writing = false
		return nil
	}
	return q.takeLocked()
}

// take hands over everything queued, for tests that read a socket's
// queue without a writer.
func (q *queue) take() []*outbound {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeLocked()
}

func (q *queue) takeLocked() []*outbound {
	batch := q.items
	q.items, q.spare = q.spare, nil
	return batch
}

// written gives back a batch the writer has written. Its slice is kept for
// a later batch while batches fill a good part of it; one much smaller than
// it (the burst is over) lets it go, so an idle socket keeps keepSlots at most.
func (q *queue) written(batch []*outbound) {
	clear(batch)
	if n := cap(batch); n > keepSlots && len(batch) <= n/4 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.spare = batch[:0]
}

// end starts no writer any more; wait then waits for the one running.
func (q *queue) end() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ended = true
}

func (q *queue) wait() { q.writers.Wait() }

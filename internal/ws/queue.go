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

// queue is a socket's bounded FIFO of writes. The writer takes everything
// queued at once and writes it as one batch. The bound is on what waits,
// as a channel's capacity is: a socket whose writer is stuck on a batch
// is disconnected when max more frames wait behind it, so it holds at most
// twice max frames. An idle socket's queue holds no buffer of that size:
// the slices grow while frames flow and are dropped after a burst.
type queue struct {
	mu    sync.Mutex
	items []*outbound
	spare []*outbound // the last batch's slice, for the next one
	max   int
	wake  chan struct{} // a token while items is not empty
}

// keepSlots is the largest slice a queue always keeps for the next batch.
const keepSlots = 16

func newQueue(max int) *queue {
	return &queue{max: max, wake: make(chan struct{}, 1)}
}

// push appends o unless the queue is full.
func (q *queue) push(o *outbound) bool {
	q.mu.Lock()
	if len(q.items) >= q.max {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, o)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take hands the writer everything queued, in order.
func (q *queue) take() []*outbound {
	q.mu.Lock()
	defer q.mu.Unlock()
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

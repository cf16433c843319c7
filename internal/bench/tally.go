package bench

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The correctness accounting. A room's sender records what the server
// acknowledged (message_sent: id and seq); each watcher socket records what
// it was delivered (new_message). At the end of a phase, a watcher is
// expected to have every acknowledged message of its room with a seq above
// the one its join covered (0 for a watcher that was there from the start;
// the join answer's last seq after a reconnect: what came before is in the
// history it was sent, what came after must arrive live). Of those:
//   - delivered: arrived at least once;
//   - lost: never arrived;
//   - duplicated: the same message id arrived twice on one socket;
//   - out of order: a seq lower than one already delivered on the socket;
//   - late: not delivered when the phase ended, with a seq above the last
//     one the (still open) socket had: the server was still behind. A
//     socket delivers a room in seq order, so what it passed by is lost,
//     and so is whatever a socket the server closed never had.
// A delivery of a message never acknowledged (the ack was still on its way
// when the phase gave up) is neither expected nor lost.

// ackLog is one room's acknowledged messages in one phase.
type ackLog struct {
	mu    sync.Mutex
	acked []ack // in arrival order
}

type ack struct{ id, seq int64 }

func (l *ackLog) add(id, seq int64) {
	l.mu.Lock()
	l.acked = append(l.acked, ack{id, seq})
	l.mu.Unlock()
}

func (l *ackLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// since returns the acknowledgements from index i on. The log only grows,
// so the returned elements never change.
func (l *ackLog) since(i int) []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.acked)
	return l.acked[min(i, n):n:n]
}

// snapshot copies the log.
func (l *ackLog) snapshot() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// watch is one watcher socket's deliveries in one phase.
type watch struct {
	room *ackLog
	from int64 // expects the acknowledged messages with seq > from
	sock *conn // the socket; nil in unit tests (counted as open)

	mu      sync.Mutex
	seen    map[int64]int64 // message id → seq
	checked int             // acknowledgements up to here have all arrived
	lastSeq int64
	dup     int
	ooo     int
}

func newWatch(room *ackLog, from int64) *watch {
	return &watch{room: room, from: from, seen: map[int64]int64{}, lastSeq: from}
}

// deliver records one new_message; it reports whether it was the first of
// that id on this socket (only first deliveries count for latency).
func (w *watch) deliver(id, seq int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.seen[id]; ok {
		w.dup++
		return false
	}
	w.seen[id] = seq
	if seq < w.lastSeq {
		w.ooo++
	}
	w.lastSeq = max(w.lastSeq, seq)
	return true
}

// complete reports whether every expected message acknowledged so far has
// arrived. A drain polls it, so it resumes where the last call stopped.
func (w *watch) complete() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.room.since(w.checked) {
		if _, ok := w.seen[a.id]; !ok && a.seq > w.from {
			return false
		}
		w.checked++
	}
	return true
}

// caughtUp reports whether w has the room's latest acknowledged message:
// a socket delivers a room in seq order, so what is still missing then
// will not come.
func (w *watch) caughtUp() bool {
	acked := w.room.since(0)
	w.mu.Lock()
	defer w.mu.Unlock()
	last := int64(0)
	for _, a := range acked {
		last = max(last, a.seq)
	}
	return last <= w.from || w.lastSeq >= last
}

// counts is the accounting of one or more watchers.
type counts struct {
	Expected   int `json:"expected"`
	Delivered  int `json:"delivered"`
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	OutOfOrder int `json:"out_of_order"`
	Late       int `json:"late,omitempty"`              // still on its way when the phase ended
	Unacked    int `json:"delivered_unacked,omitempty"` // delivered, but no ack was seen
}

func (c *counts) add(o counts) {
	c.Expected += o.Expected
	c.Delivered += o.Delivered
	c.Lost += o.Lost
	c.Duplicated += o.Duplicated
	c.OutOfOrder += o.OutOfOrder
	c.Late += o.Late
	c.Unacked += o.Unacked
}

// count settles w against its room's acknowledgements.
func (w *watch) count() counts {
	acked := w.room.snapshot()
	open := w.sock == nil || !w.sock.closed()
	w.mu.Lock()
	defer w.mu.Unlock()
	c := counts{Duplicated: w.dup, OutOfOrder: w.ooo}
	known := make(map[int64]bool, len(acked))
	for _, a := range acked {
		known[a.id] = true
		if a.seq <= w.from {
			continue
		}
		c.Expected++
		_, ok := w.seen[a.id]
		switch {
		case ok:
			c.Delivered++
		case open && a.seq > w.lastSeq:
			c.Late++
		default:
			c.Lost++
		}
	}
	for id := range w.seen {
		if !known[id] {
			c.Unacked++
		}
	}
	return c
}

// A stamp is the temp_id of every message the bench sends: the phase and
// the intended send time on the run's clock, in nanoseconds, so any socket
// that sees the message knows which phase it belongs to and how late it is.
func stamp(phase int, intended time.Duration) string {
	return strconv.Itoa(phase) + "-" + strconv.FormatInt(int64(intended), 10)
}

func parseStamp(s string) (phase int, intended time.Duration, ok bool) {
	p, t, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	ph, err1 := strconv.Atoi(p)
	ns, err2 := strconv.ParseInt(t, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return ph, time.Duration(ns), true
}

// textSize is the length of every message text, as in the runs.
const textSize = 64

// messageText is a textSize-byte text carrying the stamp (readable in the
// server's database and the fake LINE's log).
func messageText(st string) string {
	t := "bench " + st + " "
	if len(t) >= textSize {
		return t[:textSize]
	}
	return t + strings.Repeat("x", textSize-len(t))
}

// highest is the highest seq delivered (or, if none, the one it started from).
func (w *watch) highest() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastSeq
}

// setFrom sets the seq a watcher's join covered, once the join answered.
func (w *watch) setFrom(from int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.from = from
	w.lastSeq = max(w.lastSeq, from)
}

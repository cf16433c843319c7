package ws

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
)

// Pub/sub is at most once, and concurrent senders publish in no set order,
// so an instance puts each room's new_message frames in seq order before
// its sockets get them. A frame with the next seq goes out (with any held
// ones that follow it); a frame past a gap is held; if the gap is still
// open after gapWait, the missing messages are read from the database (the
// bus lost them) and go out before what was held. A frame at or below the
// room's last seq has gone out already, as a refill or twice from the bus,
// and is dropped. When the bus reconnects (Redis restarted), every room
// with sockets here is refilled from the database before anything new.

// gapWait is how long a gap may stay open before the database fills it: a
// frame overtaken by a later one comes within it.
const gapWait = 100 * time.Millisecond

// refillMax is the most messages one refill reads; a room that missed more
// is left to its clients' resume (join_room with last_seq), as the held
// frames go out with the gap.
const refillMax = 500

// refillTries is how many times a failed refill is tried again, waiting
// twice as long each time, before the held frames go out past the gap.
const refillTries = 4

// refillTimeout bounds a refill's read.
const refillTimeout = 5 * time.Second

type roomSeqs struct {
	mu    sync.Mutex // guards rooms
	rooms map[string]*roomSeq
}

// pendingAck is a sender's message_sent waiting for its turn.
type pendingAck struct {
	conn string // the sending tab, which a refill of the message skips
	send func()
}

type roomSeq struct {
	mu   sync.Mutex             // held while the room's frames are handed to its sockets, so they go in order
	last int64                  // the highest seq handed to the room's sockets
	held map[int64]bus.Message  // past a gap
	acks map[int64][]pendingAck // a sender's message_sent, due once the seqs before it went out
	// sentBy is the sending tab of a message acknowledged here whose frame
	// has not gone out yet: a refill of it skips that tab.
	sentBy map[int64]string
	gap    clock.Timer // the refill due, while frames or acks wait
	fails  int         // refills that failed in a row
}

// room is a room's order, made at first (base: the seq before the first
// one to come).
func (s *roomSeqs) room(room string, base int64) *roomSeq {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.rooms[room]
	if rs == nil {
		rs = &roomSeq{last: base}
		if s.rooms == nil {
			s.rooms = map[string]*roomSeq{}
		}
		s.rooms[room] = rs
	}
	return rs
}

// current reports whether rs is room's order still.
func (s *roomSeqs) current(room string, rs *roomSeq) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[room] == rs
}

func (s *roomSeqs) forget(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rooms, room)
}

// inSequence hands a room's new_message to its sockets in seq order.
func (h *Hub) inSequence(m bus.Message) {
	room := m.Audience.Room
	if !h.hasRoom(room) {
		h.seqs.forget(room) // nobody here to tell; a joiner starts from its answer
		return
	}
	rs := h.seqs.room(room, m.Seq-1)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch {
	case m.Seq <= rs.last:
		return // out already
	case m.Seq > rs.last+1:
		if rs.held == nil {
			rs.held = map[int64]bus.Message{}
		}
		rs.held[m.Seq] = m
		if rs.gap == nil {
			rs.gap = h.deps.Clock.AfterFunc(gapWait, func() { h.fillGap(room, rs) })
		}
		return
	}
	h.deliverNow(rs.skipSender(m))
	rs.last = m.Seq
	h.releaseHeld(rs)
}

// releaseHeld hands over the held frames that now follow without a gap,
// and the acks whose turn came. The caller holds rs.mu.
func (h *Hub) releaseHeld(rs *roomSeq) {
	for {
		h.releaseAcks(rs)
		next, ok := rs.held[rs.last+1]
		if !ok {
			break
		}
		delete(rs.held, next.Seq)
		h.deliverNow(rs.skipSender(next))
		rs.last = next.Seq
	}
	if len(rs.held) == 0 && len(rs.acks) == 0 && rs.gap != nil {
		rs.gap.Stop()
		rs.gap = nil
	}
}

// releaseAcks sends the acks of the messages that follow what went out.
func (h *Hub) releaseAcks(rs *roomSeq) {
	for seq, acks := range rs.acks {
		if seq <= rs.last+1 {
			delete(rs.acks, seq)
			for _, a := range acks {
				rs.acked(seq, a.conn)
				a.send()
			}
		}
	}
}

// skipSender keeps m from the tab that has its message_sent here.
func (rs *roomSeq) skipSender(m bus.Message) bus.Message {
	if conn := rs.sentBy[m.Seq]; conn != "" {
		m.Audience.ExcludeConn = conn // the publisher's own, if local, is this one
	}
	return m
}

// acked notes the sending tab of a message acknowledged before its frame
// went out, and forgets those that went.
func (rs *roomSeq) acked(seq int64, conn string) {
	if seq > rs.last {
		if rs.sentBy == nil {
			rs.sentBy = map[int64]string{}
		}
		rs.sentBy[seq] = conn
	}
	for s := range rs.sentBy {
		if s <= rs.last {
			delete(rs.sentBy, s)
		}
	}
}

// ackInSequence sends a sender's message_sent for its message of seq in
// room after the messages before it, as its tab's other frames go: a tab
// never has seq N+1 before N, its own included. It waits at most gapWait,
// as a held frame does.
func (h *Hub) ackInSequence(room string, seq int64, conn string, send func()) {
	rs := h.seqs.room(room, seq-1)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if seq <= rs.last+1 {
		rs.acked(seq, conn)
		send()
		return
	}
	if rs.acks == nil {
		rs.acks = map[int64][]pendingAck{}
	}
	rs.acks[seq] = append(rs.acks[seq], pendingAck{conn: conn, send: send})
	if rs.gap == nil {
		rs.gap = h.deps.Clock.AfterFunc(gapWait, func() { h.fillGap(room, rs) })
	}
}

// fillGap reads what a room's held frames wait for and hands it over, then
// them.
func (h *Hub) fillGap(room string, rs *roomSeq) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.gap = nil
	if !h.seqs.current(room, rs) {
		// The room emptied here and was forgotten: what rs held was for
		// sockets that left, and a newer order serves those that came.
		// A sender that moved on still gets its acks.
		rs.held = nil
		h.sendAllAcks(rs)
		return
	}
	if len(rs.held) == 0 && len(rs.acks) == 0 {
		return
	}
	var upto int64
	if len(rs.held) > 0 {
		upto = slices.Max(slices.Collect(maps.Keys(rs.held)))
	}
	for seq := range rs.acks {
		upto = max(upto, seq-1)
	}
	if !h.refillLocked(room, rs, upto) && rs.fails < refillTries {
		rs.fails++ // the read failed: hold on, and try again later
		rs.gap = h.deps.Clock.AfterFunc(gapWait<<rs.fails, func() { h.fillGap(room, rs) })
		return
	}
	rs.fails = 0
	// Whatever is still missing (the reads failed, or came short) is passed
	// by: the held frames go out. A client that holds them resumes past the
	// hole; the warning says which seqs.
	for len(rs.held) > 0 {
		next := slices.Min(slices.Collect(maps.Keys(rs.held)))
		h.log.Warn("room messages missing after a refill", "room", room, "from", rs.last+1, "to", next-1)
		rs.last = next - 1
		h.releaseHeld(rs)
	}
	h.sendAllAcks(rs) // they waited long enough
}

// sendAllAcks sends every waiting ack.
func (h *Hub) sendAllAcks(rs *roomSeq) {
	for seq, acks := range rs.acks {
		delete(rs.acks, seq)
		for _, a := range acks {
			rs.acked(seq, a.conn)
			a.send()
		}
	}
}

// refillLocked hands the room's messages after rs.last, up to upto (0: as
// many as refillMax), read from the database, with the held frames in
// their place. The caller holds rs.mu.
func (h *Hub) refillLocked(room string, rs *roomSeq, upto int64) (ok bool) {
	n := refillMax
	if upto > 0 {
		if upto <= rs.last {
			h.releaseHeld(rs)
			return true
		}
		n = min(n, int(upto-rs.last))
	}
	ctx, cancel := context.WithTimeout(context.Background(), refillTimeout)
	defer cancel()
	msgs, err := h.deps.Store.MessagesAfter(ctx, room, rs.last, n)
	if err != nil {
		h.log.Error("refill room messages", "room", room, "err", err)
		return false
	}
	now := h.deps.Clock.Now()
	for _, msg := range msgs {
		if msg.Seq != rs.last+1 {
			break
		}
		h.releaseAcks(rs)            // the sender's ack before anything after its message
		sender := rs.sentBy[msg.Seq] // its own tab has its message_sent
		if sender == "" && msg.OperatorID != nil && msg.TempID != "" {
			sender = h.sending(room, *msg.OperatorID, msg.TempID) // or is about to
		}
		if held, ok := rs.held[msg.Seq]; ok {
			delete(rs.held, msg.Seq)
			h.deliverNow(rs.skipSender(held))
		} else if frame := h.refillFrame(msg, now); frame != nil {
			h.deliverNow(bus.Message{Origin: h.opt.InstanceID, Audience: bus.Audience{Kind: bus.Room, Room: room, ExcludeConn: sender}, Seq: msg.Seq, Frame: frame})
		}
		rs.last = msg.Seq
	}
	h.releaseHeld(rs)
	return true
}

func (h *Hub) refillFrame(m chat.Message, now time.Time) []byte {
	data, err := json.Marshal(lc.NewNewMessageEvent(h.deps.Wire.Message(m, m.TempID), now))
	if err != nil {
		h.log.Error("encode frame", "err", err)
		return nil
	}
	return data
}

// settleRefills are when, after the bus reconnected, every room is
// refilled again: another instance's publisher may not know yet that
// Redis is back (it probes with a backoff of up to 2 s) and drops what it
// publishes meanwhile, which no later frame may reveal as a gap.
var settleRefills = []time.Duration{time.Second, 3 * time.Second, 6 * time.Second}

// resyncs coalesces the reconnect hook's rounds: one round (a refill now
// and the settle refills) at a time; a hook that comes during one asks for
// one more round after it. Another instance's resync order may come with
// each of its round trips while its queue overflows: the refills stay
// bounded whatever the rate.
type resyncs struct {
	mu      sync.Mutex
	running bool
	again   bool
}

// reconnected is the bus's reconnect hook: every room is refilled now,
// and again while the other instances settle.
func (h *Hub) reconnected() {
	r := &h.resync
	r.mu.Lock()
	if r.running {
		r.again = true
		r.mu.Unlock()
		return
	}
	r.running = true
	r.mu.Unlock()
	h.refillAll()
	for i, d := range settleRefills {
		last := i == len(settleRefills)-1
		h.deps.Clock.AfterFunc(d, func() {
			select {
			case <-h.stop:
				return
			default:
				h.refillAll()
			}
			if !last {
				return
			}
			r.mu.Lock()
			again := r.again
			r.running, r.again = false, false
			r.mu.Unlock()
			if again {
				h.reconnected()
			}
		})
	}
}

// refillAll refills every room with sockets here: the bus reconnected,
// and what the other instances published meanwhile never arrived.
func (h *Hub) refillAll() {
	s := &h.seqs
	s.mu.Lock()
	rooms := make(map[string]*roomSeq, len(s.rooms))
	for room, rs := range s.rooms {
		rooms[room] = rs
	}
	s.mu.Unlock()
	for room, rs := range rooms {
		if !h.hasRoom(room) {
			s.forget(room)
			continue
		}
		rs.mu.Lock()
		if h.seqs.current(room, rs) {
			h.refillLocked(room, rs, 0)
		}
		rs.mu.Unlock()
	}
}

// seqBaseline starts a room's order at what a join's answer carried (0
// for a conversation without messages), when the room has none yet: a gap
// right after it is then noticed.
func (h *Hub) seqBaseline(room string, through int64) {
	h.seqs.room(room, through)
}

func (h *Hub) hasRoom(room string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.rooms[room]) > 0
}

// sends are the sends in flight on this instance, from before their
// message is stored until it is acknowledged: a refill that reads such a
// message before its ack is noted skips the sending tab.
type sends struct {
	mu    sync.Mutex
	conns map[string]string // room, operator, temp_id → the sending tab
}

func sendKey(room string, opID int64, tempID string) string {
	return room + "\x00" + strconv.FormatInt(opID, 10) + "\x00" + tempID
}

// sendBegins notes a send of conn's; the func it returns ends it.
func (h *Hub) sendBegins(room string, opID int64, tempID, conn string) func() {
	if tempID == "" {
		return func() {}
	}
	k := sendKey(room, opID, tempID)
	h.inflight.mu.Lock()
	if h.inflight.conns == nil {
		h.inflight.conns = map[string]string{}
	}
	h.inflight.conns[k] = conn
	h.inflight.mu.Unlock()
	return func() {
		h.inflight.mu.Lock()
		if h.inflight.conns[k] == conn {
			delete(h.inflight.conns, k)
		}
		h.inflight.mu.Unlock()
	}
}

func (h *Hub) sending(room string, opID int64, tempID string) string {
	h.inflight.mu.Lock()
	defer h.inflight.mu.Unlock()
	return h.inflight.conns[sendKey(room, opID, tempID)]
}

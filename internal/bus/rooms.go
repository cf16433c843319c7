package bus

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Room traffic travels on a channel per room (the bus channel, ":room:",
// the room), which an instance subscribes to only while one of its sockets
// is in the room: an instance receives none of the frames of the rooms it
// has no socket in. Everything else stays on the one bus channel.
//
// The subscriber goroutine, owned by the bus and stopped by Close, turns
// Watch and Unwatch into SUBSCRIBE and UNSUBSCRIBE, as many rooms a round
// trip as have changed (a reconnect storm's joins share them); the
// receiver sees Redis confirm each, which is when Watch returns. go-redis
// subscribes again to every channel it holds when it dials afresh.

// watchWait bounds how long Watch waits for Redis to confirm a new
// subscription: a Redis that is slow to answer delays a join by that
// much at most, and the gap refill covers what the join may then miss.
const watchWait = time.Second

// subscribeBatch is the most channels one SUBSCRIBE or UNSUBSCRIBE names.
const subscribeBatch = 512

// roomWatch is a room this instance wants the frames of.
type roomWatch struct {
	n     int           // Watch calls not yet undone by Unwatch
	ready chan struct{} // closed once Redis confirmed the subscription
}

func (b *Redis) roomChannel(room string) string { return b.channel + ":room:" + room }

// channelFor is the channel m travels on.
func (b *Redis) channelFor(m Message) string {
	if m.Audience.Kind == Room && m.Audience.Room != "" {
		return b.roomChannel(m.Audience.Room)
	}
	return b.channel
}

// Watch makes this instance receive room's frames from the other
// instances until as many Unwatch calls: call it before reading what a
// joining socket is answered, so that what is stored after the read
// arrives. It returns once Redis confirmed the subscription, or after
// watchWait or when ctx ends, or at once while Redis is down (the
// subscription is made when it is back, and the reconnect hooks refill).
func (b *Redis) Watch(ctx context.Context, room string) {
	b.roomsMu.Lock()
	w := b.rooms[room]
	if w == nil {
		w = &roomWatch{ready: make(chan struct{})}
		b.rooms[room] = w
		b.dirty[room] = struct{}{}
		ch := b.roomChannel(room)
		if _, ok := b.subbed[ch]; ok && b.pending[ch] == 0 {
			close(w.ready) // still subscribed: Unwatch's UNSUBSCRIBE is not sent yet
		}
	}
	w.n++
	ready := w.ready
	b.roomsMu.Unlock()
	b.kickSubscriber()
	if !b.Healthy() {
		return
	}
	t := time.NewTimer(watchWait)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	case <-ctx.Done():
	case <-b.stop:
	}
}

// Unwatch undoes one Watch; the last one ends the subscription. It never
// blocks.
func (b *Redis) Unwatch(room string) {
	b.roomsMu.Lock()
	w := b.rooms[room]
	if w != nil {
		w.n--
		if w.n <= 0 {
			delete(b.rooms, room)
			b.dirty[room] = struct{}{}
		}
	}
	b.roomsMu.Unlock()
	b.kickSubscriber()
}

// Watching is how many rooms this instance receives the frames of.
func (b *Redis) Watching() int {
	b.roomsMu.Lock()
	defer b.roomsMu.Unlock()
	return len(b.rooms)
}

func (b *Redis) kickSubscriber() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// subscriber is the goroutine that brings the subscription in line with
// the rooms watched.
func (b *Redis) subscriber() {
	defer close(b.subDone)
	for {
		select {
		case <-b.stop:
			return
		case <-b.kick:
		}
		sub, unsub := b.roomChanges()
		b.psMu.Lock()
		ps := b.pubsub
		if ps != nil {
			// Errors need no handling: go-redis keeps the channels it was
			// asked for and subscribes to them when it dials again, and a
			// lost subscription is the receiver's to notice.
			for c := range slices.Chunk(unsub, subscribeBatch) {
				_ = ps.Unsubscribe(b.runCtx, c...)
			}
			for c := range slices.Chunk(sub, subscribeBatch) {
				_ = ps.Subscribe(b.runCtx, c...)
			}
		}
		b.psMu.Unlock()
	}
}

// roomChanges notes and returns the room channels to subscribe to and to
// unsubscribe from.
func (b *Redis) roomChanges() (sub, unsub []string) {
	b.roomsMu.Lock()
	defer b.roomsMu.Unlock()
	for room := range b.dirty {
		ch := b.roomChannel(room)
		switch watched, subbed := b.rooms[room] != nil, b.hasSub(ch); {
		case watched && !subbed:
			sub = append(sub, ch)
			b.subbed[ch] = struct{}{}
			b.pending[ch]++
		case !watched && subbed:
			unsub = append(unsub, ch)
			delete(b.subbed, ch)
		}
	}
	clear(b.dirty)
	return sub, unsub
}

func (b *Redis) hasSub(ch string) bool {
	_, ok := b.subbed[ch]
	return ok
}

// roomChannels is every room channel subscribed to, for a new pubsub.
func (b *Redis) roomChannels() []string {
	b.roomsMu.Lock()
	defer b.roomsMu.Unlock()
	chans := make([]string, 0, len(b.subbed))
	for ch := range b.subbed {
		chans = append(chans, ch)
	}
	return chans
}

// subscribed is the receiver's: Redis confirmed a subscription to ch. The
// last of the SUBSCRIBEs sent for a channel is the one that stands (one
// may have been undone by an UNSUBSCRIBE in between).
func (b *Redis) subscribed(ch string) {
	b.roomsMu.Lock()
	defer b.roomsMu.Unlock()
	if p := b.pending[ch]; p > 1 {
		b.pending[ch] = p - 1
		return
	}
	delete(b.pending, ch)
	room, ok := strings.CutPrefix(ch, b.roomChannel(""))
	if !ok || !b.hasSub(ch) {
		return // the bus channel, or a room given up meanwhile
	}
	if w := b.rooms[room]; w != nil {
		closeOnce(w.ready)
	}
}

// resubscribedAll is the receiver's: a new connection subscribed to every
// channel go-redis holds, in one command, so every watched room's
// subscription stands; SUBSCRIBEs sent on the lost one are never confirmed.
func (b *Redis) resubscribedAll() {
	b.roomsMu.Lock()
	defer b.roomsMu.Unlock()
	clear(b.pending)
	for room, w := range b.rooms {
		if b.hasSub(b.roomChannel(room)) {
			closeOnce(w.ready)
		}
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

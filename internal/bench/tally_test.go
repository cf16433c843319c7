package bench

import (
	"testing"
	"time"
)

func TestWatchCounts(t *testing.T) {
	room := &ackLog{}
	for i := int64(1); i <= 5; i++ {
		room.add(100+i, i) // ids 101..105, seqs 1..5
	}
	w := newWatch(room, 0)
	for _, d := range []struct{ id, seq int64 }{{101, 1}, {103, 3}, {102, 2}, {103, 3}, {105, 5}, {999, 6}} {
		w.deliver(d.id, d.seq)
	}
	got := w.count()
	want := counts{Expected: 5, Delivered: 4, Lost: 1, Duplicated: 1, OutOfOrder: 1, Unacked: 1}
	if got != want {
		t.Fatalf("count = %+v, want %+v", got, want)
	}
	room.add(106, 7)
	if got := w.count(); got.Late != 1 || got.Lost != 1 {
		t.Fatalf("an acknowledged message above the socket's last seq: %+v, want it late, not lost", got)
	}
	if w.complete() {
		t.Fatal("complete with message 104 missing")
	}
	w.deliver(104, 4)
	w.deliver(106, 7)
	if !w.complete() {
		t.Fatal("not complete once every acknowledged message arrived")
	}
}

// TestWatchAfterRejoin: a watcher that rejoined expects only what comes
// after the history it was sent.
func TestWatchAfterRejoin(t *testing.T) {
	room := &ackLog{}
	for i := int64(1); i <= 6; i++ {
		room.add(i, i)
	}
	w := newWatch(room, 3) // the join answer covered seq 1..3
	w.deliver(3, 3)        // a live copy of what the history had: neither expected nor unexpected
	w.deliver(5, 5)
	got := w.count()
	want := counts{Expected: 3, Delivered: 1, Lost: 1, Late: 1} // 4 was passed by, 6 may still come
	if got != want {
		t.Fatalf("count = %+v, want %+v", got, want)
	}
	if w.complete() {
		t.Fatal("complete with 4 and 6 missing")
	}
	w.deliver(4, 4)
	w.deliver(6, 6)
	if !w.complete() {
		t.Fatal("not complete")
	}
	room.add(7, 7)
	if w.complete() {
		t.Fatal("complete before a newly acknowledged message arrived")
	}
}

func TestStamp(t *testing.T) {
	st := stamp(7, 1234567890*time.Nanosecond)
	ph, at, ok := parseStamp(st)
	if !ok || ph != 7 || at != 1234567890 {
		t.Fatalf("parseStamp(%q) = %d %v %v", st, ph, at, ok)
	}
	for _, bad := range []string{"", "t1", "x-1", "1-x", "1"} {
		if _, _, ok := parseStamp(bad); ok {
			t.Errorf("parseStamp(%q) accepted", bad)
		}
	}
	if txt := messageText(st); len(txt) != textSize {
		t.Fatalf("text of %d bytes: %q", len(txt), txt)
	}
	if txt := messageText(stamp(1, 1<<62)); len(txt) != textSize {
		t.Fatalf("a long stamp gives %d bytes", len(txt))
	}
}

func TestCountsAdd(t *testing.T) {
	var c counts
	c.add(counts{Expected: 2, Delivered: 1, Lost: 1})
	c.add(counts{Expected: 3, Delivered: 3, Duplicated: 2, OutOfOrder: 1, Unacked: 4})
	if c != (counts{Expected: 5, Delivered: 4, Lost: 1, Duplicated: 2, OutOfOrder: 1, Unacked: 4}) {
		t.Fatalf("%+v", c)
	}
}

func TestCaughtUp(t *testing.T) {
	room := &ackLog{}
	w := newWatch(room, 0)
	if !w.caughtUp() {
		t.Fatal("an empty room: nothing to catch up with")
	}
	room.add(1, 1)
	room.add(2, 2)
	room.add(3, 3)
	w.deliver(1, 1)
	if w.caughtUp() {
		t.Fatal("caught up without seq 3")
	}
	w.deliver(3, 3) // 2 was lost on the way
	if !w.caughtUp() || w.complete() {
		t.Fatalf("caught up %v, complete %v: want caught up with 2 missing", w.caughtUp(), w.complete())
	}
}

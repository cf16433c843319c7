package ws

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
)

// TestPresenceChangesWaitForTheList: until a socket's full list is queued,
// a presence change of this instance is dropped (it read the state before
// the list did) and another instance's is held, then queued after the list.
func TestPresenceChangesWaitForTheList(t *testing.T) {
	h := NewHub(Options{InstanceID: "here"}, Deps{Bus: bus.NewMemory(), Clock: clock.NewFake(time.Now()), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h.mu.Lock()
	c := h.addConnLocked()
	h.mu.Unlock()
	if _, err := h.attach(c, chat.Operator{ID: 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.shutdown()
		h.detach(c)
		h.wg.Done()
		_ = h.Close(t.Context())
	})
	change := func(origin, frame string) {
		h.deliver(bus.Message{Origin: origin, Audience: bus.Audience{Kind: bus.Presence}, Frame: []byte(frame)})
	}
	change("here", `"here-1"`)
	change("there", `"there-1"`)
	if batch := c.q.take(); len(batch) != 0 {
		t.Fatalf("queued %d frames before the list", len(batch))
	}
	c.presenceListed(&outbound{data: []byte(`"list"`)})
	change("here", `"here-2"`)
	var got []string
	for _, o := range c.q.take() {
		got = append(got, string(o.data))
	}
	if want := []string{`"list"`, `"there-1"`, `"here-2"`}; !slices.Equal(got, want) {
		t.Fatalf("queued %q, want %q", got, want)
	}
}

package ws

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"livechat/internal/bus"
	"livechat/internal/clock"
)

// TestHandlerPanicClosesItsSocket: a frame handler that panics is logged,
// its socket gets close 1011 after what was queued, and the reader learns
// it must handle nothing more.
func TestHandlerPanicClosesItsSocket(t *testing.T) {
	logs := &panicLog{}
	h := NewHub(Options{InstanceID: "panic"}, Deps{Bus: bus.NewMemory(), Clock: clock.NewFake(time.Now()), Log: slog.New(logs)})
	h.mu.Lock()
	c := h.addConnLocked()
	h.mu.Unlock()
	t.Cleanup(func() {
		c.shutdown()
		h.release(c)
		_ = h.Close(t.Context())
	})
	if ok := c.offReadLoop(func() { c.sendFrame(map[string]string{"type": "before"}) }); !ok {
		t.Fatal("a handler that returned reported a panic")
	}
	if ok := c.offReadLoop(func() { panic("boom") }); ok {
		t.Fatal("a handler that panicked reported success")
	}
	batch := c.q.take()
	if len(batch) != 2 || batch[0].code != 0 || batch[1].code != websocket.CloseInternalServerErr {
		t.Fatalf("queued %+v, want the frame, then close 1011", batch)
	}
	if logs.msg != "frame handler panicked" || !logs.stack {
		t.Fatalf("logged %q (stack %v)", logs.msg, logs.stack)
	}
}

type panicLog struct {
	mu    sync.Mutex
	msg   string
	stack bool
}

func (l *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *panicLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *panicLog) WithGroup(string) slog.Handler            { return l }
func (l *panicLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Level == slog.LevelError {
		l.msg = r.Message
		r.Attrs(func(a slog.Attr) bool {
			l.stack = l.stack || a.Key == "stack" && len(a.Value.String()) > 0
			return true
		})
	}
	return nil
}

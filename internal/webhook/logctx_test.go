package webhook_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"livechat/internal/logctx"
)

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The worker is no request: what is logged while it processes an event
// carries the event's inbox_id instead.
func TestWorkerLinesCarryTheInboxID(t *testing.T) {
	logs := &lockedBuffer{}
	e := newEnv(t, sqlite(t), withLog(slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, nil)))))
	e.send(e.postback("U0123456789abcdef0123456789abcdef", "csat|not-a-rating"))
	e.drain()
	var found bool
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] != "inbox: ignored a malformed CSAT postback" {
			continue
		}
		found = true
		if id, _ := m["inbox_id"].(float64); id < 1 {
			t.Fatalf("line without the event's inbox_id: %v", m)
		}
	}
	if !found {
		t.Fatalf("no malformed-postback line in:\n%s", logs)
	}
}

package floor

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/websocket"

	"livechat/internal/contract/wstest"
)

func serve(t *testing.T, store *Store) string {
	t.Helper()
	s := New(store, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return wstest.URL(ts.URL)
}

type msg struct {
	ID     int64  `json:"id"`
	Seq    int64  `json:"seq"`
	TempID string `json:"temp_id"`
	Text   string `json:"content"`
	Room   string `json:"line_user_id"`
}

const roomID = "U0123456789abcdef0123456789abcdef"

func joined(t *testing.T, url string) (*wstest.Client, int64) {
	t.Helper()
	c := wstest.Dial(t, url, nil)
	c.Send("auth", map[string]any{"token": "anything"})
	c.Expect("auth_success")
	c.Send("join_room", map[string]any{"line_user_id": roomID})
	var cu struct {
		Room    string `json:"line_user_id"`
		LastSeq int64  `json:"last_seq"`
	}
	c.Expect("conversation_update").Decode(t, &cu)
	if cu.Room != roomID {
		t.Fatalf("joined %q, want %q", cu.Room, roomID)
	}
	return c, cu.LastSeq
}

// TestProtocol: every frame the floor sends passes the spec's strict
// validator (wstest), so the bench reads it as it reads livechat's.
func TestProtocol(t *testing.T) {
	for _, persist := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "sqlite"}[persist], func(t *testing.T) {
			var store *Store
			if persist {
				var err error
				if store, err = OpenStore(t.Context(), t.TempDir()); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { store.Close() })
			}
			url := serve(t, store)
			sender, seq0 := joined(t, url)
			watcher, _ := joined(t, url)
			if seq0 != 0 {
				t.Fatalf("a new roomID's last_seq is %d", seq0)
			}
			for i, temp := range []string{"t1", "t2"} {
				sender.Send("send_message", map[string]any{"text": "hello " + temp, "temp_id": temp})
				var ack, got msg
				sender.Expect("message_sent").Decode(t, &ack)
				watcher.Expect("new_message").Decode(t, &got)
				if ack.TempID != temp || ack.Seq != int64(i+1) || got != ack || got.Room != roomID || got.Text != "hello "+temp {
					t.Fatalf("ack %+v, delivered %+v", ack, got)
				}
			}
			// A late joiner learns where the roomID stands.
			if _, seq := joined(t, url); seq != 2 {
				t.Fatalf("last_seq after two messages: %d", seq)
			}
			sender.Send("ping", nil)
			sender.Expect("pong")
			if persist {
				if n, err := store.Count(t.Context()); err != nil || n != 2 {
					t.Fatalf("stored %d messages (%v), want 2", n, err)
				}
			}
		})
	}
}

func TestSendWithoutARoom(t *testing.T) {
	c := wstest.Dial(t, serve(t, nil), nil)
	c.Send("auth", map[string]any{"token": "x"})
	c.Expect("auth_success")
	c.Send("send_message", map[string]any{"text": "hi"})
	c.ExpectError("not_in_room")
}

// TestFullQueueDropsTheSocket: the queue is bounded; a socket that does not
// keep up is stopped instead of growing memory.
func TestFullQueueDropsTheSocket(t *testing.T) {
	c := &client{send: make(chan *websocket.PreparedMessage, 2), quit: make(chan struct{})}
	pm := frame("pong", map[string]any{})
	c.enqueue(pm)
	c.enqueue(pm)
	select {
	case <-c.quit:
		t.Fatal("stopped before the queue was full")
	default:
	}
	c.enqueue(pm)
	select {
	case <-c.quit:
	default:
		t.Fatal("a full queue did not stop the socket")
	}
}

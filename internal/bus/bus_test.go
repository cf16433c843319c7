package bus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"livechat/internal/bus"
)

// eachBus runs fn against a pair of buses that share a medium (two
// "instances"): Memory always, Redis when LIVECHAT_TEST_REDIS_URL is set.
func eachBus(t *testing.T, fn func(t *testing.T, a, b bus.Bus)) {
	t.Run("memory", func(t *testing.T) {
		m := bus.NewMemory()
		t.Cleanup(func() { m.Close() })
		fn(t, m, m)
	})
	t.Run("redis", func(t *testing.T) {
		url := os.Getenv("LIVECHAT_TEST_REDIS_URL")
		if url == "" {
			t.Skip("LIVECHAT_TEST_REDIS_URL not set: skipping Redis")
		}
		raw := make([]byte, 6)
		_, _ = rand.Read(raw)
		channel := "livechat:test:" + hex.EncodeToString(raw) // no sharing between tests
		open := func() bus.Bus {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err := bus.NewRedis(ctx, url, channel, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("LIVECHAT_TEST_REDIS_URL is set but Redis is unreachable: %v", err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		}
		fn(t, open(), open())
	})
}

func collect(b bus.Bus) <-chan bus.Message {
	ch := make(chan bus.Message, 1000)
	b.Subscribe(func(m bus.Message) { ch <- m })
	return ch
}

func recv(t *testing.T, ch <-chan bus.Message) bus.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return bus.Message{}
}

func TestEveryInstanceReceivesEveryMessageOnceInOrder(t *testing.T) {
	eachBus(t, func(t *testing.T, a, b bus.Bus) {
		ca := collect(a)
		var cb <-chan bus.Message
		if a != b {
			cb = collect(b)
		}
		const n = 50
		for i := range n {
			m := bus.Message{Origin: "a", Audience: bus.Audience{Kind: bus.Room, Room: "U1", ExcludeConn: "c1", ExcludeOperator: 7},
				Frame: json.RawMessage(fmt.Sprintf(`{"type":"new_message","n":%d}`, i))}
			if err := a.Publish(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
		check := func(ch <-chan bus.Message) {
			for i := range n {
				m := recv(t, ch)
				if want := fmt.Sprintf(`{"type":"new_message","n":%d}`, i); string(m.Frame) != want {
					t.Fatalf("message %d: frame %s, want %s", i, m.Frame, want)
				}
				if m.Audience.Kind != bus.Room || m.Audience.Room != "U1" || m.Audience.ExcludeConn != "c1" || m.Audience.ExcludeOperator != 7 || m.Origin != "a" {
					t.Fatalf("audience not carried: %+v", m)
				}
			}
			select {
			case m := <-ch:
				t.Fatalf("duplicate or extra message: %+v", m)
			default:
			}
		}
		check(ca)
		if cb != nil {
			check(cb)
		}
	})
}

func TestPublishAfterCloseFails(t *testing.T) {
	eachBus(t, func(t *testing.T, a, _ bus.Bus) {
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Publish(context.Background(), bus.Message{Audience: bus.Audience{Kind: bus.All}, Frame: json.RawMessage(`{}`)}); err == nil {
			t.Fatal("publish after close succeeded")
		}
	})
}

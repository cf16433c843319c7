package bus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"livechat/internal/bus"
	"livechat/internal/bus/redistest"
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
		url := redistest.URL(t)
		channel := testChannel()
		fn(t, openRedis(t, url, channel, bus.RedisOptions{}), openRedis(t, url, channel, bus.RedisOptions{}))
	})
}

// testChannel is a channel of the test's own: no sharing between tests.
func testChannel() string {
	raw := make([]byte, 6)
	_, _ = rand.Read(raw)
	return "livechat:test:" + hex.EncodeToString(raw)
}

// openRedis opens a Redis bus, closed when the test ends.
func openRedis(t *testing.T, url, channel string, opt bus.RedisOptions) *bus.Redis {
	t.Helper()
	return openRedisLog(t, url, channel, opt, slog.New(slog.DiscardHandler))
}

func openRedisLog(t *testing.T, url, channel string, opt bus.RedisOptions, log *slog.Logger) *bus.Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := bus.NewRedis(ctx, url, channel, log, opt)
	if err != nil {
		t.Fatalf("LIVECHAT_TEST_REDIS_URL is set but Redis is unreachable: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return r
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
		if r, ok := b.(bus.Rooms); ok {
			r.Watch(context.Background(), "U1") // room frames reach the instances watching the room
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

// This instance's handlers have a message before Publish returns: local
// delivery never waits for Redis (on Redis it went around through the
// subscription before).
func TestPublishDeliversLocallyBeforeItReturns(t *testing.T) {
	eachBus(t, func(t *testing.T, a, _ bus.Bus) {
		ca := collect(a)
		for i := range 20 {
			frame := fmt.Sprintf(`{"n":%d}`, i)
			if err := a.Publish(context.Background(), bus.Message{Origin: "a", Audience: bus.Audience{Kind: bus.All}, Frame: json.RawMessage(frame)}); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-ca:
				if string(m.Frame) != frame {
					t.Fatalf("got %s, want %s", m.Frame, frame)
				}
			default:
				t.Fatalf("message %d not delivered to this instance when Publish returned", i)
			}
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

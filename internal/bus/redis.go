package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Redis fans messages out over one pub/sub channel. A single receive
// goroutine, owned by the bus and stopped by Close, calls the handlers in
// the order Redis delivers.
type Redis struct {
	client  *redis.Client
	channel string
	log     *slog.Logger
	pubsub  *redis.PubSub

	mu       sync.RWMutex
	handlers []Handler

	cancel context.CancelFunc
	done   chan struct{}
}

// NewRedis connects to url, subscribes to channel and waits for the
// subscription to be confirmed, so that nothing published afterwards is missed.
func NewRedis(ctx context.Context, url, channel string, log *slog.Logger) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("bus: redis url: %w", err)
	}
	client := redis.NewClient(opt)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("bus: redis ping: %w", err)
	}
	ps := client.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		client.Close()
		return nil, fmt.Errorf("bus: redis subscribe %s: %w", channel, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	b := &Redis{client: client, channel: channel, log: log, pubsub: ps, cancel: cancel, done: make(chan struct{})}
	go b.receive(runCtx)
	return b, nil
}

func (b *Redis) receive(ctx context.Context) {
	defer close(b.done)
	ch := b.pubsub.Channel(redis.WithChannelSize(4096))
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			var m Message
			if err := json.Unmarshal([]byte(msg.Payload), &m); err != nil {
				b.log.Warn("bus: dropping malformed message", "err", err)
				continue
			}
			b.mu.RLock()
			for _, h := range b.handlers {
				h(m)
			}
			b.mu.RUnlock()
		}
	}
}

func (b *Redis) Subscribe(h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers = append(b.handlers, h)
}

func (b *Redis) Publish(ctx context.Context, m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("bus: encode: %w", err)
	}
	if err := b.client.Publish(ctx, b.channel, data).Err(); err != nil {
		return fmt.Errorf("bus: redis publish: %w", err)
	}
	return nil
}

// Ping checks that Redis answers (readiness).
func (b *Redis) Ping(ctx context.Context) error {
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("bus: redis ping: %w", err)
	}
	return nil
}

// Close stops the receive goroutine and waits for it.
func (b *Redis) Close() error {
	b.cancel()
	err := b.pubsub.Close()
	<-b.done
	if cerr := b.client.Close(); err == nil {
		err = cerr
	}
	return err
}

// Package presence is the directory of which operators are online on which
// instance, in Redis: each instance keeps a hash of its online operators
// (id → status) that expires unless the instance renews it, and a sorted
// set lists the instances whose hash is still live. An instance that dies
// drops out within the TTL.
package presence

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/clock"
)

// Redis is the directory on one Redis.
type Redis struct {
	client *redis.Client
	prefix string
	ttl    time.Duration
	clock  clock.Clock
}

// NewRedis returns the directory under prefix (e.g. "livechat:presence");
// an instance's entries expire ttl after it last put them.
func NewRedis(client *redis.Client, prefix string, ttl time.Duration, c clock.Clock) *Redis {
	return &Redis{client: client, prefix: prefix, ttl: ttl, clock: c}
}

func (r *Redis) instanceKey(instance string) string { return r.prefix + ":instance:" + instance }
func (r *Redis) setKey() string                     { return r.prefix + ":instances" }

// Put replaces instance's online operators and renews them for the TTL.
func (r *Redis) Put(ctx context.Context, instance string, online map[int64]string) error {
	key := r.instanceKey(instance)
	until := r.clock.Now().Add(r.ttl).UnixMilli()
	pipe := r.client.TxPipeline()
	pipe.Del(ctx, key)
	if len(online) > 0 {
		fields := make([]any, 0, 2*len(online))
		for id, status := range online {
			fields = append(fields, strconv.FormatInt(id, 10), status)
		}
		pipe.HSet(ctx, key, fields...)
		pipe.PExpire(ctx, key, r.ttl)
	}
	pipe.ZAdd(ctx, r.setKey(), redis.Z{Score: float64(until), Member: instance})
	pipe.ZRemRangeByScore(ctx, r.setKey(), "-inf", "("+strconv.FormatInt(r.clock.Now().UnixMilli(), 10))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("presence: put: %w", err)
	}
	return nil
}

// Others returns the online operators of every live instance but self, by
// instance. An operator may be online on several, with different statuses.
func (r *Redis) Others(ctx context.Context, self string) (map[string]map[int64]string, error) {
	now := strconv.FormatInt(r.clock.Now().UnixMilli(), 10)
	instances, err := r.client.ZRangeByScore(ctx, r.setKey(), &redis.ZRangeBy{Min: now, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("presence: instances: %w", err)
	}
	pipe := r.client.Pipeline()
	cmds := map[string]*redis.MapStringStringCmd{}
	for _, in := range instances {
		if in != self {
			cmds[in] = pipe.HGetAll(ctx, r.instanceKey(in))
		}
	}
	out := map[string]map[int64]string{}
	if len(cmds) == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("presence: read: %w", err)
	}
	for in, cmd := range cmds {
		ops := map[int64]string{}
		for f, status := range cmd.Val() {
			if id, err := strconv.ParseInt(f, 10, 64); err == nil {
				ops[id] = status
			}
		}
		out[in] = ops
	}
	return out, nil
}

// Drop removes instance (a graceful shutdown).
func (r *Redis) Drop(ctx context.Context, instance string) error {
	pipe := r.client.TxPipeline()
	pipe.Del(ctx, r.instanceKey(instance))
	pipe.ZRem(ctx, r.setKey(), instance)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("presence: drop: %w", err)
	}
	return nil
}

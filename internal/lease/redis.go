package lease

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"livechat/internal/clock"
)

// Redis is the lease table on one Redis: a key per lease holding
// "holder|end" (end in Unix ms, on the instances' clock, so that a test's
// clock decides terms). The key also expires in Redis a while after the
// end, so that nothing is left behind.
type Redis struct {
	client *redis.Client
	prefix string
	clock  clock.Clock
}

// NewRedis returns the lease table under prefix (e.g. "livechat:lease").
func NewRedis(client *redis.Client, prefix string, c clock.Clock) *Redis {
	return &Redis{client: client, prefix: prefix, clock: c}
}

// hold sets the lease unless another holder's term has not ended: ARGV is
// holder, now, end (ms) and the key's expiry (ms).
var hold = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, '|', 1, true)
  if sep and string.sub(v, 1, sep - 1) ~= ARGV[1] and tonumber(string.sub(v, sep + 1)) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[3], 'PX', ARGV[4])
return 1
`)

// release deletes the lease if ARGV[1] holds it.
var release = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, '|', 1, true)
  if sep and string.sub(v, 1, sep - 1) == ARGV[1] then
    redis.call('DEL', KEYS[1])
  end
end
return 0
`)

// Hold takes name for holder for ttl, or renews it, unless another holder's
// term has not ended; it reports whether holder holds it now.
func (r *Redis) Hold(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := r.clock.Now()
	n, err := hold.Run(ctx, r.client, []string{r.prefix + ":" + name}, holder,
		strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.Add(ttl).UnixMilli(), 10),
		strconv.FormatInt((2*ttl).Milliseconds(), 10)).Int()
	if err != nil {
		return false, fmt.Errorf("lease: hold %s: %w", name, err)
	}
	return n == 1, nil
}

// Release gives name up, if holder holds it, for another to take at once.
func (r *Redis) Release(ctx context.Context, name, holder string) error {
	if err := release.Run(ctx, r.client, []string{r.prefix + ":" + name}, holder).Err(); err != nil && err != redis.Nil {
		return fmt.Errorf("lease: release %s: %w", name, err)
	}
	return nil
}

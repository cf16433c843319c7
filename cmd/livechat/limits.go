package main

import (
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"livechat/internal/clock"
	"livechat/internal/config"
	"livechat/internal/ratelimit"
)

// limits are the socket rate limits and the login lockout: shared through
// Redis when LIVECHAT_REDIS_URL is set (each falls back to this instance's
// memory while Redis fails), in memory otherwise. Their Redis client also
// serves the presence directory.
type limits struct {
	events, typing ratelimit.Allower
	logins         ratelimit.Failures
	redis          *redis.Client // nil without LIVECHAT_REDIS_URL
	close          func() error
}

func newLimits(cfg config.Config, clk clock.Clock, log *slog.Logger) (limits, error) {
	if cfg.RedisURL == "" {
		return limits{
			events: ratelimit.New(cfg.RateLimit, cfg.RateBurst, clk),
			typing: ratelimit.New(cfg.TypingRateLimit, cfg.TypingRateBurst, clk),
			logins: ratelimit.NewFailures(cfg.LoginMaxFailures, cfg.LoginFailureReset, clk),
			close:  func() error { return nil },
		}, nil
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return limits{}, fmt.Errorf("limits: redis url: %w", err)
	}
	client := redis.NewClient(opt)
	log = log.With("component", "limits")
	return limits{
		events: ratelimit.NewRedis(client, "ws", cfg.RateLimit, cfg.RateBurst, clk, log),
		typing: ratelimit.NewRedis(client, "ws-typing", cfg.TypingRateLimit, cfg.TypingRateBurst, clk, log),
		logins: ratelimit.NewRedisFailures(client, "login", cfg.LoginMaxFailures, cfg.LoginFailureReset, clk, log),
		redis:  client,
		close:  client.Close,
	}, nil
}

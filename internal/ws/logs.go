package ws

import (
	"context"
	"log/slog"
	"time"

	"livechat/internal/clock"
	"livechat/internal/ratelimit"
)

// logEvery is how often a log line a client can trigger at will may be
// written: once per socket for an authenticated socket's rejected frames,
// once per instance for what unauthenticated clients cause.
const logEvery = 10 * time.Second

// floodLogs are the hub's log lines an unauthenticated client can trigger
// once per request or frame, each with its own sampler.
type floodLogs struct {
	origin      *ratelimit.Sampler // upgrade refused: origin not allowed
	pendingFull *ratelimit.Sampler // upgrade refused: the pending budget is full
	pendingIP   *ratelimit.Sampler // upgrade refused: the client IP's pending budget is full
	authedFull  *ratelimit.Sampler // upgrade refused: the authenticated budget is full
	authRefused *ratelimit.Sampler // auth refused: a connection cap
	frames      *ratelimit.Sampler // frames rejected on unauthenticated sockets
	slow        *ratelimit.Sampler // unauthenticated sockets dropped as slow consumers
	inbox       *ratelimit.Sampler // other instances' inbox rows dropped: the worker is behind
}

func newFloodLogs(c clock.Clock) floodLogs {
	s := func() *ratelimit.Sampler { return ratelimit.NewSampler(logEvery, c) }
	return floodLogs{origin: s(), pendingFull: s(), pendingIP: s(), authedFull: s(), authRefused: s(), frames: s(), slow: s(), inbox: s()}
}

// sampled writes the line when s lets it through, with how many it held
// back since the last one.
func sampled(ctx context.Context, s *ratelimit.Sampler, log *slog.Logger, level slog.Level, msg string, args ...any) {
	if ok, n := s.Allow(); ok {
		log.Log(ctx, level, msg, append(args, "suppressed", n)...)
	}
}

// clip bounds a client-chosen string before it is logged.
func clip(s string) string {
	const maxLen = 100
	if len(s) > maxLen {
		return s[:maxLen] + "…"
	}
	return s
}

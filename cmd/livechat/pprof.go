package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves Go's profiler on addr, a listener of its own (never
// the public one), until ctx ends. For profiling the hot path under load
// (livechat bench): LIVECHAT_PPROF_ADDR=127.0.0.1:6060.
func servePprof(ctx context.Context, addr string, log *slog.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	stop, bound, err := serveAside(ctx, "LIVECHAT_PPROF_ADDR", addr, mux, log)
	if err == nil {
		log.Warn("profiler serving: keep it off public networks", "addr", bound)
	}
	return stop, err
}

// serveAside serves h on addr, a listener of its own beside the public
// one, until stop; env names the setting, for the error.
func serveAside(ctx context.Context, env, addr string, h http.Handler, log *slog.Logger) (stop func(), bound string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%s: listen on %s: %w", env, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("listener failed", "setting", env, "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, ln.Addr().String(), nil
}

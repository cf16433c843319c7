package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"livechat/internal/line/linefake"
)

// fakeline serves the in-repo fake LINE API (push, reply, profile, loading,
// content, plus its /_fake/ control API) until ctx ends, so the server, the
// customer simulator and `make demo` run without LINE. It requires the
// bearer token in LIVECHAT_LINE_CHANNEL_TOKEN (or --token); with none, any
// bearer token is accepted.
func fakeline(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("fakeline", stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	token := fs.String("token", getenv("LIVECHAT_LINE_CHANNEL_TOKEN"), "channel access token to require (default LIVECHAT_LINE_CHANNEL_TOKEN; empty accepts any)")
	if err := parse(fs, args); err != nil {
		return err
	}
	fake := linefake.New(*token)
	defer fake.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{
		Handler:           fake,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stderr, "fake LINE serving on %s\n", base)
	fmt.Fprintf(stderr, "point the server at it with LIVECHAT_LINE_API_BASE=%[1]s LIVECHAT_LINE_DATA_API_BASE=%[1]s; "+
		"recorded requests: GET %[1]s/_fake/requests\n", base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fake.Close() // releases requests hanging on an injected timeout
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

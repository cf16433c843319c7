package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"livechat/internal/bus/redistest"
)

// A shared dependency failing must not take the instance out of a load
// balancer: with Redis gone, /readyz stays 200 and says "degraded".
func TestReadyzStaysUpWhenRedisFails(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL
	env := map[string]string{"LIVECHAT_DATA_DIR": t.TempDir(), "LIVECHAT_ADDR": "127.0.0.1:0", "LIVECHAT_REDIS_URL": url,
		"LIVECHAT_LINE_CHANNEL_TOKEN": "tok", "LIVECHAT_LINE_CHANNEL_SECRET": "0123456789abcdef0123456789abcdef"}
	ctx, cancel := context.WithCancel(t.Context())
	found := make(chan string, 1)
	w := &lineWriter{re: regexp.MustCompile(`serving on http://(\S+)`), found: found}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, getenvOf(env), strings.NewReader(""), io.Discard, w)
	}()
	defer func() {
		cancel()
		<-done
	}()
	var addr string
	select {
	case addr = <-found:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, w.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	if code, body := readyz(t, addr); code != 200 || body.Status != "ok" || body.Redis != "up" {
		t.Fatalf("readyz with everything up: %d %+v", code, body)
	}
	srv.Stop()
	code, body := readyz(t, addr)
	if code != 200 || body.Status != "degraded" || body.Redis != "down" || len(body.Reasons) != 1 || !strings.HasPrefix(body.Reasons[0], "bus: redis unreachable") {
		t.Fatalf("readyz with Redis down: %d %+v", code, body)
	}
}

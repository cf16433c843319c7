package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ownRedis starts a redis-server of the test's own on a free port and
// returns its URL and a func that kills it. Tests that stop Redis must
// not stop the shared one.
func ownRedis(t *testing.T) (url string, kill func()) {
	t.Helper()
	if os.Getenv("LIVECHAT_TEST_REDIS_URL") == "" {
		t.Skip("LIVECHAT_TEST_REDIS_URL not set: skipping a test that runs its own redis-server")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("LIVECHAT_TEST_REDIS_URL is set but redis-server is not on PATH: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	stopped := false
	kill = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("redis-server did not start")
	}
	return "redis://127.0.0.1:" + port + "/0", kill
}

// A shared dependency failing must not take the instance out of a load
// balancer: with Redis gone, /readyz stays 200 and says "degraded".
func TestReadyzStaysUpWhenRedisFails(t *testing.T) {
	url, kill := ownRedis(t)
	env := map[string]string{"LIVECHAT_DATA_DIR": t.TempDir(), "LIVECHAT_ADDR": "127.0.0.1:0", "LIVECHAT_REDIS_URL": url,
		"LIVECHAT_LINE_CHANNEL_TOKEN": "tok", "LIVECHAT_LINE_CHANNEL_SECRET": "0123456789abcdef0123456789abcdef"}
	ctx, cancel := context.WithCancel(t.Context())
	found := make(chan string, 1)
	w := &lineWriter{re: regexp.MustCompile(`serving on http://(\S+)`), found: found}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, w)
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
	if code, body := readyz(t, addr); code != 200 || body.Status != "ok" {
		t.Fatalf("readyz with everything up: %d %+v", code, body)
	}
	kill()
	code, body := readyz(t, addr)
	if code != 200 || body.Status != "degraded" || len(body.Reasons) != 1 || !strings.HasPrefix(body.Reasons[0], "bus: redis unreachable") {
		t.Fatalf("readyz with Redis down: %d %+v", code, body)
	}
}

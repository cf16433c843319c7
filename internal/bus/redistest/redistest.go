// Package redistest gives tests a Redis: the shared one of
// LIVECHAT_TEST_REDIS_URL, or a redis-server of the test's own on a free
// port, for tests that stop, pause or restart it and so must never touch
// the shared one.
package redistest

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// URL is LIVECHAT_TEST_REDIS_URL; the test is skipped when it is unset.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("LIVECHAT_TEST_REDIS_URL")
	if url == "" {
		t.Skip("LIVECHAT_TEST_REDIS_URL not set: skipping Redis")
	}
	return url
}

// Server is a redis-server of one test's own, killed when the test ends.
type Server struct {
	URL string // redis://127.0.0.1:PORT/0

	t    testing.TB
	bin  string
	port string
	dir  string
	cmd  *exec.Cmd
}

// Start starts a redis-server on a free port, without persistence, and
// waits until it accepts connections. Like every Redis test it runs only
// when LIVECHAT_TEST_REDIS_URL is set (skipped otherwise), and fails when
// redis-server is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	URL(t)
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
	s := &Server{URL: "redis://127.0.0.1:" + port + "/0", t: t, bin: bin, port: port, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// Stop kills the server and waits for it to exit (a no-op when stopped).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused one too
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port (stopping it first if
// it runs) and waits until it accepts connections. Its data is gone.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	cmd := exec.Command(s.bin, "--port", s.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
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
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		s.Stop()
		s.t.Fatalf("redis-server on port %s did not start within 10s", s.port)
	}
}

// Pause stops the server's process (SIGSTOP): connections stay open and
// nothing answers, as with a Redis behind a broken network.
func (s *Server) Pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
}

// Resume continues a paused server.
func (s *Server) Resume() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatal(err)
	}
}

package proc

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func spec(t *testing.T, script string) Spec {
	t.Helper()
	return Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}, Env: os.Environ(), CPU: Unpinned,
		Log: filepath.Join(t.TempDir(), "sh.log"), Ready: regexp.MustCompile(`ready (\d+)`), ReadyTimeout: 10 * time.Second}
}

// gone waits (bounded) until pid no longer runs: dead, or a zombie nobody reaped yet.
func gone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling the kernel, not synchronising goroutines
	}
	t.Fatalf("pid %d still runs", pid)
}

func TestStartStopsTheWholeGroup(t *testing.T) {
	// The child starts a grandchild and says its pid; Stop must end both.
	p, got, err := Start(t.Context(), spec(t, `sleep 60 & echo "ready $!" >&2; wait`))
	if err != nil {
		t.Fatal(err)
	}
	grandchild, err := strconv.Atoi(got)
	if err != nil || !Alive(grandchild) {
		t.Fatalf("ready submatch %q: %v", got, err)
	}
	if err := p.Stop(5 * time.Second); err == nil {
		t.Log("sh exited 0 on SIGTERM")
	}
	if exited, _ := p.Exited(); !exited {
		t.Fatal("Stop returned before the process exited")
	}
	gone(t, p.PID)
	gone(t, grandchild)
}

func TestStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	p, _, err := Start(t.Context(), spec(t, `trap "" TERM; echo "ready 1" >&2; while :; do sleep 1; done`))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Stop = %v, want an error saying it was killed", err)
	}
	gone(t, p.PID)
}

func TestStartReportsAnEarlyExitWithItsLog(t *testing.T) {
	_, _, err := Start(t.Context(), spec(t, `echo "no database here" >&2; exit 3`))
	if err == nil || !strings.Contains(err.Error(), "exited before it served") || !strings.Contains(err.Error(), "no database here") {
		t.Fatalf("Start = %v, want the early exit and the log's end", err)
	}
}

func TestStartGivesUpWhenNeverReady(t *testing.T) {
	s := spec(t, `echo "starting" >&2; exec sleep 60`)
	s.ReadyTimeout = 200 * time.Millisecond
	_, _, err := Start(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), "did not say it serves") {
		t.Fatalf("Start = %v", err)
	}
}

func TestRun(t *testing.T) {
	s := spec(t, `read pw; echo "id for $pw"; echo "a log line" >&2`)
	out, err := Run(t.Context(), s, "secret\n", 10*time.Second)
	if err != nil || out != "id for secret\n" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	if b, _ := os.ReadFile(s.Log); !strings.Contains(string(b), "a log line") {
		t.Errorf("stderr not in the log: %q", b)
	}
	if _, err := Run(t.Context(), spec(t, `echo "bad flag" >&2; exit 2`), "", 10*time.Second); err == nil || !strings.Contains(err.Error(), "bad flag") {
		t.Errorf("a failing command: %v", err)
	}
	start := time.Now()
	if _, err := Run(t.Context(), spec(t, `sleep 60`), "", 200*time.Millisecond); err == nil {
		t.Error("a command past its timeout succeeded")
	}
	if time.Since(start) > 10*time.Second {
		t.Error("the timeout did not end the command")
	}
}

func TestPinnedRunsUnderTaskset(t *testing.T) {
	if _, err := os.Stat("/usr/bin/taskset"); err != nil {
		t.Skip("taskset not installed")
	}
	s := spec(t, `grep Cpus_allowed_list /proc/self/status`)
	s.CPU = 0
	out, err := Run(t.Context(), s, "", 10*time.Second)
	if err != nil || !strings.Contains(out, "\t0\n") {
		t.Fatalf("pinned to CPU 0: %q, %v", out, err)
	}
}

// Package proc starts and stops the processes a bench run measures: each in
// its own process group (so a Ctrl-C reaches the bench, which stops them in
// order, and a stop reaches whatever they started), killed by the kernel
// should the bench die, optionally pinned to a CPU through taskset, with
// its output in a log file.
package proc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec is one process to start.
type Spec struct {
	Name string   // for messages: "server", "fakeline", "floor"
	Path string   // the executable
	Args []string // without the program name
	Env  []string // the whole environment
	CPU  int      // run under `taskset -c CPU`; -1 leaves it unpinned
	Log  string   // file for its stdout and stderr (appended)
	// Ready is a stderr line that says the process serves; its first
	// submatch (say, the address) is what Start returns.
	Ready *regexp.Regexp
	// ReadyTimeout bounds the wait for Ready (30 s when 0).
	ReadyTimeout time.Duration
}

// Process is a started child.
type Process struct {
	Name string
	PID  int
	Log  string // its log file
	cmd  *exec.Cmd
	done chan struct{} // closed once the process was reaped
	err  error         // its exit, valid once done is closed
}

// Unpinned is Spec.CPU for a process the kernel may place anywhere.
const Unpinned = -1

// command builds the exec.Cmd for spec, under taskset when pinned; ctx
// (nil for a long-lived process, which Stop ends) kills its whole group.
func command(ctx context.Context, spec Spec) *exec.Cmd {
	path, args := spec.Path, spec.Args
	if spec.CPU >= 0 {
		// taskset execs the program, so the pid stays the program's.
		args = append([]string{"-c", strconv.Itoa(spec.CPU), path}, args...)
		path = "taskset"
	}
	var cmd *exec.Cmd
	if ctx == nil {
		cmd = exec.Command(path, args...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
	}
	cmd.Env = spec.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Start starts spec and waits until it prints its Ready line. It returns
// the line's first submatch. On any failure the process is stopped and the
// error carries the end of its log.
func Start(ctx context.Context, spec Spec) (*Process, string, error) {
	logf, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("proc: open log of %s: %w", spec.Name, err)
	}
	cmd := command(nil, spec) // no context: Stop ends it
	cmd.Stdout = logf
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return nil, "", fmt.Errorf("proc: %s: %w", spec.Name, err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, "", fmt.Errorf("proc: start %s: %w", spec.Name, err)
	}
	p := &Process{Name: spec.Name, PID: cmd.Process.Pid, Log: spec.Log, cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	copied := make(chan struct{})
	go func() { // copies stderr into the log until the process closes it
		defer close(copied)
		copyLines(stderr, logf, spec.Ready, ready)
	}()
	go func() { // reaps the process once its output is drained, as exec requires
		<-copied
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()

	wait := spec.ReadyTimeout
	if wait <= 0 {
		wait = 30 * time.Second
	}
	if spec.Ready == nil {
		return p, "", nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case got := <-ready:
		return p, got, nil
	case <-p.done:
		return nil, "", fmt.Errorf("proc: %s exited before it served (%v): %s", spec.Name, p.err, Tail(spec.Log, 15))
	case <-t.C:
		_ = p.Stop(5 * time.Second)
		return nil, "", fmt.Errorf("proc: %s did not say it serves within %s: %s", spec.Name, wait, Tail(spec.Log, 15))
	case <-ctx.Done():
		_ = p.Stop(5 * time.Second)
		return nil, "", fmt.Errorf("proc: start %s: %w", spec.Name, ctx.Err())
	}
}

// copyLines copies r to w line by line and sends the first submatch of the
// first line matching re on found.
func copyLines(r io.Reader, w io.Writer, re *regexp.Regexp, found chan<- string) {
	br := bufio.NewReader(r)
	seen := re == nil
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			_, _ = w.Write(line)
			if !seen {
				if m := re.FindSubmatch(line); m != nil {
					seen = true
					got := ""
					if len(m) > 1 {
						got = string(m[1])
					}
					found <- got // buffered, sent once
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process group and waits up to grace for the
// process to exit, then sends SIGKILL. It returns nil when the process
// exited (with 0) on SIGTERM, or had already exited cleanly.
func (p *Process) Stop(grace time.Duration) error {
	if exited, err := p.Exited(); exited {
		if err != nil {
			return fmt.Errorf("proc: %s had exited: %w", p.Name, err)
		}
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("proc: %s exited on SIGTERM with %w: %s", p.Name, p.err, Tail(p.Log, 10))
		}
		return nil
	case <-t.C:
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	kill := time.NewTimer(5 * time.Second)
	defer kill.Stop()
	select {
	case <-p.done:
	case <-kill.C:
		return fmt.Errorf("proc: %s (pid %d) survived SIGKILL for 5s", p.Name, p.PID)
	}
	return fmt.Errorf("proc: %s did not stop within %s of SIGTERM and was killed", p.Name, grace)
}

// Run runs spec to completion (bounded by timeout) and returns its stdout;
// stderr goes to the log. A non-zero exit is an error with the log's end.
func Run(ctx context.Context, spec Spec, stdin string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	logf, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", fmt.Errorf("proc: open log of %s: %w", spec.Name, err)
	}
	defer logf.Close()
	cmd := command(ctx, spec)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, logf, strings.NewReader(stdin)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil { // cancelled or out of time: the log says nothing about why
			return "", fmt.Errorf("proc: %s: %w", spec.Name, ctx.Err())
		}
		return "", fmt.Errorf("proc: %s: %w: %s", spec.Name, err, Tail(spec.Log, 5))
	}
	return out.String(), nil
}

// Tail is the last n lines of a log file, for error messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "log " + path + " ends:\n" + strings.Join(lines, "\n")
}

// Alive reports whether a process with pid exists.
func Alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

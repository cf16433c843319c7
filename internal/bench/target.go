package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"livechat/internal/bench/proc"
	"livechat/internal/bench/procfs"
)

// target is one server under test, started and set up: what a scenario
// needs to connect and act, and the processes whose CPU and memory the
// bench reads.
type target struct {
	Name      string   // "floor", "floor+sqlite", "livechat/sqlite", "livechat/postgres", "livechat/2×redis"
	Livechat  bool     // false: a floor, which speaks only auth, join_room, send_message and ping
	URLs      []string // its socket URLs, one per instance; socket i uses URLs[i % len]
	PIDs      []int    // the server processes measured
	Rooms     []string // line_user_ids with a session the room's sender may write in
	Owners    []string // the token of each room's sender
	Spare     []string // livechat: WAITING rooms the analytics pushes claim, one per push
	Tokens    []string // tokens every other socket is spread over
	Admins    []string // admin tokens: analytics subscribers and the trigger
	scenarios map[string]bool

	line     *lineLog // the fake LINE's log, when the bench started the fake
	lineStop func()   // stops following the log and waits

	// restart starts the target afresh (a new database, new processes);
	// nil for a target that keeps no state between scenarios.
	restart func(context.Context) error

	procs []*proc.Process // ours to stop, last started first
	// cleanup runs after the processes stopped (a Postgres schema to drop).
	cleanup []func(context.Context) error
}

// runs reports whether the target takes part in a scenario.
func (t *target) runs(scenario string) bool { return t.scenarios[scenario] }

// url is the instance of socket i.
func (t *target) url(i int) string { return t.URLs[i%len(t.URLs)] }

// token spreads sockets over the operators: the first len(Tokens) sockets
// are each operator's first.
func (t *target) token(i int) string { return t.Tokens[i%len(t.Tokens)] }

// usage sums what the server processes used so far.
func (t *target) usage() (procfs.Usage, error) {
	var sum procfs.Usage
	for _, pid := range t.PIDs {
		u, err := procfs.Read(pid)
		if err != nil {
			return procfs.Usage{}, fmt.Errorf("%s: %w", t.Name, err)
		}
		sum.CPU += u.CPU
		sum.Wait += u.Wait
		sum.RSSKB += u.RSSKB
		sum.PeakKB += u.PeakKB
	}
	return sum, nil
}

// alive reports an error when a server process the bench started exited.
func (t *target) alive() error {
	for _, p := range t.procs {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s: %s (pid %d) exited during the run: %v: %s", t.Name, p.Name, p.PID, err, proc.Tail(p.Log, 10))
		}
	}
	return nil
}

// info describes the target's processes for the report.
func (t *target) info() TargetInfo {
	ti := TargetInfo{Name: t.Name}
	started := map[int]bool{}
	for _, p := range t.procs {
		started[p.PID] = true
		ti.Processes = append(ti.Processes, ProcessInfo{Name: p.Name, PID: p.PID, Started: true, Measured: slices.Contains(t.PIDs, p.PID)})
	}
	for _, pid := range t.PIDs {
		if !started[pid] {
			ti.Processes = append(ti.Processes, ProcessInfo{Name: "server", PID: pid, Measured: true})
		}
	}
	return ti
}

// stopProcesses stops what the bench started for the target, last
// started first, and stops following the fake LINE.
func (t *target) stopProcesses() error {
	if t.lineStop != nil {
		t.lineStop()
		t.lineStop = nil
	}
	var errs []error
	for i := len(t.procs) - 1; i >= 0; i-- {
		if err := t.procs[i].Stop(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	t.procs = nil
	return errors.Join(errs...)
}

// stop stops the processes and then cleans up (drops Postgres schemas).
func (t *target) stop(ctx context.Context) error {
	errs := []error{t.stopProcesses()}
	for _, f := range t.cleanup {
		if err := f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var floorReady = regexp.MustCompile(`floor serving on http://(\S+)`)

// startFloor starts `livechat bench floor-server`, with one SQLite insert
// per message when sqlite.
func (r *runner) startFloor(ctx context.Context, name string, sqlite bool, scenarios map[string]bool) (*target, error) {
	args := []string{"bench", "floor-server", "--addr", "127.0.0.1:0"}
	if sqlite {
		args = append(args, "--sqlite", filepath.Join(r.dir, safeName(name)))
	}
	p, addr, err := proc.Start(ctx, proc.Spec{
		Name: name, Path: r.cfg.Bin, Args: args, Env: r.env, CPU: r.serverCPU(),
		Log: filepath.Join(r.dir, safeName(name)+".log"), Ready: floorReady,
	})
	if err != nil {
		return nil, err
	}
	t := &target{Name: name, URLs: []string{"ws://" + addr + "/api/v1/ws/live-chat"}, PIDs: []int{p.PID},
		Tokens: []string{"floor"}, Admins: []string{"floor"}, scenarios: scenarios, procs: []*proc.Process{p}}
	for range r.roomsNeeded() {
		t.Rooms = append(t.Rooms, lineUserID())
		t.Owners = append(t.Owners, "floor")
	}
	return t, nil
}

// lineUserID is a fresh LINE user id: U and 32 hex digits.
func lineUserID() string { return "U" + randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// safeName makes a target name usable as a file name.
func safeName(s string) string {
	return regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(s, "-")
}

// Package procfs reads what the bench measures about processes and the
// machine from Linux's /proc: a process's CPU seconds (stat utime+stime)
// and resident memory (status VmRSS, VmHWM), the load average, the memory
// size and the CPU model. The parsers take the file's text, so they are
// tested without a kernel.
package procfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrFormat is a /proc file that does not read as documented in proc(5).
var ErrFormat = errors.New("procfs: unexpected format")

// Usage is one reading of a process.
type Usage struct {
	CPU    time.Duration // user + system time so far
	Wait   time.Duration // time its threads were runnable but waited for a CPU (schedstat), so far
	RSSKB  int64         // resident set now (VmRSS)
	PeakKB int64         // its high-water mark (VmHWM)
}

// Read reads pid's CPU time and memory.
func Read(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("procfs: read stat of %d: %w", pid, err)
	}
	ticks, err := ParseStatTicks(string(stat))
	if err != nil {
		return Usage{}, fmt.Errorf("procfs: stat of %d: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("procfs: read status of %d: %w", pid, err)
	}
	rss, peak, err := ParseStatusMemory(string(status))
	if err != nil {
		return Usage{}, fmt.Errorf("procfs: status of %d: %w", pid, err)
	}
	return Usage{CPU: TicksToDuration(ticks, ClockTicks()), Wait: SchedWait(pid), RSSKB: rss, PeakKB: peak}, nil
}

// SchedWait sums, over pid's threads, the time they spent runnable on a
// run queue without a CPU (the second field of /proc/PID/task/TID/schedstat):
// what other work on the same CPU cost the process. 0 when the kernel does
// not keep schedstats.
func SchedWait(pid int) time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended meanwhile
		}
		if w, err := ParseSchedstatWait(string(b)); err == nil {
			sum += w
		}
	}
	return sum
}

// ParseSchedstatWait is the run-queue wait of a schedstat line: "run_ns wait_ns slices".
func ParseSchedstatWait(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return 0, fmt.Errorf("schedstat %q: %w", s, ErrFormat)
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("schedstat wait %q: %w", f[1], ErrFormat)
	}
	return time.Duration(ns), nil
}

// ParseStatTicks returns utime+stime, in clock ticks, from the text of
// /proc/PID/stat. The command name (field 2) is in parentheses and may hold
// spaces and parentheses itself, so fields are counted from the last ')'.
func ParseStatTicks(stat string) (uint64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name: %w", ErrFormat)
	}
	f := strings.Fields(stat[end+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name: %w", len(f), ErrFormat)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q stime %q: %w", f[11], f[12], ErrFormat)
	}
	return utime + stime, nil
}

// ParseStatusMemory returns VmRSS and VmHWM in kB from /proc/PID/status.
// A zombie has neither: that is an error.
func ParseStatusMemory(status string) (rssKB, peakKB int64, err error) {
	found := 0
	for line := range strings.Lines(status) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("%s line %q: %w", name, strings.TrimSpace(line), ErrFormat)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s value %q: %w", name, f[0], ErrFormat)
		}
		if name == "VmRSS" {
			rssKB = v
		} else {
			peakKB = v
		}
		found++
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("no VmRSS and VmHWM (an exited process?): %w", ErrFormat)
	}
	return rssKB, peakKB, nil
}

// TicksToDuration converts clock ticks at hz ticks per second.
func TicksToDuration(ticks, hz uint64) time.Duration {
	return time.Duration(ticks/hz)*time.Second + time.Duration(ticks%hz)*time.Second/time.Duration(hz)
}

var (
	clkOnce sync.Once
	clkTck  uint64
)

// ClockTicks is the kernel's USER_HZ (sysconf(_SC_CLK_TCK)), read from the
// AT_CLKTCK entry of /proc/self/auxv; 100, Linux's value everywhere, when
// that cannot be read.
func ClockTicks() uint64 {
	clkOnce.Do(func() {
		clkTck = 100
		if b, err := os.ReadFile("/proc/self/auxv"); err == nil {
			if v, ok := ParseAuxv(b, atClkTck); ok && v > 0 {
				clkTck = v
			}
		}
	})
	return clkTck
}

const atClkTck = 17 // from <elf.h>

// ParseAuxv finds key in an auxiliary vector of native-endian 64-bit pairs.
func ParseAuxv(b []byte, key uint64) (uint64, bool) {
	for len(b) >= 16 {
		k, v := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
		if k == key {
			return v, true
		}
		if k == 0 { // AT_NULL ends the vector
			break
		}
		b = b[16:]
	}
	return 0, false
}

// SelfCPU is this process's user + system time so far (getrusage).
func SelfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("procfs: getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// LoadAvg is the 1-minute load average.
func LoadAvg() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, fmt.Errorf("procfs: read loadavg: %w", err)
	}
	return ParseLoadAvg(string(b))
}

// ParseLoadAvg returns the first field of /proc/loadavg.
func ParseLoadAvg(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return 0, fmt.Errorf("loadavg %q: %w", s, ErrFormat)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("loadavg %q: %w", f[0], ErrFormat)
	}
	return v, nil
}

// Machine is what the report says about the host.
type Machine struct {
	CPUs     int    `json:"cpus"`      // online CPUs (runtime.NumCPU at start, before any pinning)
	CPUModel string `json:"cpu_model"` // /proc/cpuinfo "model name"
	MemoryMB int64  `json:"memory_mb"` // /proc/meminfo MemTotal
	Kernel   string `json:"kernel"`    // /proc/sys/kernel/osrelease
	NoFile   uint64 `json:"nofile"`    // RLIMIT_NOFILE soft limit
}

// ReadMachine fills what it can; missing files leave fields empty.
func ReadMachine(cpus int) Machine {
	m := Machine{CPUs: cpus}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = ParseCPUModel(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := ParseMemTotal(string(b)); err == nil {
			m.MemoryMB = kb / 1024
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = string(bytes.TrimSpace(b))
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.NoFile = rl.Cur
	}
	return m
}

// ParseCPUModel is the first "model name" of /proc/cpuinfo.
func ParseCPUModel(cpuinfo string) string {
	for line := range strings.Lines(cpuinfo) {
		if name, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ParseMemTotal is MemTotal of /proc/meminfo, in kB.
func ParseMemTotal(meminfo string) (int64, error) {
	for line := range strings.Lines(meminfo) {
		if name, rest, ok := strings.Cut(line, ":"); ok && name == "MemTotal" {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return v, nil
				}
			}
			return 0, fmt.Errorf("MemTotal line %q: %w", strings.TrimSpace(line), ErrFormat)
		}
	}
	return 0, fmt.Errorf("no MemTotal: %w", ErrFormat)
}

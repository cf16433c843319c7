package procfs

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStatTicks(t *testing.T) {
	// A command name with spaces and a ')' in it: fields count from the last one.
	stat := "4242 (live chat) x) S 1 4242 4242 0 -1 4194304 1234 0 0 0 731 269 0 0 20 0 9 0 123456 1234567 890 18446744073709551615\n"
	got, err := ParseStatTicks(stat)
	if err != nil || got != 1000 {
		t.Fatalf("ParseStatTicks = %d, %v; want 731+269 = 1000", got, err)
	}
	for _, bad := range []string{"", "4242 livechat S 1", "1 (a) S 1 2 3", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 9 0"} {
		if _, err := ParseStatTicks(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseStatTicks(%q) = %v, want ErrFormat", bad, err)
		}
	}
}

func TestParseStatusMemory(t *testing.T) {
	status := "Name:\tlivechat\nVmPeak:\t 2000000 kB\nVmHWM:\t   61000 kB\nVmRSS:\t   42000 kB\nThreads:\t9\n"
	rss, peak, err := ParseStatusMemory(status)
	if err != nil || rss != 42000 || peak != 61000 {
		t.Fatalf("ParseStatusMemory = %d %d %v; want 42000 61000", rss, peak, err)
	}
	zombie := "Name:\tlivechat\nState:\tZ (zombie)\nThreads:\t1\n"
	if _, _, err := ParseStatusMemory(zombie); !errors.Is(err, ErrFormat) {
		t.Errorf("a zombie's status: %v, want ErrFormat", err)
	}
	if _, _, err := ParseStatusMemory("VmRSS:\t12 MB\nVmHWM:\t1 kB\n"); !errors.Is(err, ErrFormat) {
		t.Errorf("a unit other than kB: %v, want ErrFormat", err)
	}
}

func TestParseSchedstatWait(t *testing.T) {
	if w, err := ParseSchedstatWait("123456789 98765432 1234\n"); err != nil || w != 98765432 {
		t.Fatalf("ParseSchedstatWait = %v %v", w, err)
	}
	for _, bad := range []string{"", "1 2", "1 x 3"} {
		if _, err := ParseSchedstatWait(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseSchedstatWait(%q) = %v", bad, err)
		}
	}
}

func TestTicksToDuration(t *testing.T) {
	if got := TicksToDuration(1234, 100); got != 12340*time.Millisecond {
		t.Errorf("1234 ticks at 100 Hz = %v, want 12.34s", got)
	}
	if got := TicksToDuration(3, 250); got != 12*time.Millisecond {
		t.Errorf("3 ticks at 250 Hz = %v, want 12ms", got)
	}
}

func TestParseAuxv(t *testing.T) {
	var b []byte
	for _, kv := range [][2]uint64{{6, 4096}, {17, 250}, {0, 0}, {17, 999}} {
		b = binary.NativeEndian.AppendUint64(b, kv[0])
		b = binary.NativeEndian.AppendUint64(b, kv[1])
	}
	if v, ok := ParseAuxv(b, 17); !ok || v != 250 {
		t.Errorf("ParseAuxv = %d %v, want 250 (and nothing after AT_NULL)", v, ok)
	}
	if _, ok := ParseAuxv(b, 33); ok {
		t.Error("a key that is absent was found")
	}
}

func TestParseLoadAvgMemAndModel(t *testing.T) {
	if v, err := ParseLoadAvg("2.41 2.81 3.02 3/176 20744\n"); err != nil || v != 2.41 {
		t.Errorf("ParseLoadAvg = %v %v", v, err)
	}
	if _, err := ParseLoadAvg("x"); !errors.Is(err, ErrFormat) {
		t.Errorf("bad loadavg: %v", err)
	}
	if kb, err := ParseMemTotal("MemTotal:       24684380 kB\nMemFree: 1 kB\n"); err != nil || kb != 24684380 {
		t.Errorf("ParseMemTotal = %d %v", kb, err)
	}
	if m := ParseCPUModel("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"); m != "AMD EPYC 7B13" {
		t.Errorf("ParseCPUModel = %q", m)
	}
}

// TestReadSelf reads this very process, which uses CPU and memory.
func TestReadSelf(t *testing.T) {
	u, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSSKB <= 0 || u.PeakKB < u.RSSKB {
		t.Errorf("RSS %d kB, peak %d kB", u.RSSKB, u.PeakKB)
	}
	if hz := ClockTicks(); hz == 0 {
		t.Error("no clock ticks")
	}
	if _, err := Read(1 << 30); err == nil {
		t.Error("a process that does not exist was read")
	}
	if _, err := SelfCPU(); err != nil {
		t.Error(err)
	}
}

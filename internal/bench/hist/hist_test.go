package hist

import (
	"math"
	"sync"
	"testing"
	"time"
)

func TestIndexAndBoundsAgree(t *testing.T) {
	for _, v := range []uint64{0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 1000, 4095, 4096, 1 << 20, 123456789, 1 << 45} {
		i := index(v)
		lo, hi := bounds(i)
		if v < lo || v > hi {
			t.Errorf("index(%d) = %d with bounds [%d, %d]: the value is outside its bucket", v, i, lo, hi)
		}
		if v >= 64 && float64(hi-lo) > float64(v)/float64(sub)+1 {
			t.Errorf("bucket of %d is [%d, %d]: wider than 1/%d of the value", v, lo, hi, sub)
		}
	}
	// Consecutive buckets tile the line without gaps.
	for i := 1; i < buckets; i++ {
		_, prevHi := bounds(i - 1)
		lo, _ := bounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, lo, i-1, prevHi)
		}
	}
}

func TestQuantilesOfAUniformSpread(t *testing.T) {
	var h Hist
	for v := 1; v <= 10000; v++ {
		h.Record(time.Duration(v) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want float64 // µs
	}{{0.5, 5000}, {0.9, 9000}, {0.99, 9900}, {0.999, 9990}, {1, 10000}} {
		got := float64(h.Quantile(tc.q) / time.Microsecond)
		if math.Abs(got-tc.want)/tc.want > 0.032 {
			t.Errorf("Quantile(%v) = %v µs, want %v ± 3.2 %%", tc.q, got, tc.want)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Errorf("max %v count %d, want 10ms and 10000", h.Max(), h.Count())
	}
	if m := h.Mean(); m < 4990*time.Microsecond || m > 5010*time.Microsecond {
		t.Errorf("mean %v, want about 5ms", m)
	}
}

func TestSmallValuesAreExactAndTheTailIsSeen(t *testing.T) {
	var h Hist
	for range 999 {
		h.Record(7 * time.Microsecond)
	}
	h.Record(3 * time.Second) // one outlier in a thousand
	if got := h.Quantile(0.5); got != 7*time.Microsecond {
		t.Errorf("p50 = %v, want exactly 7µs", got)
	}
	if got := h.Quantile(0.999); got != 7*time.Microsecond {
		t.Errorf("p99.9 = %v, want 7µs (the outlier is rank 1000 of 1000)", got)
	}
	if got := h.Quantile(1); got != 3*time.Second {
		t.Errorf("p100 = %v, want the max 3s", got)
	}
	s := h.Summarize()
	if s.Max != 3000 || s.P50 != 0.007 || s.Count != 1000 {
		t.Errorf("summary %+v", s)
	}
}

func TestEmptyAndNegative(t *testing.T) {
	var h Hist
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram reports %v %v %v", h.Quantile(0.99), h.Max(), h.Mean())
	}
	h.Record(-time.Second)
	if h.Count() != 1 || h.Max() != 0 {
		t.Fatalf("a negative duration must count as 0: count %d max %v", h.Count(), h.Max())
	}
}

func TestConcurrentRecordAndMerge(t *testing.T) {
	var a, b Hist
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				a.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	b.Record(time.Hour)
	b.Merge(&a)
	if b.Count() != 8001 || b.Max() != time.Hour {
		t.Fatalf("merged count %d max %v, want 8001 and 1h", b.Count(), b.Max())
	}
	if a.Max() != 7999*time.Microsecond {
		t.Fatalf("max %v, want 7999µs", a.Max())
	}
}

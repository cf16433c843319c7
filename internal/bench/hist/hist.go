// Package hist is a log-bucket latency histogram in microseconds, safe for
// concurrent use: every reader goroutine of a run records into one
// histogram with atomic adds, and percentiles are read at the end.
//
// Values below 32 µs are exact; above, each power of two is split into 32
// buckets, so a percentile is within about 3 % of the true value (the same
// idea as HdrHistogram with two significant digits, without its weight).
package hist

import (
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	subBits = 5
	sub     = 1 << subBits // buckets per power of two
	// buckets covers values up to 2^(maxShift+subBits+1) µs, far beyond a day.
	maxShift = 40
	buckets  = (maxShift + 2) * sub
)

// Hist counts durations. The zero value is empty and ready.
type Hist struct {
	counts [buckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Uint64
	sum    atomic.Uint64
}

// index is the bucket of v (µs).
func index(v uint64) int {
	if v < sub {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	if shift > maxShift {
		return buckets - 1
	}
	return shift*sub + int(v>>shift)
}

// bounds are the smallest and largest value of bucket i.
func bounds(i int) (lo, hi uint64) {
	if i < 2*sub {
		return uint64(i), uint64(i)
	}
	shift := i/sub - 1
	lo = uint64(i-shift*sub) << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds d; negative durations count as 0.
func (h *Hist) Record(d time.Duration) {
	v := uint64(max(d, 0) / time.Microsecond)
	h.counts[index(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of recorded values.
func (h *Hist) Count() uint64 { return h.n.Load() }

// Max is the largest recorded value (exact).
func (h *Hist) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Mean is the average, 0 when empty.
func (h *Hist) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}

// Quantile is the value below which a fraction q (0..1) of the recorded
// values lie: the middle of the bucket that holds the value of rank
// ceil(q·n), never above Max; the top rank is Max itself. 0 when empty.
func (h *Hist) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	rank = min(max(rank, 1), n)
	if rank == n {
		return h.Max()
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bounds(i)
			v := min(lo+(hi-lo)/2, h.max.Load())
			return time.Duration(v) * time.Microsecond
		}
	}
	return h.Max() // a Record raced with the walk
}

// Merge adds o's counts to h.
func (h *Hist) Merge(o *Hist) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	for {
		m, v := h.max.Load(), o.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Summary is the usual percentiles, in milliseconds.
type Summary struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// Summarize reads h's percentiles.
func (h *Hist) Summarize() Summary {
	return Summary{
		Count: h.Count(),
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P99:   ms(h.Quantile(0.99)),
		P999:  ms(h.Quantile(0.999)),
		Max:   ms(h.Max()),
		Mean:  ms(h.Mean()),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

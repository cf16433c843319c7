package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"livechat/internal/bench/hist"
)

// lineLog follows the fake LINE's request log while livechat runs: every
// push it answered carries a bench message's text, and so its stamp. That
// gives, per phase, how many messages the outbox delivered to LINE and how
// long after their intended send time; and for the run, whether the outbox
// has caught up before the next scenario starts.
type lineLog struct {
	base  string
	clk   clock
	start time.Time // the wall time of the run clock's zero (the fake logs wall times)
	http  *http.Client

	pushed atomic.Int64 // delivered pushes of bench messages, all phases
	errors atomic.Int64 // failed polls
	mu     sync.Mutex
	phases map[int]*linePhase
}

// linePhase is one phase's pushes.
type linePhase struct {
	w0, w1 time.Duration // its measurement window
	n      atomic.Int64
	lat    hist.Hist // intended send → the fake received the push, for messages intended in the window
}

func newLineLog(base string, clk clock) *lineLog {
	return &lineLog{base: strings.TrimRight(base, "/"), clk: clk, start: time.Now().Add(-clk.now()),
		// No keep-alive: a connection dialed for a poll that was cancelled
		// is closed, not pooled, so it cannot hold up the fake's shutdown.
		http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, phases: map[int]*linePhase{}}
}

// watch registers a phase before its first message is sent.
func (l *lineLog) watch(id int, w0, w1 time.Duration) *linePhase {
	p := &linePhase{w0: w0, w1: w1}
	l.mu.Lock()
	l.phases[id] = p
	l.mu.Unlock()
	return p
}

func (l *lineLog) phase(id int) *linePhase {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phases[id]
}

// run long-polls the fake until ctx ends. Requests are listed once
// answered, so one answered late may come after later ones: the cursor
// only moves past a seq once everything up to it was seen.
func (l *lineLog) run(ctx context.Context) {
	after, ahead := 0, map[int]bool{}
	for ctx.Err() == nil {
		rs, err := l.poll(ctx, after)
		if err != nil {
			if ctx.Err() == nil {
				l.errors.Add(1)
				_ = sleepFor(ctx, 200*time.Millisecond)
			}
			continue
		}
		fresh := 0
		for _, r := range rs {
			if r.Seq <= after || ahead[r.Seq] {
				continue
			}
			ahead[r.Seq] = true
			fresh++
			l.record(r)
		}
		for ahead[after+1] {
			delete(ahead, after+1)
			after++
		}
		if fresh == 0 && len(ahead) > 0 {
			_ = sleepFor(ctx, 50*time.Millisecond) // a push still in flight: the fake answers at once with what we have
		}
	}
}

type fakeRequest struct {
	Seq       int       `json:"seq"`
	Time      time.Time `json:"time"`
	Delivered bool      `json:"delivered"`
	Messages  []struct {
		Text string `json:"text"`
	} `json:"messages"`
}

func (l *lineLog) poll(ctx context.Context, after int) ([]fakeRequest, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	url := l.base + "/_fake/requests?endpoint=push&wait=2s&after=" + strconv.Itoa(after)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fake LINE requests: %s", resp.Status)
	}
	var out struct {
		Requests []fakeRequest `json:"requests"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("fake LINE requests: %w", err)
	}
	return out.Requests, nil
}

// record counts a delivered push of a bench message.
func (l *lineLog) record(r fakeRequest) {
	if !r.Delivered || len(r.Messages) == 0 {
		return
	}
	f := strings.Fields(r.Messages[0].Text) // "bench <stamp> xxx…"
	if len(f) < 2 || f[0] != "bench" {
		return
	}
	id, intended, ok := parseStamp(f[1])
	if !ok {
		return
	}
	l.pushed.Add(1)
	if p := l.phase(id); p != nil {
		p.n.Add(1)
		if intended >= p.w0 && intended < p.w1 {
			p.lat.Record(r.Time.Sub(l.start) - intended)
		}
	}
}

// Package simulate plays LINE customers against a running livechat server
// and the fake LINE (`livechat fakeline`), so the whole loop runs on one
// machine: each customer follows the Official Account, says hello, asks for
// a human (one after another, in list order, so they queue in that order),
// answers what the operators write, and rates the chat when the survey
// arrives. Customers talk to the server the way LINE does, with signed
// webhook events; they hear the server through the fake LINE's request log
// (its /_fake/ control API), which records every push and reply.
package simulate

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Limits of a run.
const (
	MaxCustomers    = 1000
	DefaultDuration = 10 * time.Minute
	DefaultPollWait = 20 * time.Second
	DefaultFakeLine = "http://127.0.0.1:8090"
)

// Config is one run.
type Config struct {
	Server    string        // the livechat server's base URL; webhooks go to {Server}/api/v1/line/webhook
	FakeLine  string        // the fake LINE's base URL (its /_fake/ control API)
	Secret    string        // the LINE channel secret the server checks X-Line-Signature with
	Customers int           // how many customers to play, 1..MaxCustomers
	Duration  time.Duration // give up after this long; 0: DefaultDuration
	Seed      uint64        // decides the customers' ids and random ratings
	Score     int           // the rating every customer gives, 1..5; 0: a seeded random 1..5 each

	HTTP     *http.Client  // nil: a client without a global timeout (each call has its own)
	PollWait time.Duration // long-poll wait at the fake LINE; 0: DefaultPollWait
	// HintAfter is how long a customer waits for the answer to its handoff
	// request before the log suggests what may be misconfigured; 0: 15s.
	HintAfter time.Duration
}

// Validate reports every problem with c, joined; nil when c can run.
func (c Config) Validate() error {
	var errs []error
	if err := checkURL(c.Server); err != nil {
		errs = append(errs, fmt.Errorf("--server %w", err))
	}
	if err := checkURL(c.FakeLine); err != nil {
		errs = append(errs, fmt.Errorf("--fakeline %w", err))
	}
	if c.Secret == "" {
		errs = append(errs, errors.New("no channel secret: pass --secret or set LIVECHAT_LINE_CHANNEL_SECRET (the server's)"))
	}
	if c.Customers < 1 || c.Customers > MaxCustomers {
		errs = append(errs, fmt.Errorf("--customers must be 1-%d", MaxCustomers))
	}
	if c.Duration < 0 {
		errs = append(errs, errors.New("--duration must be positive"))
	}
	if c.Score < 0 || c.Score > 5 {
		errs = append(errs, errors.New("--score must be 1-5 (0: a seeded random score per customer)"))
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("is required (a base URL like http://127.0.0.1:8080)")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an http:// or https:// base URL, got %q", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must be a base URL without query or fragment, got %q", s)
	}
	return nil
}

func (c Config) withDefaults() Config {
	c.Server = strings.TrimRight(c.Server, "/")
	c.FakeLine = strings.TrimRight(c.FakeLine, "/")
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.PollWait <= 0 {
		c.PollWait = DefaultPollWait
	}
	if c.HintAfter <= 0 {
		c.HintAfter = 15 * time.Second
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{}
	}
	return c
}

// Customer is one simulated LINE user.
type Customer struct {
	N      int    // 1-based
	UserID string // U + 32 lower-case hex digits, as LINE's
	Name   string // the display name the fake LINE's profile gives: "Customer N"
	Score  int    // the rating this customer gives
}

// Customers returns the n customers of seed: the same seed gives the same
// ids and ratings. score fixes every rating (1..5); 0 draws each from the seed.
func Customers(seed uint64, n, score int) []Customer {
	r := rand.New(rand.NewPCG(seed, 0x6c697665636861)) // "livecha"
	out := make([]Customer, 0, n)
	seen := map[string]bool{}
	for len(out) < n {
		id := fmt.Sprintf("U%016x%016x", r.Uint64(), r.Uint64())
		s := score
		if s == 0 {
			s = 1 + r.IntN(5)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		k := len(out) + 1
		out = append(out, Customer{N: k, UserID: id, Name: fmt.Sprintf("Customer %d", k), Score: s})
	}
	return out
}

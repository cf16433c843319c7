package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"livechat/internal/simulate"
)

// simulateCustomers plays LINE customers against a running server and the fake LINE
// (internal/simulate). The transcript goes to stdout, logs to stderr.
func simulateCustomers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("simulate", stderr)
	var cfg simulate.Config
	fs.StringVar(&cfg.Server, "server", "", "the livechat server's base URL, e.g. http://127.0.0.1:8080 (required)")
	fs.StringVar(&cfg.FakeLine, "fakeline", simulate.DefaultFakeLine, "the fake LINE's base URL (livechat fakeline), which the server pushes to")
	fs.StringVar(&cfg.Secret, "secret", "", "the LINE channel secret that signs the webhooks (default LIVECHAT_LINE_CHANNEL_SECRET)")
	fs.IntVar(&cfg.Customers, "customers", 0, fmt.Sprintf("how many customers to play, 1-%d (required)", simulate.MaxCustomers))
	fs.DurationVar(&cfg.Duration, "duration", simulate.DefaultDuration, "give up (exit 1) when not every customer has rated by then")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "decides the customers' LINE user ids and random scores")
	fs.IntVar(&cfg.Score, "score", 0, "the rating every customer gives, 1-5 (default: a seeded random score per customer)")
	list := fs.Bool("list", false, "print the customers' LINE user ids and names for --seed and --customers, in the order they queue, and exit")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.Secret == "" {
		cfg.Secret = getenv("LIVECHAT_LINE_CHANNEL_SECRET")
	}
	if *list {
		if cfg.Customers < 1 || cfg.Customers > simulate.MaxCustomers || cfg.Score < 0 || cfg.Score > 5 {
			return usageError(fmt.Sprintf("--list needs --customers 1-%d (and --score 1-5, if given)", simulate.MaxCustomers))
		}
		for _, c := range simulate.Customers(cfg.Seed, cfg.Customers, cfg.Score) {
			fmt.Fprintf(stdout, "%s\t%s\n", c.UserID, c.Name)
		}
		return nil
	}
	if cfg.Duration <= 0 { // zero would mean the default to simulate.Run
		cfg.Duration = -1
	}
	if err := cfg.Validate(); err != nil {
		return usageError(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return simulate.Run(ctx, cfg, stdout, log)
}

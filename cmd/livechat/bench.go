package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"livechat/internal/bench"
	"livechat/internal/bench/floor"
)

// benchCmd is `livechat bench`: the capacity of a livechat server beside
// the floor, measured the same way on any machine (internal/bench). The
// table and the JSON line go to stdout, progress to stderr.
func benchCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "floor-server" {
		return floorServer(ctx, args[1:], stderr)
	}
	fs := newFlags("bench", stderr)
	cfg := bench.Config{Env: os.Environ(), Command: strings.TrimSpace("livechat bench " + strings.Join(args, " "))}
	fs.StringVar(&cfg.Profile, "profile", "quick", "the load: "+bench.ProfileNames()+" (quick is about 3 minutes)")
	fs.StringVar(&cfg.Server, "server", "", "measure this running server (base URL) instead of starting one; needs --server-pid and the server's LIVECHAT_* environment")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "the process id of --server, for its CPU and memory")
	fs.StringVar(&cfg.Secret, "secret", getenv("LIVECHAT_LINE_CHANNEL_SECRET"), "the LINE channel secret of --server (default LIVECHAT_LINE_CHANNEL_SECRET)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "also measure livechat on this Postgres (postgres://...; a schema of its own, dropped at the end)")
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "with --database-url, also measure two instances on this Redis")
	fs.BoolVar(&cfg.Pin, "pin", false, "servers on CPU 0, the load on CPU 1 (taskset); the report says where everything ran")
	targets := fs.String("targets", "", "comma-separated targets to run (floor, floor+sqlite, livechat/sqlite, livechat/postgres, livechat/2×redis, livechat/external); default all")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios to run ("+strings.Join(bench.Scenarios, ", ")+"); default all")
	fs.StringVar(&cfg.Markdown, "markdown", "", "also write the report into this markdown file, between its bench markers (make bench: docs/benchmarks.md)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the run's directory (every process's log, the databases)")
	fs.BoolVar(&cfg.Check, "check", false, "exit 1 on any lost, duplicated or out-of-order delivery (never on a time)")
	fs.StringVar(&cfg.Bin, "bin", "", "the livechat binary to start (default: this one)")
	printEnv := fs.Bool("print-env", false, "print the server configuration the bench uses, shell-quoted (for a --server run: set the fake LINE's URL, token and secret), and exit")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *printEnv { // shell-quoted: `set -a; . <(livechat bench --print-env)` loads it
		for _, kv := range bench.ServerEnv("http://127.0.0.1:8090", "CHANNEL-TOKEN", "CHANNEL-SECRET") {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(stdout, "%s='%s'\n", k, strings.ReplaceAll(v, "'", `'\''`))
		}
		return nil
	}
	cfg.Targets, cfg.Scenarios = splitList(*targets), splitList(*scenarios)
	if cfg.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
		cfg.Bin = exe
	}
	if err := cfg.Validate(); err != nil {
		return usageError(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	_, err := bench.Run(ctx, cfg, stdout, log)
	return err
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// floorServer is `livechat bench floor-server`: the floor on its own, what
// the bench starts beside livechat.
func floorServer(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("bench floor-server", stderr)
	addr := fs.String("addr", "127.0.0.1:8070", "listen address")
	dir := fs.String("sqlite", "", "store every message with one SQLite insert in DIR/floor.db (WAL, synchronous=NORMAL)")
	if err := parse(fs, args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var store *floor.Store
	if *dir != "" {
		var err error
		if store, err = floor.OpenStore(ctx, *dir); err != nil {
			return err
		}
		defer store.Close()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	s := floor.New(store, log)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "floor serving on http://%s (any path is the socket; persistence: %s)\n", ln.Addr(), map[bool]string{true: "sqlite", false: "none"}[store != nil])
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx) // the sockets are hijacked: Close ends them
	s.Close()
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"livechat/internal/auth"
	"livechat/internal/config"
	"livechat/internal/logctx"
	"livechat/internal/store"
)

// env is what every subcommand starts from.
type env struct {
	cfg config.Config
	log *slog.Logger
}

func load(getenv func(string) string, stderr io.Writer) (env, error) {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return env{}, fmt.Errorf("configuration: %w", err)
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	// Lines logged with a request's or a socket's context carry its id.
	return env{cfg: cfg, log: slog.New(logctx.NewHandler(h))}, nil
}

// openStore creates the data dir and opens (and migrates) the database.
func (e env) openStore(ctx context.Context) (*store.DB, error) {
	if err := os.MkdirAll(e.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", e.cfg.DataDir, err)
	}
	db, err := store.Open(ctx, store.Config{URL: e.cfg.DatabaseURL, DataDir: e.cfg.DataDir}, e.log)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// openAdmin loads the configuration and opens (and migrates) the database,
// what every admin subcommand starts with.
func openAdmin(ctx context.Context, getenv func(string) string, stderr io.Writer) (env, *store.DB, error) {
	e, err := load(getenv, stderr)
	if err != nil {
		return env{}, nil, err
	}
	db, err := e.openStore(ctx)
	if err != nil {
		return env{}, nil, err
	}
	return e, db, nil
}

// secret loads the JWT secret, generating it on first use.
func (e env) secret() ([]byte, error) {
	s, created, err := auth.LoadOrCreateSecret(e.cfg.JWTSecret, e.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if created {
		e.log.Warn("generated a JWT secret; set LIVECHAT_JWT_SECRET to manage it yourself",
			"path", filepath.Join(e.cfg.DataDir, auth.SecretFile))
	}
	return s, nil
}

// lockDataDir refuses a second server on the same data dir with the
// in-process bus: its operators would never see the first one's events.
func (e env) lockDataDir() (release func(), err error) {
	path := filepath.Join(e.cfg.DataDir, "serve.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another livechat server is already serving data dir %s with the in-process bus; "+
				"its clients would never see this one's events (set LIVECHAT_REDIS_URL to run several instances)", e.cfg.DataDir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"livechat/internal/audit"
	"livechat/internal/clientip"
	"livechat/internal/errcode"
	"livechat/internal/metrics"
	"net"
	"net/http"
	"sync"
	"time"

	"livechat/asyncapi"
	"livechat/internal/api"
	"livechat/internal/auth"
	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/contract"
	"livechat/internal/lease"
	"livechat/internal/line"
	"livechat/internal/mediaurl"
	"livechat/internal/outbound"
	"livechat/internal/outbox"
	"livechat/internal/presence"
	"livechat/internal/rest"
	"livechat/internal/webhook"
	"livechat/internal/wire"
	"livechat/internal/ws"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if err := parse(newFlags("serve", stderr), args); err != nil {
		return err
	}
	e, err := load(getenv, stderr)
	if err != nil {
		return err
	}
	cfg, log := e.cfg, e.log
	db, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.RedisURL == "" {
		release, err := e.lockDataDir()
		if err != nil {
			return err
		}
		defer release()
	}
	secret, err := e.secret()
	if err != nil {
		return err
	}
	if cfg.DevAuth {
		log.Warn("LIVECHAT_DEV_AUTH is on: sockets may authenticate with a bare admin_id; never use this in production")
	}
	validator, err := contract.New(asyncapi.YAML)
	if err != nil {
		return err
	}
	instance := instanceID()
	var checks []api.Check
	var redisUp api.RedisCheck // nil without Redis
	var b bus.Bus = bus.NewMemory()
	var rb *bus.Redis
	if cfg.RedisURL != "" {
		rb, err = bus.NewRedis(ctx, cfg.RedisURL, "livechat:events", log, bus.RedisOptions{})
		if err != nil {
			return err
		}
		b, redisUp = rb, rb.Ready
	}
	defer b.Close()
	var met *metrics.Metrics // nil: off
	if cfg.MetricsAddr != "" {
		met = metrics.New()
		errcode.SetObserver(met.Error)
		db.Observe(met.Query)
	}

	clk := clock.Real{}
	lim, err := newLimits(cfg, clk, log)
	if err != nil {
		return err
	}
	defer lim.close()
	tokens := auth.NewTokens(secret, clk)
	// One signer for the media URLs in message payloads (made when a message
	// is converted for the socket or REST) and for the content route.
	mediaURLs := mediaurl.New(secret, cfg.MediaURLTTL, clk)
	conv := wire.New(mediaURLs)
	svc := chat.NewService(db, clk, outbound.NewRecorder(), log, cfg.Location)
	var dir ws.Directory // one instance: none
	var leases ws.Leases // one instance: it computes the KPIs
	if lim.redis != nil {
		dir = presence.NewRedis(lim.redis, "livechat:presence", presenceTTL, clk)
		leases = lease.NewRedis(lim.redis, "livechat:lease", clk)
	}
	clientIPs := clientip.New(cfg.TrustedProxies)
	auditor := audit.New(db, clk, log) // repeatable events counted, written every 5 s
	hub := ws.NewHub(ws.Options{
		ClientIP:         clientIPs,
		InstanceID:       instance,
		AllowedOrigins:   cfg.AllowedOrigins,
		DevAuth:          cfg.DevAuth,
		AuthTimeout:      cfg.AuthTimeout,
		MaxConnections:   cfg.MaxConnections,
		MaxConnsPerOp:    cfg.MaxConnsPerOp,
		SendQueue:        cfg.SendQueue,
		ResumeWindow:     cfg.ResumeWindow,
		MaxPending:       cfg.MaxPending,
		MaxPendingPerIP:  cfg.MaxPendingPerIP,
		AvailabilityTick: cfg.AvailabilityTick,
	}, ws.Deps{
		Store: db, Service: svc, Tokens: tokens, Bus: b, Validator: validator, Clock: clk, Log: log,
		Limit:        lim.events,
		Typing:       lim.typing,
		Wire:         conv,
		Directory:    dir,
		Leases:       leases,
		Availability: db,
		Metrics:      met,
		Audit:        auditor,
	})
	svc.SetAuditor(auditor)
	svc.SetNotifier(hub)
	lineClient := line.NewClient(cfg.LineAPIBase, cfg.LineDataAPIBase, cfg.LineChannelToken, nil)
	if !lineClient.Configured() {
		log.Warn("LIVECHAT_LINE_CHANNEL_TOKEN is not set: operator messages will be marked failed (LINE channel token not configured)")
	}
	ob := outbox.New(db, lineClient, hub, clk, log, outbox.Config{MaxFailures: cfg.OutboxMaxAttempts})
	svc.SetEnqueuer(ob)
	loading := line.NewLoading(lineClient, clk, log, line.LoadingOptions{})
	hub.SetLoading(loading)
	if cfg.BusinessHours != nil { // configured hours win over the stored ones at start
		if err := db.SetBusinessHours(ctx, *cfg.BusinessHours, clk.Now()); err != nil {
			return fmt.Errorf("store business hours: %w", err)
		}
	}
	inbox := webhook.NewWorker(webhook.Deps{Store: db, Chat: svc, Profiles: lineClient, Replier: lineClient, Clock: clk, Log: log},
		webhook.Options{
			Keywords:          webhook.ParseKeywords(cfg.HandoffKeywords),
			OutOfHoursNoQueue: !cfg.OutOfHoursQueue,
			Replies:           webhook.Replies{Queued: cfg.HandoffReply, OutOfHours: cfg.OutOfHoursReply},
			MaxFailures:       cfg.InboxMaxAttempts,
		})
	checks = append(checks,
		func(ctx context.Context) []string { return inbox.Health(ctx, stallAfter) },
		func(ctx context.Context) []string { return ob.Health(ctx, stallAfter) },
		lineConfigured(cfg.LineChannelToken, cfg.LineChannelSecret))
	notices := webhook.DefaultCloseNotices
	if cfg.InactiveNotice != "" {
		notices.Inactive = cfg.InactiveNotice
	}
	if cfg.WaitingNotice != "" {
		notices.Waiting = cfg.WaitingNotice
	}
	surveys := webhook.NewSurveys(lineClient, clk, log, notices)
	svc.AfterClose = surveys.AfterClose
	// Background workers outlive the HTTP grace period, so messages sent
	// during shutdown still go out; they stop before the database closes.
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() {
		if err := ob.Run(bgCtx); err != nil {
			log.Error("outbox", "err", err)
		}
	})
	bg.Go(func() { loading.Run(bgCtx) })
	bg.Go(func() { inbox.Run(bgCtx) })
	bg.Go(func() { surveys.Run(bgCtx) })
	bg.Go(func() { auditor.Run(bgCtx) })
	bg.Go(func() {
		svc.RunSweeps(bgCtx, cfg.SweepInterval, chat.Timeouts{Inactive: cfg.InactiveTimeout, Waiting: cfg.WaitingTimeout,
			AuditRetention: time.Duration(cfg.AuditRetentionDays) * 24 * time.Hour, Retention: time.Duration(cfg.RetentionDays) * 24 * time.Hour})
	})
	bg.Go(func() {
		svc.RunSLA(bgCtx, cfg.SLAInterval, chat.SLA{QueueWait: cfg.SLAQueueWait, FirstResponse: cfg.SLAFirstResponse,
			Resolution: cfg.SLAResolution, WarningAt: cfg.SLAWarningAt})
	})
	bg.Go(func() { svc.RunRealert(bgCtx, cfg.SLAInterval, cfg.UnclaimedRealert) })
	defer func() { stopBG(); bg.Wait() }()
	restAPI := rest.New(rest.Deps{
		Store: db, Service: svc, Tokens: tokens, Sockets: hub, Clock: clk, Log: log, Canned: db, Tags: db, Hours: db, Privacy: db, Audit: auditor, ClientIP: clientIPs, Media: lineClient,
		MediaURLs: mediaURLs, Wire: conv,
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL,
		LoginMaxFailures: cfg.LoginMaxFailures, LoginWindow: cfg.LoginFailureReset, Logins: lim.logins,
	})
	srv := &http.Server{
		Handler: api.New(api.Deps{
			DB: db, Redis: redisUp, Checks: checks, Socket: hub, REST: restAPI, AllowedOrigins: cfg.AllowedOrigins, Log: log,
			Webhook: webhook.NewHandler(cfg.LineChannelSecret, db, inbox, clk, log),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}
	if met != nil {
		watchMetrics(met, hub, rb, db, log)
		stopMetrics, bound, err := serveAside(ctx, "LIVECHAT_METRICS_ADDR", cfg.MetricsAddr, met.Handler(), log)
		if err != nil {
			return err
		}
		defer stopMetrics()
		log.Info("metrics serving", "addr", bound, "path", "/metrics")
	}
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(ctx, cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	log.Info("livechat serving", "addr", ln.Addr().String(), "instance", instance, "database", db.Dialect(), "bus", busName(cfg.RedisURL))
	fmt.Fprintf(stderr, `
livechat is serving on http://%[1]s (WebSocket ws://%[1]s/api/v1/ws/live-chat, spec http://%[1]s/asyncapi.yaml)
Create an operator and a token in another terminal:
  go run ./cmd/livechat operator create --username alice --display-name Alice --role admin   (password on stdin)
  go run ./cmd/livechat token --operator-id 1
Then send {"type":"auth","payload":{"token":"<token>"}} as the first frame.

`, ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := hub.Close(sctx); err != nil {
		log.Warn("socket shutdown", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("serve", "err", err)
	}
	log.Info("stopped")
	return nil
}

// stallAfter is how long a due inbox event or outbox message may go
// unattempted before /readyz calls the worker stuck.
const stallAfter = time.Minute

// lineConfigured degrades readiness while LINE is not set up: the server
// runs, but customers are not heard or not answered.
func lineConfigured(token, secret string) api.Check {
	var reasons []string
	if token == "" {
		reasons = append(reasons, "line: LIVECHAT_LINE_CHANNEL_TOKEN is not set: operator messages cannot be delivered")
	}
	if secret == "" {
		reasons = append(reasons, "line: LIVECHAT_LINE_CHANNEL_SECRET is not set: the webhook refuses every call")
	}
	return func(context.Context) []string { return reasons }
}

func busName(redisURL string) string {
	if redisURL == "" {
		return "memory"
	}
	return "redis"
}

// presenceTTL is how long an instance's operators stay online in the
// directory after its last heartbeat (every 5 s). The others correct their
// sockets at the second heartbeat that finds them gone, so an instance
// that dies takes its operators offline within 30 s.
const presenceTTL = 20 * time.Second

func instanceID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

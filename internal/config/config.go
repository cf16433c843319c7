// Package config reads the LIVECHAT_* environment. Only this package and
// main read the environment; FromEnv takes a getenv so tests pass a map.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"livechat/internal/hours"
)

// Config is the whole server configuration. Defaults are safe: loopback
// bind, no dev auth, no cross-origin browser access.
type Config struct {
	Addr            string        // LIVECHAT_ADDR
	DataDir         string        // LIVECHAT_DATA_DIR
	DatabaseURL     string        // LIVECHAT_DATABASE_URL; empty = SQLite in DataDir
	RedisURL        string        // LIVECHAT_REDIS_URL; empty = in-process bus
	JWTSecret       string        // LIVECHAT_JWT_SECRET; empty = generated file in DataDir
	AccessTokenTTL  time.Duration // LIVECHAT_ACCESS_TOKEN_TTL
	RefreshTokenTTL time.Duration // LIVECHAT_REFRESH_TOKEN_TTL
	MediaURLTTL     time.Duration // LIVECHAT_MEDIA_URL_TTL
	DevAuth         bool          // LIVECHAT_DEV_AUTH
	AllowedOrigins  []string      // LIVECHAT_ALLOWED_ORIGINS
	LogLevel        slog.Level    // LIVECHAT_LOG_LEVEL
	LogFormat       string        // LIVECHAT_LOG_FORMAT: text | json

	AuthTimeout        time.Duration   // LIVECHAT_WS_AUTH_TIMEOUT
	MaxConnections     int             // LIVECHAT_WS_MAX_CONNECTIONS
	MaxConnsPerOp      int             // LIVECHAT_WS_MAX_CONNECTIONS_PER_OPERATOR
	MaxPending         int             // LIVECHAT_WS_MAX_PENDING
	MaxPendingPerIP    int             // LIVECHAT_WS_MAX_PENDING_PER_IP; 0 = no per-IP cap
	SendQueue          int             // LIVECHAT_WS_SEND_QUEUE
	ResumeWindow       int             // LIVECHAT_RESUME_WINDOW
	RateLimit          float64         // LIVECHAT_RATE_LIMIT (events/s per operator)
	RateBurst          int             // LIVECHAT_RATE_BURST
	TypingRateLimit    float64         // LIVECHAT_TYPING_RATE_LIMIT
	TypingRateBurst    int             // LIVECHAT_TYPING_RATE_BURST
	ShutdownTimeout    time.Duration   // LIVECHAT_SHUTDOWN_TIMEOUT
	LoginMaxFailures   int             // LIVECHAT_LOGIN_MAX_FAILURES
	LoginFailureReset  time.Duration   // LIVECHAT_LOGIN_LOCKOUT
	Location           *time.Location  // LIVECHAT_TIMEZONE
	LineChannelToken   string          // LIVECHAT_LINE_CHANNEL_TOKEN
	LineAPIBase        string          // LIVECHAT_LINE_API_BASE
	LineDataAPIBase    string          // LIVECHAT_LINE_DATA_API_BASE
	LineChannelSecret  string          // LIVECHAT_LINE_CHANNEL_SECRET
	HandoffKeywords    string          // LIVECHAT_HANDOFF_KEYWORDS (comma-separated)
	BusinessHours      *hours.Schedule // LIVECHAT_BUSINESS_HOURS; nil keeps the stored schedule
	OutOfHoursQueue    bool            // LIVECHAT_OUT_OF_HOURS_QUEUE
	HandoffReply       string          // LIVECHAT_HANDOFF_REPLY; empty = built-in
	OutOfHoursReply    string          // LIVECHAT_OUT_OF_HOURS_REPLY; empty = built-in
	PprofAddr          string          // LIVECHAT_PPROF_ADDR; empty = off
	InboxMaxAttempts   int             // LIVECHAT_INBOX_MAX_ATTEMPTS
	OutboxMaxAttempts  int             // LIVECHAT_OUTBOX_MAX_ATTEMPTS
	InactiveTimeout    time.Duration   // LIVECHAT_INACTIVE_TIMEOUT; 0 = never
	WaitingTimeout     time.Duration   // LIVECHAT_WAITING_TIMEOUT; 0 = never
	SweepInterval      time.Duration   // LIVECHAT_SWEEP_INTERVAL
	AvailabilityTick   time.Duration   // LIVECHAT_AVAILABILITY_INTERVAL
	InactiveNotice     string          // LIVECHAT_INACTIVE_NOTICE; empty = built-in
	WaitingNotice      string          // LIVECHAT_WAITING_NOTICE; empty = built-in
	SLAQueueWait       time.Duration   // LIVECHAT_SLA_QUEUE_WAIT; 0 = off
	SLAFirstResponse   time.Duration   // LIVECHAT_SLA_FIRST_RESPONSE; 0 = off
	SLAResolution      time.Duration   // LIVECHAT_SLA_RESOLUTION; 0 = off
	UnclaimedRealert   time.Duration   // LIVECHAT_UNCLAIMED_REALERT; 0 = off
	SLAWarningAt       float64         // LIVECHAT_SLA_WARNING_AT
	SLAInterval        time.Duration   // LIVECHAT_SLA_CHECK_INTERVAL
	MetricsAddr        string          // LIVECHAT_METRICS_ADDR; empty = off
	AuditRetentionDays int             // LIVECHAT_AUDIT_RETENTION_DAYS; 0 = keep
	TrustedProxies     []netip.Prefix  // LIVECHAT_TRUSTED_PROXIES
	RetentionDays      int             // LIVECHAT_RETENTION_DAYS; 0 = keep
}

// Var documents one environment variable; README's table mirrors Vars.
type Var struct {
	Name, Default, Help string
}

// Vars lists every variable FromEnv reads, with its default.
var Vars = []Var{
	{"LIVECHAT_ADDR", "127.0.0.1:8080", "HTTP and WebSocket listen address"},
	{"LIVECHAT_DATA_DIR", "./data", "Directory for the SQLite database, the generated JWT secret and the instance lock"},
	{"LIVECHAT_DATABASE_URL", "", "postgres://… to use Postgres; empty uses SQLite in the data dir"},
	{"LIVECHAT_REDIS_URL", "", "redis://… to fan out across instances; empty uses the in-process bus (one instance)"},
	{"LIVECHAT_JWT_SECRET", "", "HS256 secret; empty generates one into <data dir>/jwt-secret (mode 0600)"},
	{"LIVECHAT_ACCESS_TOKEN_TTL", "30m", "Lifetime of access tokens issued by login/refresh"},
	{"LIVECHAT_REFRESH_TOKEN_TTL", "168h", "Lifetime of refresh tokens"},
	{"LIVECHAT_MEDIA_URL_TTL", "10m", "Signed media URLs in message payloads stay valid at least this long, at most twice it"},
	{"LIVECHAT_DEV_AUTH", "0", "1 accepts auth {admin_id} without a token (development only; logs a warning)"},
	{"LIVECHAT_ALLOWED_ORIGINS", "", "Comma-separated browser origins allowed to open the socket and call the REST API"},
	{"LIVECHAT_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"LIVECHAT_LOG_FORMAT", "text", "text or json (logs go to stderr)"},
	{"LIVECHAT_WS_AUTH_TIMEOUT", "10s", "A socket that has not authenticated by then is closed"},
	{"LIVECHAT_WS_MAX_CONNECTIONS", "10000", "Authenticated sockets per instance, and upgrades with a valid ?token=; over it the upgrade gets 503"},
	{"LIVECHAT_WS_MAX_CONNECTIONS_PER_OPERATOR", "10", "Sockets per operator; over it the upgrade gets 429"},
	{"LIVECHAT_WS_MAX_PENDING", "1000", "Unauthenticated sockets per instance; over it the upgrade gets 503"},
	{"LIVECHAT_WS_MAX_PENDING_PER_IP", "50", "Unauthenticated sockets per client IP (the peer address); over it the upgrade gets 429; 0 disables (set 0 behind a reverse proxy)"},
	{"LIVECHAT_WS_SEND_QUEUE", "256", "Frames queued per socket; a socket that falls this far behind is disconnected"},
	{"LIVECHAT_RESUME_WINDOW", "500", "Most messages a join_room with last_seq replays (1 to 10000); a client that missed more gets a fresh snapshot with resync: true"},
	{"LIVECHAT_RATE_LIMIT", "10", "Events per second per operator, across tabs (token bucket)"},
	{"LIVECHAT_RATE_BURST", "30", "Burst of that bucket"},
	{"LIVECHAT_TYPING_RATE_LIMIT", "5", "typing_start/typing_stop per second per operator (own bucket)"},
	{"LIVECHAT_TYPING_RATE_BURST", "10", "Burst of the typing bucket"},
	{"LIVECHAT_SHUTDOWN_TIMEOUT", "10s", "Grace period for in-flight requests on SIGTERM"},
	{"LIVECHAT_LOGIN_MAX_FAILURES", "5", "Failed logins per username and IP before 429"},
	{"LIVECHAT_LOGIN_LOCKOUT", "15m", "How long those failures count"},
	{"LIVECHAT_TIMEZONE", "Asia/Bangkok", "Business timezone (where \"today\" starts for the KPIs)"},
	{"LIVECHAT_LINE_CHANNEL_TOKEN", "", "LINE channel access token for push/reply; empty: operator messages are marked failed"},
	{"LIVECHAT_LINE_API_BASE", "https://api.line.me", "LINE Messaging API base URL (the fake LINE server in tests and the demo)"},
	{"LIVECHAT_LINE_DATA_API_BASE", "https://api-data.line.me", "LINE data API base URL (message content)"},
	{"LIVECHAT_LINE_CHANNEL_SECRET", "", "LINE channel secret that signs webhooks; empty: the webhook answers 503"},
	{"LIVECHAT_HANDOFF_KEYWORDS", "agent,human,operator,ติดต่อเจ้าหน้าที่,คุยกับเจ้าหน้าที่", "Comma-separated, case-insensitive substrings that hand a BOT-mode customer to a human"},
	{"LIVECHAT_BUSINESS_HOURS", "", "e.g. mon-fri 08:00-17:00; sat 09:00-12:00; tz=Asia/Bangkok. Empty keeps the stored schedule (default Mon-Fri 08:00-17:00)"},
	{"LIVECHAT_OUT_OF_HOURS_QUEUE", "1", "0: outside business hours a handoff only gets the out-of-hours reply and is not queued"},
	{"LIVECHAT_HANDOFF_REPLY", "", "Reply to a queued customer ({position}, {total}, {eta_minutes}); empty: built-in Thai and English"},
	{"LIVECHAT_OUT_OF_HOURS_REPLY", "", "Out-of-hours reply ({next_open}, {next_open_th}); empty: built-in Thai and English"},
	{"LIVECHAT_PPROF_ADDR", "", "host:port for Go's profiler (net/http/pprof) on a listener of its own, e.g. 127.0.0.1:6060; empty: off. Never expose it publicly"},
	{"LIVECHAT_INBOX_MAX_ATTEMPTS", "10", "Attempts that fail because of a webhook event itself (unreadable or invalid data) before it is quarantined"},
	{"LIVECHAT_OUTBOX_MAX_ATTEMPTS", "10", "Attempts that fail because of an outgoing message itself before it is quarantined (failed for good)"},
	{"LIVECHAT_INACTIVE_TIMEOUT", "30m", "An ACTIVE session with no message either way (nor claim or transfer) for this long is closed by SYSTEM (reason inactivity); 0: never"},
	{"LIVECHAT_WAITING_TIMEOUT", "24h", "A WAITING session older than this is closed by SYSTEM_TIMEOUT (reason waiting_timeout); 0: never"},
	{"LIVECHAT_SWEEP_INTERVAL", "1m", "How often the sweeps look for those sessions"},
	{"LIVECHAT_AVAILABILITY_INTERVAL", "10s", "How often each instance records its online operators for the availability report (a window's end is late by up to this while its operator is online)"},
	{"LIVECHAT_INACTIVE_NOTICE", "", "What the customer gets when the inactivity sweep closes its session; empty: built-in Thai and English"},
	{"LIVECHAT_WAITING_NOTICE", "", "What the customer gets when the waiting sweep closes its session; empty: built-in Thai and English"},
	{"LIVECHAT_SLA_QUEUE_WAIT", "5m", "SLA for a session's wait in the queue, from its start to its claim; 0: none"},
	{"LIVECHAT_SLA_FIRST_RESPONSE", "2m", "SLA for the operator's first message, from the claim; 0: none"},
	{"LIVECHAT_SLA_RESOLUTION", "30m", "SLA for a session's close, from its start; 0: none"},
	{"LIVECHAT_SLA_WARNING_AT", "0.8", "Fraction of an SLA (above 0, below 1) at which sla_alert warns; critical at the SLA itself"},
	{"LIVECHAT_SLA_CHECK_INTERVAL", "5s", "How often open sessions are checked against the SLAs (and for unclaimed ones to announce again)"},
	{"LIVECHAT_UNCLAIMED_REALERT", "60s", "session_queued is repeated (repeat: true) to every operator this often while a session waits unclaimed; 0: never"},
	{"LIVECHAT_AUDIT_RETENTION_DAYS", "365", "Audit rows older than this many days are purged (by the sweeps); 0 keeps them"},
	{"LIVECHAT_RETENTION_DAYS", "0", "Customers with no open session and nothing newer than this many days are erased by the sweeps, with their sessions, messages, inbox and outbox rows; 0 keeps everything"},
	{"LIVECHAT_TRUSTED_PROXIES", "", "Comma-separated CIDRs (or addresses) of the reverse proxies whose X-Forwarded-For is believed, for the login lockout, the per-IP socket budget and the audit; empty: none, the peer's address counts"},
	{"LIVECHAT_METRICS_ADDR", "127.0.0.1:9091", "host:port of the Prometheus /metrics listener, apart from the public one; set and empty (or off): no metrics"},
}

// FromEnv reads and validates the configuration, reporting every problem at once.
func FromEnv(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		Addr:               r.str("LIVECHAT_ADDR"),
		DataDir:            r.str("LIVECHAT_DATA_DIR"),
		DatabaseURL:        r.str("LIVECHAT_DATABASE_URL"),
		RedisURL:           r.str("LIVECHAT_REDIS_URL"),
		JWTSecret:          r.str("LIVECHAT_JWT_SECRET"),
		AccessTokenTTL:     r.duration("LIVECHAT_ACCESS_TOKEN_TTL"),
		RefreshTokenTTL:    r.duration("LIVECHAT_REFRESH_TOKEN_TTL"),
		MediaURLTTL:        r.duration("LIVECHAT_MEDIA_URL_TTL"),
		DevAuth:            r.boolean("LIVECHAT_DEV_AUTH"),
		AllowedOrigins:     r.list("LIVECHAT_ALLOWED_ORIGINS"),
		LogFormat:          r.str("LIVECHAT_LOG_FORMAT"),
		AuthTimeout:        r.duration("LIVECHAT_WS_AUTH_TIMEOUT"),
		MaxConnections:     r.positive("LIVECHAT_WS_MAX_CONNECTIONS"),
		MaxConnsPerOp:      r.positive("LIVECHAT_WS_MAX_CONNECTIONS_PER_OPERATOR"),
		MaxPending:         r.positive("LIVECHAT_WS_MAX_PENDING"),
		MaxPendingPerIP:    r.nonNegative("LIVECHAT_WS_MAX_PENDING_PER_IP"),
		SendQueue:          r.positive("LIVECHAT_WS_SEND_QUEUE"),
		ResumeWindow:       r.positiveAtMost("LIVECHAT_RESUME_WINDOW", 10000),
		RateLimit:          r.rate("LIVECHAT_RATE_LIMIT"),
		RateBurst:          r.positive("LIVECHAT_RATE_BURST"),
		TypingRateLimit:    r.rate("LIVECHAT_TYPING_RATE_LIMIT"),
		TypingRateBurst:    r.positive("LIVECHAT_TYPING_RATE_BURST"),
		ShutdownTimeout:    r.duration("LIVECHAT_SHUTDOWN_TIMEOUT"),
		LoginMaxFailures:   r.positive("LIVECHAT_LOGIN_MAX_FAILURES"),
		LoginFailureReset:  r.duration("LIVECHAT_LOGIN_LOCKOUT"),
		LineChannelToken:   r.str("LIVECHAT_LINE_CHANNEL_TOKEN"),
		LineAPIBase:        r.url("LIVECHAT_LINE_API_BASE"),
		LineDataAPIBase:    r.url("LIVECHAT_LINE_DATA_API_BASE"),
		LineChannelSecret:  r.str("LIVECHAT_LINE_CHANNEL_SECRET"),
		HandoffKeywords:    r.str("LIVECHAT_HANDOFF_KEYWORDS"),
		OutOfHoursQueue:    r.boolean("LIVECHAT_OUT_OF_HOURS_QUEUE"),
		HandoffReply:       r.str("LIVECHAT_HANDOFF_REPLY"),
		InactiveTimeout:    r.durationOrOff("LIVECHAT_INACTIVE_TIMEOUT"),
		WaitingTimeout:     r.durationOrOff("LIVECHAT_WAITING_TIMEOUT"),
		SweepInterval:      r.duration("LIVECHAT_SWEEP_INTERVAL"),
		AvailabilityTick:   r.duration("LIVECHAT_AVAILABILITY_INTERVAL"),
		InactiveNotice:     r.str("LIVECHAT_INACTIVE_NOTICE"),
		WaitingNotice:      r.str("LIVECHAT_WAITING_NOTICE"),
		SLAQueueWait:       r.durationOrOff("LIVECHAT_SLA_QUEUE_WAIT"),
		SLAFirstResponse:   r.durationOrOff("LIVECHAT_SLA_FIRST_RESPONSE"),
		SLAResolution:      r.durationOrOff("LIVECHAT_SLA_RESOLUTION"),
		UnclaimedRealert:   r.durationOrOff("LIVECHAT_UNCLAIMED_REALERT"),
		SLAWarningAt:       r.fraction("LIVECHAT_SLA_WARNING_AT"),
		SLAInterval:        r.duration("LIVECHAT_SLA_CHECK_INTERVAL"),
		MetricsAddr:        r.addrOrOff("LIVECHAT_METRICS_ADDR"),
		AuditRetentionDays: r.nonNegative("LIVECHAT_AUDIT_RETENTION_DAYS"),
		TrustedProxies:     r.prefixes("LIVECHAT_TRUSTED_PROXIES"),
		RetentionDays:      r.nonNegative("LIVECHAT_RETENTION_DAYS"),
		OutOfHoursReply:    r.str("LIVECHAT_OUT_OF_HOURS_REPLY"),
		PprofAddr:          r.str("LIVECHAT_PPROF_ADDR"),
		InboxMaxAttempts:   r.positive("LIVECHAT_INBOX_MAX_ATTEMPTS"),
		OutboxMaxAttempts:  r.positive("LIVECHAT_OUTBOX_MAX_ATTEMPTS"),
	}
	loc, err := time.LoadLocation(r.str("LIVECHAT_TIMEZONE"))
	if err != nil {
		r.fail("LIVECHAT_TIMEZONE", "must be an IANA timezone like Asia/Bangkok")
	}
	c.Location = loc
	if spec := r.str("LIVECHAT_BUSINESS_HOURS"); spec != "" && loc != nil {
		sched, err := hours.Parse(spec, loc)
		if err != nil {
			r.fail("LIVECHAT_BUSINESS_HOURS", err.Error())
		} else {
			c.BusinessHours = &sched
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.str("LIVECHAT_LOG_LEVEL"))); err != nil {
		r.fail("LIVECHAT_LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		r.fail("LIVECHAT_LOG_FORMAT", "must be text or json")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		r.fail("LIVECHAT_DATABASE_URL", "must be a postgres:// URL (leave it empty for SQLite)")
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		r.fail("LIVECHAT_REDIS_URL", "must be a redis:// or rediss:// URL")
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		r.fail("LIVECHAT_JWT_SECRET", "must be at least 32 characters")
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			r.fail("LIVECHAT_ALLOWED_ORIGINS", fmt.Sprintf("%q is not an origin like https://admin.example.com", o))
		}
	}
	if c.MediaURLTTL > 0 && c.MediaURLTTL < time.Second {
		r.fail("LIVECHAT_MEDIA_URL_TTL", "must be at least 1s")
	}
	if c.DataDir == "" {
		r.fail("LIVECHAT_DATA_DIR", "must not be empty")
	}
	return c, errors.Join(r.errs...)
}

type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, why string) { r.errs = append(r.errs, fmt.Errorf("%s %s", name, why)) }

func (r *reader) str(name string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	for _, v := range Vars {
		if v.Name == name {
			return v.Default
		}
	}
	panic("config: undocumented variable " + name) // programmer error: add it to Vars
}

func (r *reader) url(name string) string {
	v := strings.TrimRight(r.str(name), "/")
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, "must be an http(s) URL")
	}
	return v
}

func (r *reader) duration(name string) time.Duration {
	d, err := time.ParseDuration(r.str(name))
	if err != nil || d <= 0 {
		r.fail(name, "must be a positive duration like 30s or 15m")
	}
	return d
}

// Off is what Getenv reads for a variable set to the empty string, where
// empty means off (LIVECHAT_METRICS_ADDR): unset takes the default.
const Off = "off"

// Getenv is os.Getenv, but for a variable whose empty value means off:
// set and empty, it reads Off.
func Getenv(name string) string {
	v, set := os.LookupEnv(name)
	if set && v == "" && name == "LIVECHAT_METRICS_ADDR" {
		return Off
	}
	return v
}

// addrOrOff is a host:port, or "" when the variable is Off.
func (r *reader) addrOrOff(name string) string {
	v := r.str(name)
	if v == Off {
		return ""
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		r.fail(name, "must be host:port, like 127.0.0.1:9091, or empty to turn it off")
	}
	return v
}

// prefixes is a comma-separated list of CIDRs; a bare address is its own
// /32 or /128.
func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range strings.Split(r.str(name), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				r.fail(name, fmt.Sprintf("has %q, which is neither a CIDR (10.0.0.0/8) nor an address", v))
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// durationOrOff is duration, or 0 for "0" (off).
func (r *reader) durationOrOff(name string) time.Duration {
	if r.str(name) == "0" {
		return 0
	}
	return r.duration(name)
}

// fraction is a number strictly between 0 and 1.
func (r *reader) fraction(name string) float64 {
	f, err := strconv.ParseFloat(r.str(name), 64)
	if err != nil || !(f > 0 && f < 1) {
		r.fail(name, "must be a number between 0 and 1, like 0.8")
	}
	return f
}

func (r *reader) positive(name string) int {
	n, err := strconv.Atoi(r.str(name))
	if err != nil || n <= 0 {
		r.fail(name, "must be a positive integer")
	}
	return n
}

func (r *reader) positiveAtMost(name string, most int) int {
	n, err := strconv.Atoi(r.str(name))
	if err != nil || n <= 0 || n > most {
		r.fail(name, fmt.Sprintf("must be an integer from 1 to %d", most))
	}
	return n
}

func (r *reader) nonNegative(name string) int {
	n, err := strconv.Atoi(r.str(name))
	if err != nil || n < 0 {
		r.fail(name, "must be 0 or a positive integer")
	}
	return n
}

func (r *reader) rate(name string) float64 {
	f, err := strconv.ParseFloat(r.str(name), 64)
	if err != nil || f <= 0 {
		r.fail(name, "must be a positive number")
	}
	return f
}

func (r *reader) boolean(name string) bool {
	switch strings.ToLower(r.str(name)) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	r.fail(name, "must be 0 or 1")
	return false
}

func (r *reader) list(name string) []string {
	var out []string
	for _, s := range strings.Split(r.str(name), ",") {
		if s = strings.TrimRight(strings.TrimSpace(s), "/"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

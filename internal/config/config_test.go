package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"livechat/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreSafe(t *testing.T) {
	c, err := config.FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DevAuth || len(c.AllowedOrigins) != 0 || c.DatabaseURL != "" || c.RedisURL != "" {
		t.Fatalf("unsafe defaults: %+v", c)
	}
	if c.RateLimit != 10 || c.RateBurst != 30 || c.TypingRateLimit != 5 || c.TypingRateBurst != 10 || c.MaxConnsPerOp != 10 {
		t.Fatalf("limits: %+v", c)
	}
	if c.MaxConnections != 10000 || c.MaxPending != 1000 || c.MaxPendingPerIP != 50 {
		t.Fatalf("socket caps: %+v", c)
	}
	if c.Location.String() != "Asia/Bangkok" {
		t.Fatalf("timezone %v", c.Location)
	}
	if c.MediaURLTTL != 10*time.Minute {
		t.Fatalf("media URL TTL %v, want 10m", c.MediaURLTTL)
	}
}

func TestMediaURLTTL(t *testing.T) {
	c, err := config.FromEnv(env(map[string]string{"LIVECHAT_MEDIA_URL_TTL": "90s"}))
	if err != nil || c.MediaURLTTL != 90*time.Second {
		t.Fatalf("90s: %v, %v", c.MediaURLTTL, err)
	}
	for _, bad := range []string{"0", "-1m", "500ms", "ten minutes"} {
		if _, err := config.FromEnv(env(map[string]string{"LIVECHAT_MEDIA_URL_TTL": bad})); err == nil || !strings.Contains(err.Error(), "LIVECHAT_MEDIA_URL_TTL") {
			t.Errorf("LIVECHAT_MEDIA_URL_TTL=%s: %v, want an error naming it", bad, err)
		}
	}
}

func TestPendingPerIPCapZeroDisables(t *testing.T) {
	c, err := config.FromEnv(env(map[string]string{"LIVECHAT_WS_MAX_PENDING_PER_IP": "0"}))
	if err != nil || c.MaxPendingPerIP != 0 {
		t.Fatalf("0: %d %v", c.MaxPendingPerIP, err)
	}
	for _, bad := range []string{"-1", "many"} {
		if _, err := config.FromEnv(env(map[string]string{"LIVECHAT_WS_MAX_PENDING_PER_IP": bad})); err == nil || !strings.Contains(err.Error(), "LIVECHAT_WS_MAX_PENDING_PER_IP") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := config.FromEnv(env(map[string]string{"LIVECHAT_WS_MAX_PENDING": "0"})); err == nil {
		t.Error("LIVECHAT_WS_MAX_PENDING=0 accepted")
	}
}

func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	_, err := config.FromEnv(env(map[string]string{
		"LIVECHAT_DATABASE_URL":    "mysql://x",
		"LIVECHAT_RATE_LIMIT":      "-1",
		"LIVECHAT_ALLOWED_ORIGINS": "admin.example.com",
		"LIVECHAT_DEV_AUTH":        "maybe",
		"LIVECHAT_JWT_SECRET":      "short",
	}))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, name := range []string{"LIVECHAT_DATABASE_URL", "LIVECHAT_RATE_LIMIT", "LIVECHAT_ALLOWED_ORIGINS", "LIVECHAT_DEV_AUTH", "LIVECHAT_JWT_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not mention %s: %v", name, err)
		}
	}
}

func TestReadmeDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars {
		if !strings.Contains(string(readme), "`"+v.Name+"`") {
			t.Errorf("README does not document %s", v.Name)
		}
	}
}

// The settings of issue 10: the sweeps' and SLAs' durations (0 turns one
// off), the warning fraction, the trusted proxies, the metrics address
// (Off when set and empty) and the audit retention.
func TestOperationsSettings(t *testing.T) {
	c, err := config.FromEnv(env(map[string]string{
		"LIVECHAT_INACTIVE_TIMEOUT": "0", "LIVECHAT_SLA_QUEUE_WAIT": "90s", "LIVECHAT_SLA_WARNING_AT": "0.5",
		"LIVECHAT_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.5", "LIVECHAT_METRICS_ADDR": config.Off, "LIVECHAT_AUDIT_RETENTION_DAYS": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.InactiveTimeout != 0 || c.WaitingTimeout != 24*time.Hour || c.SLAQueueWait != 90*time.Second || c.SLAWarningAt != 0.5 ||
		c.MetricsAddr != "" || c.AuditRetentionDays != 0 || len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.168.1.5/32" {
		t.Fatalf("config: %+v", c)
	}
	d, err := config.FromEnv(env(nil))
	if err != nil || d.MetricsAddr != "127.0.0.1:9091" || d.SLAFirstResponse != 2*time.Minute || d.AuditRetentionDays != 365 || d.TrustedProxies != nil {
		t.Fatalf("defaults: %+v %v", d, err)
	}
	for name, bad := range map[string]string{
		"LIVECHAT_SLA_WARNING_AT": "1", "LIVECHAT_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local", "LIVECHAT_METRICS_ADDR": "9091",
		"LIVECHAT_SWEEP_INTERVAL": "0", "LIVECHAT_SLA_RESOLUTION": "soon",
	} {
		if _, err := config.FromEnv(env(map[string]string{name: bad})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v, want an error naming it", name, bad, err)
		}
	}
}

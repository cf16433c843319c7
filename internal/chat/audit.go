package chat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"
)

// HashedCustomerID is what stays of an erased customer's id in the audit
// log: the same for the same id, and not the id.
func HashedCustomerID(lineUserID string) string {
	sum := sha256.Sum256([]byte("livechat:erased:" + lineUserID))
	return "erased:" + hex.EncodeToString(sum[:8])
}

// Audit actions.
const (
	AuditClaim            = "session.claim"
	AuditClose            = "session.close"
	AuditTransfer         = "session.transfer"
	AuditSend             = "message.send" // the message is the row (store.AuditLog)
	AuditLogin            = "auth.login"
	AuditLoginFailed      = "auth.login_failed"   // aggregated per source and minute
	AuditTokenRejected    = "auth.token_rejected" // aggregated per source and minute
	AuditOperatorCreate   = "operator.create"
	AuditOperatorEnable   = "operator.enable"
	AuditOperatorDisable  = "operator.disable"
	AuditOperatorRole     = "operator.role"
	AuditOperatorPassword = "operator.password"
	AuditBusinessHours    = "business_hours.set"
	AuditCannedCreate     = "canned.create"
	AuditCannedUpdate     = "canned.update"
	AuditCannedDelete     = "canned.delete"
	AuditCustomerExport   = "customer.export"
	AuditCustomerErase    = "customer.erase"
	AuditCustomerPurge    = "customer.purge" // retention
)

// Aggregated reports whether action is one an attacker can repeat at will,
// stored as one counted row per source and minute.
func Aggregated(action string) bool {
	return action == AuditLoginFailed || action == AuditTokenRejected
}

// AuditEntry is one row of the audit log: who did what to which resource,
// from where. Never a token, a password or a message body.
type AuditEntry struct {
	ID           int64          `json:"id"`
	At           time.Time      `json:"at"`
	ActorID      *int64         `json:"actor_id,omitempty"`
	Actor        string         `json:"actor,omitempty"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resource_type,omitempty"`
	ResourceID   string         `json:"resource_id,omitempty"`
	IP           string         `json:"ip,omitempty"`
	UserAgent    string         `json:"user_agent,omitempty"`
	Details      map[string]any `json:"details,omitempty"`
	Count        int            `json:"count"`
	// FromMessage marks a message.send read from its message: ID is the
	// message's.
	FromMessage bool `json:"-"`
}

// AuditQuery selects audit rows, newest first: after the Cursor, of one
// actor or action, since a time; at most Limit.
type AuditQuery struct {
	Cursor  AuditCursor
	ActorID *int64
	Action  string
	Since   *time.Time
	Limit   int
}

// AuditCursor is where a page of the audit log ends, in each of its two
// sources: the rows of audit_log, by time then id (LogAt, Log), and the
// operators' messages, each the row of its send, by id (Send); the next
// page lists what is below both (0: nothing read there yet).
type AuditCursor struct {
	Log   int64
	LogAt time.Time
	Send  int64
}

// After is the cursor of the page after items, which c selected.
func (c AuditCursor) After(items []AuditEntry) AuditCursor {
	for _, it := range items { // each source newest first: its last is its least
		if it.FromMessage {
			c.Send = it.ID
		} else {
			c.Log, c.LogAt = it.ID, it.At
		}
	}
	return c
}

// Auditor records audit rows. A failure to record is logged, never the
// action's failure.
type Auditor interface {
	Audit(ctx context.Context, e AuditEntry) error
}

// Record adds e through a (nil: no audit log), with the source WithSource
// noted in ctx unless e has one. A failure is logged, never the action's:
// the change it records has happened.
func Record(ctx context.Context, a Auditor, e AuditEntry, log *slog.Logger) {
	if a == nil {
		return
	}
	if e.IP == "" {
		e.IP, e.UserAgent = SourceOf(ctx)
	}
	if err := a.Audit(context.WithoutCancel(ctx), e); err != nil {
		log.WarnContext(ctx, "audit not recorded", "action", e.Action, "err", err)
	}
}

// source is where a request came from, carried in its context for the audit.
type source struct{ ip, userAgent string }

type sourceKey struct{}

// WithSource notes the caller's address and user agent in ctx.
func WithSource(ctx context.Context, ip, userAgent string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source{ip, userAgent})
}

// SourceOf is what WithSource noted ("" when nothing).
func SourceOf(ctx context.Context) (ip, userAgent string) {
	s, _ := ctx.Value(sourceKey{}).(source)
	return s.ip, s.userAgent
}

package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
)

// slaMaxSessions bounds one SLA check's read.
const slaMaxSessions = 5000

// SLASessions returns the open sessions and those closed since closedSince:
// what an SLA check looks at.
func (db *DB) SLASessions(ctx context.Context, closedSince time.Time) ([]chat.Session, error) {
	var rows []sessionRow
	err := db.read.NewSelect().Model(&rows).
		Where("status IN (?)", bun.In([]string{string(chat.StatusWaiting), string(chat.StatusActive)})).
		WhereOr("closed_at >= ?", dbTime(closedSince)).
		Order("id ASC").
		Limit(slaMaxSessions).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: sla sessions: %w", dbErr(err))
	}
	return sessions(rows), nil
}

type slaKey struct {
	SessionID int64  `bun:"session_id"`
	Metric    string `bun:"metric"`
	Severity  string `bun:"severity"`
}

// RaiseSLAAlerts stores each alert not stored yet and returns those this
// call stored: (session, metric, severity) is the key, so of concurrent
// callers one stores, and so raises, each. What was stored already is
// read first, so a check that finds the same alerts due every time writes
// nothing.
func (db *DB) RaiseSLAAlerts(ctx context.Context, alerts []chat.SLAAlert) ([]chat.SLAAlert, error) {
	ids := make([]int64, 0, len(alerts))
	seen := map[int64]bool{}
	for _, a := range alerts {
		if !seen[a.SessionID] {
			seen[a.SessionID] = true
			ids = append(ids, a.SessionID)
		}
	}
	have := map[slaKey]bool{}
	for start := 0; start < len(ids); start += 500 {
		var keys []slaKey
		err := db.read.NewSelect().Table("sla_alerts").Column("session_id", "metric", "severity").
			Where("session_id IN (?)", bun.In(ids[start:min(start+500, len(ids))])).
			Scan(ctx, &keys)
		if err != nil {
			return nil, fmt.Errorf("store: sla alerts: %w", dbErr(err))
		}
		for _, k := range keys {
			have[k] = true
		}
	}
	var raised []chat.SLAAlert
	for _, a := range alerts {
		if have[slaKey{a.SessionID, a.Metric, a.Severity}] {
			continue
		}
		res, err := db.bun.NewRaw(`
			INSERT INTO sla_alerts (session_id, metric, severity, line_user_id, value_ms, threshold_ms, raised_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (session_id, metric, severity) DO NOTHING`,
			a.SessionID, a.Metric, a.Severity, a.LineUserID, a.Value.Milliseconds(), a.Threshold.Milliseconds(), dbTime(a.RaisedAt)).Exec(ctx)
		if err != nil {
			return raised, fmt.Errorf("store: raise sla alert %d %s %s: %w", a.SessionID, a.Metric, a.Severity, dbErr(err))
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			raised = append(raised, a)
		}
	}
	return raised, nil
}

// SLABreaches counts the critical alerts raised since since.
func (db *DB) SLABreaches(ctx context.Context, since time.Time) (int, error) {
	n, err := db.read.NewSelect().Table("sla_alerts").
		Where("severity = ?", chat.SeverityCritical).
		Where("raised_at >= ?", dbTime(since)).
		Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: sla breaches: %w", dbErr(err))
	}
	return int(n), nil
}

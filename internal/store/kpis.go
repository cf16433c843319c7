package store

import (
	"context"
	"fmt"
	"time"

	"livechat/internal/chat"
)

// kpiMaxSessions bounds the sessions one KPI computation reads.
const kpiMaxSessions = 50000

// KPIData reads what the live KPIs are computed from: the sessions started
// or closed since since, the CSAT scores given since csatSince, the
// customers in HUMAN mode.
func (db *DB) KPIData(ctx context.Context, since, csatSince time.Time) (chat.KPIData, error) {
	var d chat.KPIData
	var err error
	if d.Sessions, err = db.sessionsSince(ctx, since); err != nil {
		return d, err
	}
	err = db.read.NewSelect().Table("csat_responses").Column("score").
		Where("created_at >= ?", dbTime(csatSince)).
		Scan(ctx, &d.Scores)
	if err != nil {
		return d, fmt.Errorf("store: kpi csat: %w", dbErr(err))
	}
	n, err := db.read.NewSelect().Table("customers").Where("chat_mode = ?", string(chat.ModeHuman)).Count(ctx)
	if err != nil {
		return d, fmt.Errorf("store: kpi human mode: %w", dbErr(err))
	}
	d.HumanMode = int(n)
	return d, nil
}

// sessionsSince is the sessions started or closed since since.
func (db *DB) sessionsSince(ctx context.Context, since time.Time) ([]chat.Session, error) {
	var rows []sessionRow
	err := db.read.NewSelect().Model(&rows).
		Where("started_at >= ?", dbTime(since)).
		WhereOr("closed_at >= ?", dbTime(since)).
		Order("id ASC").
		Limit(kpiMaxSessions).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: sessions since %s: %w", since.Format(time.RFC3339), dbErr(err))
	}
	return sessions(rows), nil
}

// QueueWaits is claim − start of the sessions claimed since since.
func (db *DB) QueueWaits(ctx context.Context, since time.Time) ([]time.Duration, error) {
	var rows []struct {
		StartedAt time.Time `bun:"started_at"`
		ClaimedAt time.Time `bun:"claimed_at"`
	}
	err := db.read.NewSelect().Table("chat_sessions").Column("started_at", "claimed_at").
		Where("claimed_at >= ?", dbTime(since)).Limit(kpiMaxSessions).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("store: queue waits: %w", dbErr(err))
	}
	out := make([]time.Duration, len(rows))
	for i, r := range rows {
		out[i] = r.ClaimedAt.Sub(r.StartedAt)
	}
	return out, nil
}

// DashboardData reads what the dashboard is computed from: the sessions
// started or closed since since, the ratings given since, and each
// message's time, direction and customer since.
func (db *DB) DashboardData(ctx context.Context, since time.Time) (chat.DashboardData, error) {
	var d chat.DashboardData
	var err error
	if d.Sessions, err = db.sessionsSince(ctx, since); err != nil {
		return d, err
	}
	var ratings []struct {
		Score     int       `bun:"score"`
		CreatedAt time.Time `bun:"created_at"`
	}
	if err := db.read.NewSelect().Table("csat_responses").Column("score", "created_at").
		Where("created_at >= ?", dbTime(since)).Scan(ctx, &ratings); err != nil {
		return d, fmt.Errorf("store: dashboard ratings: %w", dbErr(err))
	}
	for _, r := range ratings {
		d.Ratings = append(d.Ratings, chat.Rating{Score: r.Score, At: r.CreatedAt.UTC()})
	}
	var msgs []struct {
		LineUserID string    `bun:"line_user_id"`
		Direction  string    `bun:"direction"`
		CreatedAt  time.Time `bun:"created_at"`
	}
	if err := db.read.NewSelect().Table("messages").Column("line_user_id", "direction", "created_at").
		Where("created_at >= ?", dbTime(since)).Limit(dashboardMaxMessages).Scan(ctx, &msgs); err != nil {
		return d, fmt.Errorf("store: dashboard messages: %w", dbErr(err))
	}
	for _, m := range msgs {
		d.Messages = append(d.Messages, chat.MessageStamp{LineUserID: m.LineUserID, Incoming: m.Direction == string(chat.Incoming), At: m.CreatedAt.UTC()})
	}
	return d, nil
}

// dashboardMaxMessages bounds one dashboard read.
const dashboardMaxMessages = 500000

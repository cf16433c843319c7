package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"livechat/internal/chat"
)

// SeenOnline records windows of operators online on instance: each is
// created, or its end moved to To (a window is known by its operator,
// instance and From), in statements of availabilityBatch rows.
func (db *DB) SeenOnline(ctx context.Context, instance string, windows []chat.Window) error {
	windows = latestEnds(windows)
	for len(windows) > 0 {
		n := min(len(windows), availabilityBatch)
		if err := db.seenOnline(ctx, instance, windows[:n]); err != nil {
			return err
		}
		windows = windows[n:]
	}
	return nil
}

// latestEnds is windows with one per operator and From (the latest To):
// one statement may not update a row twice.
func latestEnds(windows []chat.Window) []chat.Window {
	type key struct {
		op   int64
		from time.Time
	}
	at := make(map[key]int, len(windows))
	out := windows[:0:0]
	for _, w := range windows {
		k := key{w.OperatorID, dbTime(w.From)}
		if i, ok := at[k]; ok {
			if w.To.After(out[i].To) {
				out[i].To = w.To
			}
			continue
		}
		at[k] = len(out)
		out = append(out, w)
	}
	return out
}

// availabilityBatch is the most windows one statement writes (4 parameters
// each, under both databases' limits).
const availabilityBatch = 1000

func (db *DB) seenOnline(ctx context.Context, instance string, windows []chat.Window) error {
	var b strings.Builder
	args := make([]any, 0, 4*len(windows))
	b.WriteString("INSERT INTO operator_availability (operator_id, instance, started_at, seen_at) VALUES ")
	for i, w := range windows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?)")
		from, to := dbTime(w.From), dbTime(w.To)
		if to.Before(from) {
			to = from
		}
		args = append(args, w.OperatorID, instance, from, to)
	}
	// Never back: a record that started earlier may commit later.
	b.WriteString(` ON CONFLICT (operator_id, instance, started_at) DO UPDATE SET seen_at = CASE
		WHEN excluded.seen_at > operator_availability.seen_at THEN excluded.seen_at ELSE operator_availability.seen_at END`)
	if _, err := db.bun.NewRaw(b.String(), args...).Exec(ctx); err != nil {
		return fmt.Errorf("store: availability: %w", dbErr(err))
	}
	return nil
}

// AvailabilityWindows is every window of an operator (0: of all) that
// overlaps [since, until], ended at its last seen_at.
func (db *DB) AvailabilityWindows(ctx context.Context, operatorID int64, since, until time.Time) ([]chat.Window, error) {
	var rows []struct {
		OperatorID int64     `bun:"operator_id"`
		StartedAt  time.Time `bun:"started_at"`
		SeenAt     time.Time `bun:"seen_at"`
	}
	q := db.read.NewSelect().Table("operator_availability").Column("operator_id", "started_at", "seen_at").
		Where("seen_at >= ?", dbTime(since)).Where("started_at <= ?", dbTime(until))
	if operatorID != 0 {
		q = q.Where("operator_id = ?", operatorID)
	}
	if err := q.Order("operator_id", "started_at").Limit(availabilityMaxWindows).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("store: availability windows: %w", dbErr(err))
	}
	out := make([]chat.Window, len(rows))
	for i, r := range rows {
		out[i] = chat.Window{OperatorID: r.OperatorID, From: r.StartedAt.UTC(), To: r.SeenAt.UTC()}
	}
	return out, nil
}

// availabilityMaxWindows bounds one read of the windows.
const availabilityMaxWindows = 200000

// PurgeAvailability deletes the windows that ended before before.
func (db *DB) PurgeAvailability(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.bun.NewDelete().Table("operator_availability").Where("seen_at < ?", dbTime(before)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: purge availability: %w", dbErr(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// ClaimedSince is the sessions claimed since since, by an operator (0: by
// any).
func (db *DB) ClaimedSince(ctx context.Context, operatorID int64, since time.Time) ([]chat.Session, error) {
	var rows []sessionRow
	q := db.read.NewSelect().Model(&rows).Where("claimed_at >= ?", dbTime(since)).Where("operator_id IS NOT NULL")
	if operatorID != 0 {
		q = q.Where("operator_id = ?", operatorID)
	}
	if err := q.Order("id ASC").Limit(kpiMaxSessions).Scan(ctx); err != nil {
		return nil, fmt.Errorf("store: sessions claimed since %s: %w", since.Format(time.RFC3339), dbErr(err))
	}
	return sessions(rows), nil
}

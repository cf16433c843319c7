package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
	"livechat/internal/hours"
)

type hoursRow struct {
	bun.BaseModel `bun:"table:business_hours,alias:h"`

	Weekday int `bun:"weekday"`
	Opens   int `bun:"opens"`
	Closes  int `bun:"closes"`
}

// BusinessHours loads the schedule (seeded Monday to Friday 08:00-17:00,
// Asia/Bangkok by the migration).
func (db *DB) BusinessHours(ctx context.Context) (hours.Schedule, error) {
	var (
		zone string
		rows []hoursRow
	)
	if err := db.read.NewRaw(`SELECT timezone FROM business_hours_zone WHERE id = 1`).Scan(ctx, &zone); err != nil {
		return hours.Schedule{}, fmt.Errorf("store: business hours zone: %w", dbErr(err))
	}
	if err := db.read.NewSelect().Model(&rows).Order("weekday", "opens").Scan(ctx); err != nil {
		return hours.Schedule{}, fmt.Errorf("store: business hours: %w", dbErr(err))
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return hours.Schedule{}, fmt.Errorf("store: business hours zone %q: %w", zone, err)
	}
	s := hours.Schedule{Location: loc}
	for _, r := range rows {
		s.Days[r.Weekday] = append(s.Days[r.Weekday], hours.Range{Opens: r.Opens, Closes: r.Closes})
	}
	return s, nil
}

// SetBusinessHours replaces the whole schedule in one transaction. An
// invalid schedule is ErrInvalid.
func (db *DB) SetBusinessHours(ctx context.Context, s hours.Schedule, now time.Time) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("store: set business hours: %w: %w", chat.ErrInvalid, err)
	}
	// The zone is stored by name, so it must load by name again.
	if _, err := time.LoadLocation(s.Location.String()); err != nil || s.Location == time.Local {
		return fmt.Errorf("store: set business hours: timezone %q is not an IANA name: %w", s.Location, chat.ErrInvalid)
	}
	err := db.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO business_hours_zone (id, timezone, updated_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET timezone = excluded.timezone, updated_at = excluded.updated_at`,
			s.Location.String(), dbTime(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM business_hours`); err != nil {
			return err
		}
		var rows []hoursRow
		for d, rs := range s.Days {
			for _, r := range rs {
				rows = append(rows, hoursRow{Weekday: d, Opens: r.Opens, Closes: r.Closes})
			}
		}
		if len(rows) == 0 {
			return nil
		}
		_, err := tx.NewInsert().Model(&rows).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set business hours: %w", dbErr(err))
	}
	return nil
}

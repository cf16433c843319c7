package store_test

import (
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/hours"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestBusinessHoursSeedAndSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		got, err := db.BusinessHours(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != hours.Default().String() {
			t.Fatalf("seeded hours = %q, want %q", got, hours.Default())
		}

		want, err := hours.Parse("mon-fri 08:00-12:00,13:00-17:00; sat 09:00-12:00; sun 22:00-24:00; tz=Europe/Berlin", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetBusinessHours(t.Context(), want, at(0)); err != nil {
			t.Fatal(err)
		}
		got, err = db.BusinessHours(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() || got.Location.String() != "Europe/Berlin" {
			t.Fatalf("hours = %q, want %q", got, want)
		}

		closed, _ := hours.Parse("closed; tz=UTC", nil)
		if err := db.SetBusinessHours(t.Context(), closed, at(0)); err != nil {
			t.Fatal(err)
		}
		if got, _ = db.BusinessHours(t.Context()); !got.Closed() || got.Location.String() != "UTC" {
			t.Fatalf("hours = %q, want closed in UTC", got)
		}
	})
}

func TestSetBusinessHoursRefusesInvalid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		bad := hours.Default()
		bad.Days[time.Monday] = []hours.Range{{Opens: 600, Closes: 500}}
		wantErr(t, "inverted range", db.SetBusinessHours(t.Context(), bad, at(0)), chat.ErrInvalid)
		unnamed := hours.Default()
		unnamed.Location = time.FixedZone("ICT", 7*3600)
		wantErr(t, "zone without IANA name", db.SetBusinessHours(t.Context(), unnamed, at(0)), chat.ErrInvalid)
		// Nothing changed.
		if got, _ := db.BusinessHours(t.Context()); got.String() != hours.Default().String() {
			t.Fatalf("hours = %q after refused sets", got)
		}
	})
}

package store_test

import (
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestUpsertCustomer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		id := storetest.LineUserID()
		c, err := db.UpsertCustomer(ctx, chat.Customer{LineUserID: id, DisplayName: "Somchai", PictureURL: "https://p/1"})
		if err != nil {
			t.Fatal(err)
		}
		if c.ID == 0 || c.ChatMode != chat.ModeBot || c.FriendStatus != "ACTIVE" || c.LastSeq != 0 ||
			c.LastMessageAt != nil || c.CreatedAt.IsZero() || c.DisplayName != "Somchai" {
			t.Fatalf("new customer = %+v", c)
		}

		tests := []struct {
			name              string
			in                chat.Customer
			wantName, wantPic string
			wantFriend        string
		}{
			{"empty fields keep the profile", chat.Customer{LineUserID: id}, "Somchai", "https://p/1", "ACTIVE"},
			{"new name only", chat.Customer{LineUserID: id, DisplayName: "Som"}, "Som", "https://p/1", "ACTIVE"},
			{"new picture and friend status", chat.Customer{LineUserID: id, PictureURL: "https://p/2", FriendStatus: "BLOCKED"}, "Som", "https://p/2", "BLOCKED"},
			{"chat mode and seq are not the caller's", chat.Customer{LineUserID: id, ChatMode: chat.ModeHuman, LastSeq: 99}, "Som", "https://p/2", "BLOCKED"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.UpsertCustomer(ctx, tt.in)
				if err != nil {
					t.Fatal(err)
				}
				if got.ID != c.ID || got.DisplayName != tt.wantName || got.PictureURL != tt.wantPic ||
					got.FriendStatus != tt.wantFriend || got.ChatMode != chat.ModeBot || got.LastSeq != 0 ||
					!got.CreatedAt.Equal(c.CreatedAt) {
					t.Errorf("UpsertCustomer = %+v", got)
				}
				read, err := db.Customer(ctx, id)
				if err != nil || read != got {
					t.Errorf("Customer = %+v, %v; want %+v", read, err, got)
				}
			})
		}
	})
}

func TestCustomerErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		for _, bad := range []string{"", "U123", "u" + storetest.LineUserID()[1:], "U" + "ABCDEF0123456789ABCDEF0123456789"} {
			_, err := db.UpsertCustomer(ctx, chat.Customer{LineUserID: bad})
			wantErr(t, "UpsertCustomer("+bad+")", err, chat.ErrInvalid)
		}
		_, err := db.Customer(ctx, storetest.LineUserID())
		wantErr(t, "Customer(unknown)", err, chat.ErrNotFound)
	})
}

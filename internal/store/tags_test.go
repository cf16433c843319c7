package store_test

import (
	"errors"
	"sync"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// Replacing a conversation's tags from many callers at once leaves one of
// their lists, never a union; names are unique whatever their case, in
// Unicode too; the inbox filter folds the same way.
func TestConversationTagsReplaceAtomically(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		x, y := chat.Tag{Name: "Émergence"}, chat.Tag{Name: "y"}
		for _, tg := range []*chat.Tag{&x, &y} {
			if err := db.CreateTag(ctx, tg, at(0)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateTag(ctx, &chat.Tag{Name: "émergence"}, at(0)); !errors.Is(err, chat.ErrConflict) {
			t.Fatalf("a name differing only in (Unicode) case: %v, want ErrConflict", err)
		}
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		c := storetest.Customer(t, db)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := x.ID
				if i%2 == 1 {
					id = y.ID
				}
				if _, err := db.SetConversationTags(ctx, c.LineUserID, []int64{id}, op.ID, at(0)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, err := db.ConversationTags(ctx, []string{c.LineUserID})
		if err != nil || len(got[c.LineUserID]) != 1 {
			t.Fatalf("after 20 replaces at once: %+v, %v; want one tag", got, err)
		}
		if _, err := db.SetConversationTags(ctx, c.LineUserID, []int64{x.ID}, op.ID, at(0)); err != nil {
			t.Fatal(err)
		}
		page, err := db.ListConversations(ctx, chat.ConversationFilter{Tag: "ÉMERGENCE", Limit: 10})
		if err != nil || len(page.Items) != 1 || page.Items[0].Customer.LineUserID != c.LineUserID {
			t.Fatalf("inbox ?tag=ÉMERGENCE: %+v, %v", page.Items, err)
		}
	})
}

// An unsend for a customer the store does not have (erased, say) leaves
// nothing behind.
func TestUnsendOfAnUnknownCustomerLeavesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		if _, _, err := db.UnsendMessage(ctx, storetest.LineUserID(), "123456", at(0)); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("unsend for an unknown customer: %v, want ErrNotFound", err)
		}
		var n int
		if err := db.Bun().NewRaw("SELECT count(*) FROM unsent_messages").Scan(ctx, &n); err != nil || n != 0 {
			t.Fatalf("unsent_messages: %d rows, %v; want none", n, err)
		}
	})
}

package ws_test

import (
	"context"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store/storetest"
)

// TestConversationTagged: setting a conversation's tags, or deleting a tag
// it has, tells every operator, with the whole list by name.
func TestConversationTagged(t *testing.T) {
	e := newEnv(t, sqlite(t))
	ctx := context.Background()
	aliceOp := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	alice := e.login(t, aliceOp)
	bob := e.login(t, storetest.Operator(t, e.db, "bob", chat.RoleAgent))
	cust := storetest.Customer(t, e.db)
	vip, billing := chat.Tag{Name: "vip"}, chat.Tag{Name: "billing", Color: "#00aa00"}
	for _, tg := range []*chat.Tag{&vip, &billing} {
		if err := e.db.CreateTag(ctx, tg, t0); err != nil {
			t.Fatal(err)
		}
	}
	alice.Sync()
	bob.Sync()
	if _, err := e.svc.SetConversationTags(ctx, aliceOp, cust.LineUserID, []int64{vip.ID, billing.ID}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wstest.Client{alice, bob} {
		p := c.WaitFor("conversation_tagged").Map(t)
		tags, _ := p["tags"].([]any)
		if p["line_user_id"] != cust.LineUserID || len(tags) != 2 || tags[0].(map[string]any)["name"] != "billing" ||
			tags[0].(map[string]any)["color"] != "#00aa00" || tags[1].(map[string]any)["name"] != "vip" {
			t.Fatalf("conversation_tagged: %v", p)
		}
	}
	// A deleted tag leaves the conversation, and every operator is told.
	if err := e.svc.DeleteTag(ctx, billing.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wstest.Client{alice, bob} {
		p := c.WaitFor("conversation_tagged").Map(t)
		if tags := p["tags"].([]any); len(tags) != 1 || tags[0].(map[string]any)["name"] != "vip" {
			t.Fatalf("after the tag's deletion: %v", p)
		}
	}
	if _, err := e.svc.SetConversationTags(ctx, aliceOp, cust.LineUserID, nil); err != nil {
		t.Fatal(err)
	}
	if p := bob.WaitFor("conversation_tagged").Map(t); len(p["tags"].([]any)) != 0 {
		t.Fatalf("tags removed: %v", p)
	}
}

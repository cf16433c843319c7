package store_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// A customer's export holds every part of its data; its erasure deletes all
// of it in one go, no message body or raw webhook body of it is left in
// any table, and another customer's data is untouched. An open session
// refuses the erasure; an unknown customer is not found.
func TestExportAndEraseCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		seed := func(secret string) chat.Customer {
			c := storetest.Customer(t, db)
			s := mustEnsure(t, db, c.LineUserID, at(0))
			if _, err := db.ClaimSession(ctx, s.ID, op.ID, at(1)); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, db, incoming(c.LineUserID, "my address is "+secret), at(2))
			sent := outgoing(c.LineUserID, "noted, "+secret, &op)
			sent.SentIP, sent.SentUserAgent = "198.51.100.23", "operator-browser/1"
			mustAppend(t, db, sent, at(3))
			if err := db.MarkRead(ctx, op.ID, c.LineUserID, 2); err != nil {
				t.Fatal(err)
			}
			body := json.RawMessage(`{"type":"message","source":{"type":"user","userId":"` + c.LineUserID + `"},"message":{"text":"` + secret + `"}}`)
			if _, err := db.AddInboxEvents(ctx, []store.InboxEvent{{WebhookEventID: "01" + c.LineUserID[1:25], EventType: "message", SourceType: "user",
				LineUserID: c.LineUserID, Body: body, EventAt: at(2)}},
				[]store.RejectedEvent{{WebhookEventID: "02" + c.LineUserID[1:25], EventType: "message", Reason: "test", Body: string(body)}}, at(2)); err != nil {
				t.Fatal(err)
			}
			return c
		}
		a, b := seed("12 Secret Road"), seed("34 Other Lane")
		open := storetest.Customer(t, db)
		mustEnsure(t, db, open.LineUserID, at(0))

		if _, err := db.EraseCustomer(ctx, open.LineUserID); !errors.Is(err, chat.ErrSessionState) {
			t.Fatalf("erase with an open session: %v, want ErrSessionState", err)
		}
		s, err := db.OpenSession(ctx, a.LineUserID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CloseSession(ctx, s.ID, s.Status, nil, chat.ClosedByOperator, &op.ID, at(4)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RecordCSAT(ctx, s.ID, a.LineUserID, 4, at(5)); err != nil {
			t.Fatal(err)
		}

		vip := chat.Tag{Name: "vip"}
		if err := db.CreateTag(ctx, &vip, at(5)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SetConversationTags(ctx, a.LineUserID, []int64{vip.ID}, op.ID, at(5)); err != nil {
			t.Fatal(err)
		}
		x, err := db.ExportCustomer(ctx, a.LineUserID)
		if err != nil {
			t.Fatal(err)
		}
		if len(x.Tags) != 1 || x.Tags[0].Name != "vip" {
			t.Fatalf("export tags: %+v", x.Tags)
		}
		if x.Customer["line_user_id"] != a.LineUserID || len(x.Sessions) != 1 || len(x.Messages) != 2 || len(x.CSAT) != 1 {
			t.Fatalf("export: customer %v, %d sessions, %d messages, %d ratings", x.Customer, len(x.Sessions), len(x.Messages), len(x.CSAT))
		}
		raw, err := json.Marshal(x)
		if err != nil || !strings.Contains(string(raw), "my address is 12 Secret Road") || strings.Contains(string(raw), "Other Lane") ||
			strings.Contains(string(raw), "198.51.100.23") || strings.Contains(string(raw), "operator-browser") { // the operator's, not the customer's
			t.Fatalf("export JSON (%v): %s", err, raw)
		}

		erased, err := db.EraseCustomer(ctx, a.LineUserID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"customers": 1, "chat_sessions": 1, "messages": 2, "csat_responses": 1, "read_markers": 1,
			"line_webhook_events": 1, "line_webhook_rejects": 1, "conversation_tags": 1}
		for table, n := range want {
			if erased[table] != n {
				t.Fatalf("erased %v, want %s %d", erased, table, n)
			}
		}
		for _, q := range []string{
			"SELECT count(*) FROM messages WHERE content LIKE '%Secret Road%'",
			"SELECT count(*) FROM line_webhook_events WHERE body LIKE '%Secret Road%'",
			"SELECT count(*) FROM line_webhook_rejects WHERE body LIKE '%Secret Road%'",
			"SELECT count(*) FROM customers WHERE line_user_id = '" + a.LineUserID + "'",
		} {
			var n int
			if err := db.Bun().NewRaw(q).Scan(ctx, &n); err != nil || n != 0 {
				t.Fatalf("%s: %d, %v; want 0", q, n, err)
			}
		}
		if x, err := db.ExportCustomer(ctx, b.LineUserID); err != nil || len(x.Messages) != 2 {
			t.Fatalf("the other customer: %d messages, %v", len(x.Messages), err)
		}
		if _, err := db.ExportCustomer(ctx, a.LineUserID); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("export after erasure: %v, want ErrNotFound", err)
		}
		if _, err := db.EraseCustomer(ctx, a.LineUserID); !errors.Is(err, chat.ErrNotFound) {
			t.Fatalf("erase again: %v, want ErrNotFound", err)
		}
	})
}

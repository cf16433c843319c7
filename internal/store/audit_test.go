package store_test

import (
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// Audit rows: one per action, but a repeatable security event is one
// counted row per source and minute; the log reads newest first with a
// cursor and filters; old rows are purged; an erased customer's id is
// hashed where rows name it.
func TestAuditLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAdmin)
		t0 := time.Date(2026, 11, 25, 3, 0, 10, 0, time.UTC)
		must := func(e chat.AuditEntry) {
			t.Helper()
			if err := db.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		cust := storetest.Customer(t, db)
		must(chat.AuditEntry{At: t0, ActorID: &op.ID, Actor: "alice", Action: chat.AuditClaim, ResourceType: "session", ResourceID: "7",
			IP: "10.0.0.1", UserAgent: "ua", Details: map[string]any{"line_user_id": cust.LineUserID}})
		for i := range 3 {
			must(chat.AuditEntry{At: t0.Add(time.Duration(i) * 10 * time.Second), Action: chat.AuditLoginFailed, IP: "10.0.0.9"})
		}
		must(chat.AuditEntry{At: t0, Action: chat.AuditLoginFailed, IP: "10.0.0.8"})
		must(chat.AuditEntry{At: t0.Add(time.Minute), Action: chat.AuditLoginFailed, IP: "10.0.0.9"})
		must(chat.AuditEntry{At: t0.Add(2 * time.Minute), ActorID: &op.ID, Actor: "alice", Action: chat.AuditOperatorDisable, ResourceType: "operator", ResourceID: "9"})

		all, err := db.AuditLog(ctx, chat.AuditQuery{})
		if err != nil || len(all) != 5 {
			t.Fatalf("log: %d rows, %v; want 5 (three failures of one source in a minute are one row)", len(all), err)
		}
		if all[0].Action != chat.AuditOperatorDisable || all[4].Action != chat.AuditClaim || all[4].Details["line_user_id"] != cust.LineUserID {
			t.Fatalf("newest first: %+v … %+v", all[0], all[4])
		}
		failed, _ := db.AuditLog(ctx, chat.AuditQuery{Action: chat.AuditLoginFailed})
		if len(failed) != 3 || failed[2].Count != 3 || failed[2].IP != "10.0.0.9" || failed[1].Count != 1 || failed[0].Count != 1 {
			t.Fatalf("failed logins: %+v", failed)
		}
		page, _ := db.AuditLog(ctx, chat.AuditQuery{Limit: 2})
		next, _ := db.AuditLog(ctx, chat.AuditQuery{Limit: 2, Cursor: page[1].ID})
		if len(page) != 2 || len(next) != 2 || next[0].ID >= page[1].ID {
			t.Fatalf("pages: %+v then %+v", page, next)
		}
		mine, _ := db.AuditLog(ctx, chat.AuditQuery{ActorID: &op.ID})
		since := t0.Add(90 * time.Second)
		late, _ := db.AuditLog(ctx, chat.AuditQuery{Since: &since})
		if len(mine) != 2 || len(late) != 1 {
			t.Fatalf("by actor %d rows, since %d rows; want 2 and 1", len(mine), len(late))
		}

		if _, err := db.EraseCustomer(ctx, cust.LineUserID); err != nil {
			t.Fatal(err)
		}
		claim, _ := db.AuditLog(ctx, chat.AuditQuery{Action: chat.AuditClaim})
		if len(claim) != 1 || claim[0].Details["line_user_id"] != chat.HashedCustomerID(cust.LineUserID) {
			t.Fatalf("after the erasure: %+v, want the id hashed", claim)
		}

		if n, err := db.PurgeAudit(ctx, t0.Add(30*time.Second)); err != nil || n != 3 {
			t.Fatalf("purge: %d, %v; want the 3 rows of the first minute", n, err)
		}
	})
}

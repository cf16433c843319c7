package store_test

import (
	"fmt"
	"strconv"
	"strings"
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
		next, _ := db.AuditLog(ctx, chat.AuditQuery{Limit: 2, Cursor: chat.AuditCursor{}.After(page)})
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

// The sends are in the audit log as message.send, each read from its
// message, merged with audit_log's rows by time: pages neither skip nor
// repeat, the filters apply to both, and an erasure keeps the sends in
// audit_log with the customer's id hashed.
func TestAuditLogSends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		cust := storetest.Customer(t, db)
		t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
		s, _, err := db.EnsureWaitingSession(ctx, cust.LineUserID, t0.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ClaimSession(ctx, s.ID, op.ID, t0); err != nil {
			t.Fatal(err)
		}
		record := func(e chat.AuditEntry) {
			t.Helper()
			if err := db.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		send := func(at time.Duration) chat.Message {
			t.Helper()
			m := chat.Message{LineUserID: cust.LineUserID, Direction: chat.Outgoing, MessageType: "text", Content: "the body",
				SenderRole: chat.SenderAdmin, OperatorID: &op.ID, OperatorName: op.DisplayName, DeliveryStatus: chat.DeliveryPending,
				SentIP: "10.1.1.1", SentUserAgent: "ua/1"}
			if err := db.AppendMessage(ctx, &m, &chat.AppendGuard{Owner: &op.ID}, t0.Add(at)); err != nil {
				t.Fatal(err)
			}
			return m
		}
		record(chat.AuditEntry{At: t0, ActorID: &op.ID, Actor: "alice", Action: chat.AuditClaim, ResourceType: "session"})
		s1 := send(time.Minute)
		record(chat.AuditEntry{At: t0.Add(2 * time.Minute), Actor: "system", Action: chat.AuditClose, ResourceType: "session"})
		s2, s3 := send(3*time.Minute), send(4*time.Minute)

		name := func(es []chat.AuditEntry) string {
			var b strings.Builder
			for _, e := range es {
				if e.FromMessage {
					fmt.Fprintf(&b, "m%d ", e.ID)
				} else {
					b.WriteString(e.Action + " ")
				}
			}
			return b.String()
		}
		all, err := db.AuditLog(ctx, chat.AuditQuery{})
		want := fmt.Sprintf("m%d m%d session.close m%d session.claim ", s3.ID, s2.ID, s1.ID)
		if err != nil || name(all) != want {
			t.Fatalf("log: %q, %v; want %q", name(all), err, want)
		}
		if e := all[0]; e.Action != chat.AuditSend || e.ActorID == nil || *e.ActorID != op.ID || e.Actor != "alice" ||
			e.ResourceType != "message" || e.ResourceID != strconv.FormatInt(s3.ID, 10) || e.IP != "10.1.1.1" || e.UserAgent != "ua/1" ||
			e.Details["line_user_id"] != cust.LineUserID || e.Details["session_id"] != s.ID || !e.At.Equal(t0.Add(4*time.Minute)) {
			t.Fatalf("a send's row: %+v", e)
		}
		// pages reads the whole log in pages of 2, following the cursor.
		pages := func() []chat.AuditEntry {
			t.Helper()
			var paged []chat.AuditEntry
			var cur chat.AuditCursor
			for range 10 {
				page, err := db.AuditLog(ctx, chat.AuditQuery{Limit: 2, Cursor: cur})
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, page...)
				if len(page) < 2 {
					break
				}
				cur = cur.After(page)
			}
			return paged
		}
		if paged := pages(); name(paged) != want {
			t.Fatalf("pages of 2: %q, want %q", name(paged), want)
		}
		count := func(q chat.AuditQuery) int {
			t.Helper()
			es, err := db.AuditLog(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			return len(es)
		}
		since := t0.Add(150 * time.Second)
		if n := count(chat.AuditQuery{Action: chat.AuditSend}); n != 3 {
			t.Fatalf("sends: %d, want 3", n)
		}
		if n := count(chat.AuditQuery{Action: chat.AuditClaim}); n != 1 {
			t.Fatalf("claims: %d, want 1", n)
		}
		if n := count(chat.AuditQuery{ActorID: &op.ID}); n != 4 {
			t.Fatalf("alice's: %d, want 4 (3 sends and the claim)", n)
		}
		if n := count(chat.AuditQuery{Since: &since}); n != 2 {
			t.Fatalf("since 2:30: %d, want 2", n)
		}

		if _, err := db.CloseSession(ctx, s.ID, chat.StatusActive, nil, chat.ClosedByOperator, &op.ID, t0.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.EraseCustomer(ctx, cust.LineUserID); err != nil {
			t.Fatal(err)
		}
		sends, err := db.AuditLog(ctx, chat.AuditQuery{Action: chat.AuditSend})
		if err != nil || len(sends) != 3 {
			t.Fatalf("sends after the erasure: %+v, %v; want 3 kept", sends, err)
		}
		for _, e := range sends {
			if e.FromMessage || e.Details["line_user_id"] != chat.HashedCustomerID(cust.LineUserID) || e.IP != "10.1.1.1" ||
				e.ActorID == nil || *e.ActorID != op.ID || e.ResourceID == "" {
				t.Fatalf("a send kept by the erasure: %+v", e)
			}
		}
		// The copies keep their sends' times: still newest first, under
		// a row written after them.
		record(chat.AuditEntry{At: t0.Add(6 * time.Minute), Actor: "cli", Action: chat.AuditCustomerErase, ResourceType: "customer"})
		all, err = db.AuditLog(ctx, chat.AuditQuery{})
		if err != nil || len(all) != 6 {
			t.Fatalf("after the erasure: %+v, %v", all, err)
		}
		for i, want := range []string{chat.AuditCustomerErase, chat.AuditSend, chat.AuditSend, chat.AuditClose, chat.AuditSend, chat.AuditClaim} {
			if all[i].Action != want || (i > 0 && all[i].At.After(all[i-1].At)) {
				t.Fatalf("after the erasure, row %d: %+v; want %s, newest first (%s)", i, all[i], want, name(all))
			}
		}
		if paged := pages(); len(paged) != 6 || name(paged) != name(all) {
			t.Fatalf("after the erasure, pages of 2: %q, want %q", name(paged), name(all))
		}
	})
}

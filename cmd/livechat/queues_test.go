package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// jsonLines decodes stdout, one object a line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestInboxAndOutboxLists: quarantined and rejected events, and
// quarantined messages, as JSON lines; a quarantined event can be retried.
func TestInboxAndOutboxLists(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"LIVECHAT_DATA_DIR": dir}
	now := time.Now()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	u := storetest.LineUserID()
	ev := store.InboxEvent{WebhookEventID: "01TESTDEAD0000000000000000", EventType: "message", SourceType: "user",
		LineUserID: u, Body: []byte(`{}`), EventAt: now}
	rej := store.RejectedEvent{WebhookEventID: "01TESTREJECT00000000000000", EventType: "message", Reason: "timestamp is missing", Body: "{}"}
	if _, err := db.AddInboxEvents(ctx, []store.InboxEvent{ev}, []store.RejectedEvent{rej}, now); err != nil {
		t.Fatal(err)
	}
	ids, _ := db.DueInboxIDs(ctx, now, 10)
	if _, _, err := db.ClaimInboxEvent(ctx, ids[0], now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if dead, err := db.FailInboxEvent(ctx, ids[0], store.Failure{Reason: "invalid event", Next: now, Row: true, Max: 1, Now: now}); err != nil || !dead {
		t.Fatal(dead, err)
	}
	op := storetest.Operator(t, db, "alice", chat.RoleAgent)
	cust := storetest.Customer(t, db)
	s, _, _ := db.EnsureWaitingSession(ctx, cust.LineUserID, now)
	if _, err := db.ClaimSession(ctx, s.ID, op.ID, now); err != nil {
		t.Fatal(err)
	}
	m := chat.Message{LineUserID: cust.LineUserID, Direction: chat.Outgoing, MessageType: "text", Content: "hi",
		SenderRole: chat.SenderAdmin, OperatorID: &op.ID, DeliveryStatus: chat.DeliveryPending, TempID: "t1"}
	if err := db.AppendMessage(ctx, &m, nil, now); err != nil {
		t.Fatal(err)
	}
	if d, err := db.FailDelivery(ctx, m.ID, 0, "unreadable", now, 1, now); err != nil || !d.Dead {
		t.Fatal(d, err)
	}
	db.Close()

	r := runCmd(t, env, "", "inbox", "list")
	lines := jsonLines(t, r.stdout)
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("inbox list: %+v", r)
	}
	if l := lines[0]; l["kind"] != "dead" || l["id"] != float64(ids[0]) || l["webhook_event_id"] != ev.WebhookEventID ||
		l["reason"] != "invalid event" || l["line_user_id"] != u || l["time"] == nil {
		t.Fatalf("dead line = %v", l)
	}
	if l := lines[1]; l["kind"] != "rejected" || l["webhook_event_id"] != rej.WebhookEventID || l["reason"] != rej.Reason || l["time"] == nil {
		t.Fatalf("rejected line = %v", l)
	}
	if got := jsonLines(t, runCmd(t, env, "", "inbox", "list", "--dead").stdout); len(got) != 1 || got[0]["kind"] != "dead" {
		t.Fatalf("--dead: %v", got)
	}
	if got := jsonLines(t, runCmd(t, env, "", "inbox", "list", "--rejected").stdout); len(got) != 1 || got[0]["kind"] != "rejected" {
		t.Fatalf("--rejected: %v", got)
	}
	r = runCmd(t, env, "", "outbox", "list")
	if got := jsonLines(t, r.stdout); r.code != 0 || len(got) != 1 || got[0]["id"] != float64(m.ID) || got[0]["temp_id"] != "t1" ||
		got[0]["operator_id"] != float64(op.ID) || got[0]["reason"] != "unreadable" {
		t.Fatalf("outbox list: %+v", r)
	}

	id := strconv.FormatInt(ids[0], 10)
	if r := runCmd(t, env, "", "inbox", "retry", "--id", id); r.code != 0 || r.stdout != "" {
		t.Fatalf("retry: %+v", r)
	}
	if got := jsonLines(t, runCmd(t, env, "", "inbox", "list", "--dead").stdout); len(got) != 0 {
		t.Fatalf("still dead after the retry: %v", got)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"inbox", "retry", "--id", id}, 1, "no quarantined inbox event"},
		{[]string{"inbox", "retry"}, 2, "--id"},
		{[]string{"inbox", "list", "--dead", "--rejected"}, 2, "exclude each other"},
		{[]string{"inbox", "list", "--limit", "0"}, 2, "--limit"},
		{[]string{"inbox"}, 2, "list or retry"},
		{[]string{"inbox", "purge"}, 2, "unknown inbox subcommand"},
		{[]string{"outbox"}, 2, "list"},
	} {
		r := runCmd(t, env, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
			t.Errorf("%v: %+v; want code %d mentioning %q", tc.args, r, tc.code, tc.msg)
		}
	}
}

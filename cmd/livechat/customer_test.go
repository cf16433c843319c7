package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// customer export prints a customer's data as JSON; customer erase
// deletes it, and says why when it cannot.
func TestCustomerExportAndEraseCommands(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"LIVECHAT_DATA_DIR": dir}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cust := storetest.Customer(t, db)
	m := &chat.Message{LineUserID: cust.LineUserID, Direction: chat.Incoming, MessageType: "text", Content: "private text", SenderRole: chat.SenderUser}
	if err := db.AppendMessage(ctx, m, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	open := storetest.Customer(t, db)
	if _, _, err := db.EnsureWaitingSession(ctx, open.LineUserID, time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()

	r := runCmd(t, env, "", "customer", "export", "--line-user-id", cust.LineUserID)
	var x chat.CustomerExport
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &x) != nil || len(x.Messages) != 1 || x.Messages[0]["content"] != "private text" {
		t.Fatalf("export: %+v", r)
	}
	if r := runCmd(t, env, "", "customer", "erase", "--line-user-id", open.LineUserID); r.code != 1 || !strings.Contains(r.stderr, "open session") {
		t.Fatalf("erase with an open session: %+v", r)
	}
	if r := runCmd(t, env, "", "customer", "erase", "--line-user-id", cust.LineUserID); r.code != 0 || !strings.Contains(r.stderr, "customer erased") {
		t.Fatalf("erase: %+v", r)
	}
	if r := runCmd(t, env, "", "customer", "export", "--line-user-id", cust.LineUserID); r.code != 1 || !strings.Contains(r.stderr, "no customer") {
		t.Fatalf("export after erasure: %+v", r)
	}
	if r := runCmd(t, env, "", "customer", "erase", "--line-user-id", "bob"); r.code != 2 || !strings.Contains(r.stderr, "--line-user-id") {
		t.Fatalf("a bad id: %+v", r)
	}
	if r := runCmd(t, env, "", "customer"); r.code != 2 {
		t.Fatalf("no subcommand: %+v", r)
	}
}

// backup copies the SQLite database to a new file that opens as a store
// with the same data; it refuses to overwrite.
func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"LIVECHAT_DATA_DIR": dir}
	if r := runCmd(t, env, "", "operator", "create", "--username", "alice", "--display-name", "Alice", "--role", "agent", "--password", "long-enough"); r.code != 0 {
		t.Fatalf("operator create: %+v", r)
	}
	to := filepath.Join(t.TempDir(), "copy.db")
	if r := runCmd(t, env, "", "backup", "--to", to); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	if r := runCmd(t, env, "", "backup", "--to", to); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("backup over a file: %+v", r)
	}
	copyDir := t.TempDir()
	if err := os.Rename(to, filepath.Join(copyDir, "livechat.db")); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), store.Config{DataDir: copyDir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if op, err := db.OperatorByUsername(context.Background(), "alice"); err != nil || op.DisplayName != "Alice" {
		t.Fatalf("the copy: %+v, %v", op, err)
	}
}

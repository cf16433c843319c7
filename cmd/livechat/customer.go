package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"livechat/internal/chat"
	"livechat/internal/store"
)

// customerCmd is the data subject's rights (Thailand's PDPA): a copy of a
// customer's data, and its erasure.
func customerCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "export" && args[0] != "erase") {
		return usageError("customer needs a subcommand: export or erase")
	}
	fs := newFlags("customer "+args[0], stderr)
	id := fs.String("line-user-id", "", "the customer's LINE user id (U and 32 hex digits)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if !chat.ValidLineUserID(*id) {
		return usageError("--line-user-id must be a LINE user id: U and 32 lowercase hex digits")
	}
	e, db, err := openAdmin(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "export" {
		x, err := db.ExportCustomer(ctx, *id)
		if errors.Is(err, chat.ErrNotFound) {
			return fmt.Errorf("no customer %s", *id)
		}
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(x); err != nil {
			return err
		}
		cliAudit(ctx, e, db, chat.AuditCustomerExport, "customer", *id)
		return nil
	}
	erased, err := db.EraseCustomer(ctx, *id)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return fmt.Errorf("no customer %s", *id)
	case errors.Is(err, chat.ErrSessionState):
		return fmt.Errorf("customer %s has an open session: close it first (an operator's close, or wait for the sweeps)", *id)
	case err != nil:
		return err
	}
	e.log.Info("customer erased", "line_user_id", *id, "rows", erased)
	cliAudit(ctx, e, db, chat.AuditCustomerErase, "customer", chat.HashedCustomerID(*id))
	return nil
}

// backupCmd writes a consistent copy of the SQLite database to a new file
// while the server may be running (VACUUM INTO); Postgres has pg_dump.
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	to := fs.String("to", "", "the file to write (must not exist)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return usageError("backup needs --to FILE")
	}
	if _, err := os.Stat(*to); err == nil {
		return fmt.Errorf("%s exists: backup writes a new file only", *to)
	}
	e, db, err := openAdmin(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if db.Dialect() != store.SQLite {
		return errors.New("backup copies the embedded SQLite database; back Postgres up with pg_dump (see README)")
	}
	if _, err := db.Bun().ExecContext(ctx, "VACUUM INTO ?", *to); err != nil {
		return fmt.Errorf("backup to %s: %w", *to, err)
	}
	e.log.Info("backup written", "to", *to)
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
)

// The inbox and outbox subcommands show what the workers gave up on, as
// JSON lines on stdout, and put a quarantined inbox event back.

const defaultListLimit = 100

// deadLine is one quarantined inbox event or outbox message.
type deadLine struct {
	Kind string `json:"kind"`
	store.DeadLetter
}

type rejectedLine struct {
	Kind           string    `json:"kind"`
	ID             int64     `json:"id"`
	WebhookEventID string    `json:"webhook_event_id,omitempty"`
	EventType      string    `json:"event_type,omitempty"`
	Reason         string    `json:"reason"`
	Time           time.Time `json:"time"`
}

func inbox(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("inbox needs a subcommand: list or retry")
	}
	switch args[0] {
	case "list":
		return inboxList(ctx, args[1:], getenv, stdout, stderr)
	case "retry":
		return inboxRetry(ctx, args[1:], getenv, stderr)
	}
	return usageError(fmt.Sprintf("unknown inbox subcommand %q (list or retry)", args[0]))
}

func inboxList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("inbox list", stderr)
	dead := fs.Bool("dead", false, "only quarantined events")
	rejected := fs.Bool("rejected", false, "only events rejected at the door")
	limit := fs.Int("limit", defaultListLimit, "at most this many of each kind, newest first")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dead && *rejected {
		return usageError("--dead and --rejected exclude each other; give neither for both")
	}
	if *limit < 1 {
		return usageError("--limit must be positive")
	}
	_, db, err := openAdmin(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	enc := json.NewEncoder(stdout)
	if !*rejected {
		letters, err := db.DeadInboxEvents(ctx, *limit)
		if err != nil {
			return err
		}
		for _, l := range letters {
			if err := enc.Encode(deadLine{Kind: "dead", DeadLetter: l}); err != nil {
				return err
			}
		}
	}
	if !*dead {
		rs, err := db.RejectedInboxEvents(ctx, *limit)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if err := enc.Encode(rejectedLine{Kind: "rejected", ID: r.ID, WebhookEventID: r.WebhookEventID,
				EventType: r.EventType, Reason: r.Reason, Time: r.ReceivedAt}); err != nil {
				return err
			}
		}
	}
	return nil
}

func inboxRetry(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := newFlags("inbox retry", stderr)
	id := fs.Int64("id", 0, "the id of a quarantined event (from inbox list --dead)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id < 1 {
		return usageError("--id must be the positive id of a quarantined event")
	}
	e, db, err := openAdmin(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.RetryInboxEvent(ctx, *id, time.Now()); err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			return fmt.Errorf("no quarantined inbox event with id %d (rejected events cannot be retried)", *id)
		}
		return err
	}
	e.log.Info("inbox event queued again; a running server processes it within 30 s", "id", *id)
	return nil
}

func outboxCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		return usageError("outbox needs the subcommand list")
	}
	fs := newFlags("outbox list", stderr)
	fs.Bool("dead", true, "quarantined messages (the only kind listed)")
	limit := fs.Int("limit", defaultListLimit, "at most this many, newest first")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *limit < 1 {
		return usageError("--limit must be positive")
	}
	_, db, err := openAdmin(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	letters, err := db.DeadDeliveries(ctx, *limit)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, l := range letters {
		if err := enc.Encode(deadLine{Kind: "dead", DeadLetter: l}); err != nil {
			return err
		}
	}
	return nil
}

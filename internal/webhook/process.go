package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/line"
	"livechat/internal/store"
)

// profileTimeout bounds the best-effort profile fetch.
const profileTimeout = 5 * time.Second

// Friend statuses written on follow and unfollow (LINE's unfollow is the
// customer blocking the account).
const (
	friendActive  = "ACTIVE"
	friendBlocked = "BLOCKED"
)

// processor turns one inbox event into its effects. It returns an error
// only for what may succeed later (the event is retried); events that can
// never be handled are logged and count as done.
type processor struct {
	store    Store
	chat     Chat
	profiles Profiles
	replier  Replier
	clock    clock.Clock
	log      *slog.Logger
	opt      Options
}

func newProcessor(d Deps, o Options, log *slog.Logger) *processor {
	return &processor{store: d.Store, chat: d.Chat, profiles: d.Profiles, replier: d.Replier, clock: d.Clock, log: log, opt: o}
}

func (p *processor) handle(ctx context.Context, ev store.InboxEvent) error {
	// The door checked it; a row stored before that check, or changed
	// since, is held to the same rules, and counts as its own failure.
	e, err := check(ev.Body, p.clock.Now())
	if errors.Is(err, errIgnored) {
		p.log.InfoContext(ctx, "inbox: ignored an event from a group or room", "webhook_event_id", ev.WebhookEventID, "source_type", e.Source.Type)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: invalid event: %w", chat.ErrInvalid, err)
	}
	userID := e.Source.UserID
	if e.WebhookEventID == "" {
		e.WebhookEventID = ev.WebhookEventID
	}
	switch e.Type {
	case "follow":
		return p.follow(ctx, userID)
	case "unfollow":
		return p.unfollow(ctx, userID)
	case "message":
		return p.message(ctx, e, userID)
	case "postback":
		return p.postback(ctx, e, userID)
	case "unsend":
		if err := p.chat.Unsend(ctx, userID, e.Unsend.MessageID); err != nil {
			return fmt.Errorf("unsend: %w", err)
		}
		return nil
	}
	p.log.DebugContext(ctx, "inbox: event type not handled", "webhook_event_id", ev.WebhookEventID, "event_type", e.Type)
	return nil
}

// unsent applies a customer's unsend again, for a message event that came
// after it: the event's raw copy in the inbox is cut like the others.
func (p *processor) unsent(ctx context.Context, userID, lineMessageID string) error {
	if err := p.chat.Unsend(ctx, userID, lineMessageID); err != nil {
		return fmt.Errorf("message: unsent: %w", err)
	}
	return nil
}

// follow creates the customer, or refreshes it after an unblock, with the
// profile if LINE gives it.
func (p *processor) follow(ctx context.Context, userID string) error {
	c := chat.Customer{LineUserID: userID, FriendStatus: friendActive}
	p.withProfile(ctx, &c)
	if _, err := p.store.UpsertCustomer(ctx, c); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	return nil
}

// unfollow marks the customer blocked and closes the open session
// (closed_by USER).
func (p *processor) unfollow(ctx context.Context, userID string) error {
	_, err := p.store.Customer(ctx, userID)
	if errors.Is(err, chat.ErrNotFound) {
		return nil // never seen: nothing to close
	}
	if err != nil {
		return fmt.Errorf("unfollow: %w", err)
	}
	if _, err := p.store.UpsertCustomer(ctx, chat.Customer{LineUserID: userID, FriendStatus: friendBlocked}); err != nil {
		return fmt.Errorf("unfollow: %w", err)
	}
	if _, err := p.chat.CloseByCustomer(ctx, userID, "unfollow"); err != nil {
		return fmt.Errorf("unfollow: %w", err)
	}
	return nil
}

// customer returns the customer, creating it (with its profile) if this is
// the first we hear of it: people who befriended the account before this
// server existed send no follow.
func (p *processor) customer(ctx context.Context, userID string) (chat.Customer, error) {
	c, err := p.store.Customer(ctx, userID)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, chat.ErrNotFound) {
		return chat.Customer{}, err
	}
	c = chat.Customer{LineUserID: userID}
	p.withProfile(ctx, &c)
	return p.store.UpsertCustomer(ctx, c)
}

// withProfile fills c's name and picture from LINE, best effort.
func (p *processor) withProfile(ctx context.Context, c *chat.Customer) {
	if p.profiles == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, profileTimeout)
	defer cancel()
	prof, err := p.profiles.Profile(ctx, c.LineUserID)
	if err != nil {
		p.log.Log(ctx, quietIfNoToken(err), "inbox: profile unavailable", "line_user_id", c.LineUserID, "err", err)
		return
	}
	c.DisplayName = chat.CleanLine(prof.DisplayName)
	if webURL(prof.PictureURL) {
		c.PictureURL = prof.PictureURL
	}
}

// message stores a customer message. In BOT mode a text with a handoff
// keyword first queues the customer, so the message that asked for a human
// belongs to the new session. A retry finds the message stored by an
// earlier attempt (by its LINE id) and does not store or hand off again.
func (p *processor) message(ctx context.Context, e event, userID string) error {
	if e.Message == nil {
		p.log.WarnContext(ctx, "inbox: skipped a message event without a message", "webhook_event_id", e.WebhookEventID)
		return nil
	}
	m, ok := chatMessage(userID, e.WebhookEventID, *e.Message)
	if !ok {
		p.log.InfoContext(ctx, "inbox: message type not handled", "webhook_event_id", e.WebhookEventID, "message_type", e.Message.Type)
		return nil
	}
	cust, err := p.customer(ctx, userID)
	if err != nil {
		return fmt.Errorf("message: customer: %w", err)
	}
	if e.Message.ID != "" {
		prev, err := p.store.IncomingMessageByLineID(ctx, userID, e.Message.ID)
		if err == nil && prev.UnsentAt != nil {
			return p.unsent(ctx, userID, e.Message.ID) // unsent since: this event's raw copy goes too
		}
		if err == nil {
			return nil // stored by an earlier attempt, which also did the rest
		}
		if !errors.Is(err, chat.ErrNotFound) {
			return fmt.Errorf("message: dedup: %w", err)
		}
		unsent, err := p.store.Unsent(ctx, userID, e.Message.ID)
		if err != nil {
			return fmt.Errorf("message: unsent: %w", err)
		}
		if unsent {
			p.log.InfoContext(ctx, "inbox: skipped a message its customer unsent before it was stored", "webhook_event_id", e.WebhookEventID)
			return p.unsent(ctx, userID, e.Message.ID)
		}
	}
	if cust.ChatMode == chat.ModeBot && m.MessageType == "text" && p.wantsHuman(e.Message.Text) {
		if err := p.handoff(ctx, e, userID); err != nil {
			return fmt.Errorf("message: handoff: %w", err)
		}
	}
	if _, err := p.chat.CustomerMessage(ctx, m); err != nil {
		return fmt.Errorf("message: store: %w", err)
	}
	return nil
}

// postback handles the CSAT buttons; other postbacks are not ours.
func (p *processor) postback(ctx context.Context, e event, userID string) error {
	if e.Postback == nil {
		return nil
	}
	sessionID, score, ok := line.ParseCSAT(e.Postback.Data)
	if !ok {
		if isCSATData(e.Postback.Data) {
			p.log.WarnContext(ctx, "inbox: ignored a malformed CSAT postback", "webhook_event_id", e.WebhookEventID, "line_user_id", userID)
		} else {
			p.log.DebugContext(ctx, "inbox: postback not handled", "webhook_event_id", e.WebhookEventID)
		}
		return nil
	}
	return p.csat(ctx, e, userID, sessionID, score)
}

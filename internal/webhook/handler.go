package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/errcode"
	"livechat/internal/store"
)

// Path is where LINE posts webhook events.
const Path = "/api/v1/line/webhook"

// MaxBodyBytes bounds a webhook body. LINE sends small JSON batches; a
// bigger body is not LINE.
const MaxBodyBytes = 1 << 20

// Kicker wakes the inbox worker (Worker).
type Kicker interface{ Kick() }

// Handler is POST /api/v1/line/webhook. It verifies the signature over the
// raw body before reading anything in it, validates each event (check),
// stores the events of 1:1 chats in the inbox and the invalid ones as
// rejected, in one transaction, wakes the worker and answers 200: also for
// rejected events, which LINE must not redeliver forever. Nothing is
// processed in the request: LINE wants a quick answer, and the inbox makes
// the events durable first (LINE's own redelivery is off by default).
type Handler struct {
	secret []byte
	inbox  Inbox
	kick   Kicker
	clock  clock.Clock
	log    *slog.Logger
}

// NewHandler returns the webhook handler. secret is the channel secret; if
// it is empty every call gets 503, since nothing could be verified. kick
// may be nil (nothing to wake).
func NewHandler(secret string, inbox Inbox, kick Kicker, c clock.Clock, log *slog.Logger) *Handler {
	log = log.With("component", "webhook")
	if secret == "" {
		log.Warn("LINE webhook disabled: LIVECHAT_LINE_CHANNEL_SECRET is empty, so every call gets 503")
	}
	return &Handler{secret: []byte(secret), inbox: inbox, kick: kick, clock: c, log: log}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context() // its lines carry the request id
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, errcode.InvalidRequest, "use POST")
		return
	}
	if len(h.secret) == 0 {
		h.log.DebugContext(ctx, "webhook refused: no channel secret")
		writeError(w, http.StatusServiceUnavailable, errcode.Unavailable, "the LINE channel secret is not configured")
		return
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		h.log.WarnContext(ctx, "webhook refused: no signature", "remote_addr", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, errcode.InvalidSignature, "missing or invalid "+SignatureHeader)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.log.WarnContext(ctx, "webhook refused: body too large", "remote_addr", r.RemoteAddr)
			writeError(w, http.StatusRequestEntityTooLarge, errcode.ValidationError, "request body must be at most 1024 KiB")
			return
		}
		writeError(w, http.StatusBadRequest, errcode.InvalidRequest, "could not read the request body")
		return
	}
	if !ValidSignature(h.secret, raw, sig) {
		// Neither the body nor the signature is logged.
		h.log.WarnContext(ctx, "webhook refused: bad signature", "remote_addr", r.RemoteAddr, "bytes", len(raw))
		writeError(w, http.StatusUnauthorized, errcode.InvalidSignature, "missing or invalid "+SignatureHeader)
		return
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		writeError(w, http.StatusBadRequest, errcode.ValidationError, "malformed JSON")
		return
	}
	now := h.clock.Now()
	events, rejected := h.sort(ctx, b.Events, now)
	added, err := h.save(ctx, events, rejected, now)
	if err != nil {
		// The database failed, not the events: not 200, so that LINE may
		// redeliver (if redelivery is on).
		h.log.ErrorContext(ctx, "webhook: store events", "events", len(events), "rejected", len(rejected), "err", err)
		writeError(w, http.StatusInternalServerError, errcode.InternalError, "Internal error")
		return
	}
	h.log.DebugContext(ctx, "webhook accepted", "events", len(b.Events), "stored", added, "rejected", len(rejected))
	if added > 0 && h.kick != nil {
		h.kick.Kick()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("{}"))
}

// sort validates each event of a call: those of 1:1 chats become inbox
// rows, group and room events are acknowledged and dropped, and invalid
// ones are rejected with the reason. Good events are kept whatever their
// neighbours are.
func (h *Handler) sort(ctx context.Context, raws []json.RawMessage, now time.Time) ([]store.InboxEvent, []store.RejectedEvent) {
	events := make([]store.InboxEvent, 0, len(raws))
	var rejected []store.RejectedEvent
	for _, raw := range raws {
		e, err := check(raw, now)
		id := e.WebhookEventID
		if id == "" && err == nil {
			// LINE always sends one; without it, identical bytes are the
			// same event, so a redelivery still dedups.
			sum := sha256.Sum256(raw)
			id = "sha256:" + hex.EncodeToString(sum[:])
		}
		var rej *rejection
		switch {
		case errors.As(err, &rej):
			rejected = append(rejected, store.RejectedEvent{WebhookEventID: id, EventType: e.Type, Reason: rej.reason, Body: string(raw)})
		case errors.Is(err, errIgnored):
			h.log.InfoContext(ctx, "webhook: ignored an event from a group or room", "source_type", e.Source.Type, "event_type", e.Type, "webhook_event_id", id)
		default:
			events = append(events, store.InboxEvent{
				WebhookEventID: id,
				EventType:      e.Type,
				SourceType:     e.Source.Type,
				LineUserID:     e.Source.UserID,
				Body:           raw,
				EventAt:        e.at(),
			})
		}
	}
	if len(rejected) > 0 {
		h.log.WarnContext(ctx, "webhook: rejected invalid events; see livechat inbox list --rejected",
			"rejected", len(rejected), "first_reason", rejected[0].Reason)
	}
	return events, rejected
}

// save records a call's events in one transaction. Should the database
// refuse one (check missed something), each event is stored on its own,
// and those refused become rejects: one bad event never costs the others.
func (h *Handler) save(ctx context.Context, events []store.InboxEvent, rejected []store.RejectedEvent, now time.Time) (int, error) {
	if len(events) == 0 && len(rejected) == 0 {
		return 0, nil
	}
	added, err := h.inbox.AddInboxEvents(ctx, events, rejected, now)
	if !errors.Is(err, chat.ErrInvalid) {
		return added, err
	}
	h.log.WarnContext(ctx, "webhook: the database refused the batch; storing its events one by one", "err", err)
	added = 0
	for _, e := range events {
		n, err := h.inbox.AddInboxEvents(ctx, []store.InboxEvent{e}, nil, now)
		if errors.Is(err, chat.ErrInvalid) {
			rejected = append(rejected, store.RejectedEvent{WebhookEventID: e.WebhookEventID, EventType: e.EventType,
				Reason: "the database refused the event: " + err.Error(), Body: string(e.Body)})
			continue
		}
		if err != nil {
			return added, err
		}
		added += n
	}
	if _, err := h.inbox.AddInboxEvents(ctx, nil, rejected, now); err != nil {
		return added, err
	}
	return added, nil
}

// writeError answers LINE through the API's one error writer.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	errcode.WriteHTTP(w, &errcode.Error{Code: code, Message: msg}, status)
}

package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

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
// raw body before reading anything in it, stores the events of 1:1 chats in
// the inbox in one transaction, wakes the worker and answers 200. Nothing is
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
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, errcode.InvalidRequest, "use POST")
		return
	}
	if len(h.secret) == 0 {
		h.log.Debug("webhook refused: no channel secret")
		writeError(w, http.StatusServiceUnavailable, errcode.Unavailable, "the LINE channel secret is not configured")
		return
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		h.log.Warn("webhook refused: no signature", "remote_addr", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, errcode.InvalidSignature, "missing or invalid "+SignatureHeader)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.log.Warn("webhook refused: body too large", "remote_addr", r.RemoteAddr)
			writeError(w, http.StatusRequestEntityTooLarge, errcode.ValidationError, "request body must be at most 1024 KiB")
			return
		}
		writeError(w, http.StatusBadRequest, errcode.InvalidRequest, "could not read the request body")
		return
	}
	if !ValidSignature(h.secret, raw, sig) {
		// Neither the body nor the signature is logged.
		h.log.Warn("webhook refused: bad signature", "remote_addr", r.RemoteAddr, "bytes", len(raw))
		writeError(w, http.StatusUnauthorized, errcode.InvalidSignature, "missing or invalid "+SignatureHeader)
		return
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		writeError(w, http.StatusBadRequest, errcode.ValidationError, "malformed JSON")
		return
	}
	now := h.clock.Now()
	events := h.accept(b.Events)
	if len(events) > 0 {
		added, err := h.inbox.AddInboxEvents(r.Context(), events, now)
		if err != nil {
			// Not 200: LINE may redeliver, if redelivery is on.
			h.log.Error("webhook: store events", "events", len(events), "err", err)
			writeError(w, http.StatusInternalServerError, errcode.InternalError, "Internal error")
			return
		}
		h.log.Debug("webhook accepted", "events", len(b.Events), "stored", added)
		if added > 0 && h.kick != nil {
			h.kick.Kick()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("{}"))
}

// accept turns the events worth keeping into inbox rows: those of 1:1 chats
// with a type. Group and room events are acknowledged and dropped here.
func (h *Handler) accept(raws []json.RawMessage) []store.InboxEvent {
	out := make([]store.InboxEvent, 0, len(raws))
	for _, raw := range raws {
		var e event
		if err := json.Unmarshal(raw, &e); err != nil || e.Type == "" {
			h.log.Warn("webhook: skipped an event that is not a LINE event object")
			continue
		}
		id := e.WebhookEventID
		if id == "" {
			// LINE always sends one; without it, identical bytes are the
			// same event, so a redelivery still dedups.
			sum := sha256.Sum256(raw)
			id = "sha256:" + hex.EncodeToString(sum[:])
		}
		if e.Source.Type != "user" {
			h.log.Info("webhook: ignored an event from a group or room", "source_type", e.Source.Type, "event_type", e.Type, "webhook_event_id", id)
			continue
		}
		at := e.at()
		if at.IsZero() {
			at = h.clock.Now()
		}
		out = append(out, store.InboxEvent{
			WebhookEventID: id,
			EventType:      e.Type,
			SourceType:     e.Source.Type,
			LineUserID:     e.Source.UserID,
			Body:           raw,
			EventAt:        at,
		})
	}
	return out
}

// writeError answers LINE through the API's one error writer.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	errcode.WriteHTTP(w, &errcode.Error{Code: code, Message: msg}, status)
}

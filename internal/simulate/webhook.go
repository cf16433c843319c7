package simulate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"livechat/internal/webhook"
)

// destination is the bot's user id in every webhook body (LINE sends the
// Official Account's own id; the server does not read it).
const destination = "U5e0000000000000000000000000000a7"

// Event is one LINE webhook event object.
type Event map[string]any

// Events builds webhook events as LINE does: every event has a fresh
// webhookEventId (a ULID) and reply token, the time in milliseconds, a 1:1
// user source, deliveryContext.isRedelivery false and mode active. Ids are
// unique across runs (the server deduplicates by webhookEventId), so the
// same seed can be replayed against the same server.
type Events struct {
	msgID atomic.Int64
}

// NewEvents returns a builder whose message ids start from now.
func NewEvents() *Events {
	e := &Events{}
	e.msgID.Store(time.Now().UnixNano()) // numeric like LINE's message ids
	return e
}

func (e *Events) base(typ, userID string, withReplyToken bool) Event {
	ev := Event{
		"type":            typ,
		"mode":            "active",
		"timestamp":       time.Now().UnixMilli(),
		"webhookEventId":  ulid(time.Now()),
		"source":          map[string]any{"type": "user", "userId": userID},
		"deliveryContext": map[string]any{"isRedelivery": false},
	}
	if withReplyToken {
		ev["replyToken"] = randomHex(16)
	}
	return ev
}

// Follow is the customer adding the Official Account as a friend.
func (e *Events) Follow(userID string) Event { return e.base("follow", userID, true) }

// Text is a text message from the customer.
func (e *Events) Text(userID, text string) Event {
	ev := e.base("message", userID, true)
	ev["message"] = map[string]any{
		"id":         strconv.FormatInt(e.msgID.Add(1), 10),
		"type":       "text",
		"text":       text,
		"quoteToken": randomHex(16),
	}
	return ev
}

// Postback is the customer tapping a postback button.
func (e *Events) Postback(userID, data string) Event {
	ev := e.base("postback", userID, true)
	ev["postback"] = map[string]any{"data": data}
	return ev
}

// ReplyToken is ev's reply token.
func (ev Event) ReplyToken() string { s, _ := ev["replyToken"].(string); return s }

// crockford is the ULID alphabet.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ulid is a ULID: 48 bits of milliseconds and 80 random bits, 26 characters.
func ulid(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	_, _ = rand.Read(b[6:])
	// 128 bits as 26 base-32 digits, most significant first (the first
	// digit carries the top 3 bits).
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 | uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	out := make([]byte, 26)
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Body is a webhook body carrying evs, and its X-Line-Signature.
func Body(secret string, evs ...Event) ([]byte, string) {
	if evs == nil {
		evs = []Event{}
	}
	b, _ := json.Marshal(map[string]any{"destination": destination, "events": evs})
	return b, webhook.Sign([]byte(secret), b)
}

// Webhook posts signed webhooks to a livechat server, as LINE does.
type Webhook struct {
	Base   string       // the server's base URL
	Secret string       // the LINE channel secret it checks signatures with
	HTTP   *http.Client // without a global timeout: each call has its own
}

// webhookTimeout bounds one webhook call; LINE gives up after about as long.
const webhookTimeout = 10 * time.Second

// statusError is a webhook answer other than 200.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("webhook answered %d %s: %.200s", e.status, http.StatusText(e.status), e.body)
}

// post sends one signed body and returns the status.
func (s Webhook) post(ctx context.Context, evs ...Event) error {
	body, sig := Body(s.Secret, evs...)
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Base+webhook.Path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, sig)
	req.Header.Set("User-Agent", "LineBotWebhook/2.0 (livechat simulate)")
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode, string(raw)}
	}
	return nil
}

// Send posts one event, retrying a network failure, a 5xx or a 429 a few
// times with the same body (the server deduplicates by webhookEventId).
func (s Webhook) Send(ctx context.Context, ev Event) error {
	var err error
	for attempt, delay := 1, 250*time.Millisecond; ; attempt, delay = attempt+1, delay*2 {
		err = s.post(ctx, ev)
		var se *statusError
		if err == nil || attempt == 4 || ctx.Err() != nil ||
			(errors.As(err, &se) && se.status < 500 && se.status != http.StatusTooManyRequests) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// Check makes LINE's verify call (an empty event list), which tells
// whether the server is there and shares our channel secret.
func (s Webhook) Check(ctx context.Context) error {
	err := s.post(ctx)
	var se *statusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.status == http.StatusUnauthorized:
		return fmt.Errorf("the server at %s rejected the webhook signature: the secret differs from its LIVECHAT_LINE_CHANNEL_SECRET", s.Base)
	case errors.As(err, &se) && se.status == http.StatusServiceUnavailable:
		return fmt.Errorf("the server at %s has no LINE channel secret (LIVECHAT_LINE_CHANNEL_SECRET) and refuses webhooks: %w", s.Base, err)
	case errors.As(err, &se) && se.status == http.StatusNotFound:
		return fmt.Errorf("no webhook at %s%s: is it a livechat server? %w", s.Base, webhook.Path, err)
	case errors.As(err, &se):
		return fmt.Errorf("the server at %s: %w", s.Base, err)
	}
	return fmt.Errorf("the livechat server at %s is unreachable: %w", s.Base, err)
}

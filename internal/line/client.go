// Package line talks to the LINE Messaging API: push, reply, profile,
// loading animation and message content. The base URLs are configurable so
// tests and the demo point it at the in-repo fake LINE server.
package line

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// Default API bases.
const (
	DefaultAPIBase     = "https://api.line.me"
	DefaultDataAPIBase = "https://api-data.line.me"
)

// Message is one LINE message object, e.g. {"type":"text","text":"hi"}.
type Message map[string]any

// Text builds a text message.
func Text(s string) Message { return Message{"type": "text", "text": s} }

// Profile is a LINE user's public profile.
type Profile struct {
	UserID        string `json:"userId"`
	DisplayName   string `json:"displayName"`
	PictureURL    string `json:"pictureUrl,omitempty"`
	StatusMessage string `json:"statusMessage,omitempty"`
}

// ErrNoToken is returned when no channel access token is configured.
var ErrNoToken = errors.New("line: no channel access token configured (LIVECHAT_LINE_CHANNEL_TOKEN)")

// APIError is a non-2xx answer from LINE.
type APIError struct {
	Status     int
	RetryAfter time.Duration // from Retry-After on 429, if any
	Message    string        // LINE's error message, if any
}

func (e *APIError) Error() string { return "line: " + http.StatusText(e.Status) + ": " + e.Message }

// Client is the LINE Messaging API client.
type Client struct {
	apiBase, dataBase, token string
	http                     *http.Client
}

// NewClient returns a client; an empty token makes every call fail with ErrNoToken.
func NewClient(apiBase, dataAPIBase, token string, hc *http.Client) *Client {
	return &Client{apiBase: apiBase, dataBase: dataAPIBase, token: token, http: hc}
}

// Push sends messages to a user (POST /v2/bot/message/push) with the
// X-Line-Retry-Key header, so a retried push is accepted at most once.
func (c *Client) Push(ctx context.Context, to string, msgs []Message, retryKey string) error {
	return errors.New("line: not implemented")
}

// Reply answers a webhook event with its reply token (POST /v2/bot/message/reply).
func (c *Client) Reply(ctx context.Context, replyToken string, msgs []Message) error {
	return errors.New("line: not implemented")
}

// Profile fetches a user's profile (GET /v2/bot/profile/{userId}).
func (c *Client) Profile(ctx context.Context, userID string) (Profile, error) {
	return Profile{}, errors.New("line: not implemented")
}

// StartLoading shows the loading animation in a user's chat for seconds
// (POST /v2/bot/chat/loading/start; 5..60, a multiple of 5).
func (c *Client) StartLoading(ctx context.Context, userID string, seconds int) error {
	return errors.New("line: not implemented")
}

// Content streams a message's content from the data API
// (GET {dataBase}/v2/bot/message/{messageId}/content). The caller closes it.
func (c *Client) Content(ctx context.Context, messageID string) (io.ReadCloser, string, error) {
	return nil, "", errors.New("line: not implemented")
}

// Package line talks to the LINE Messaging API: push, reply, profile,
// loading animation and message content (and its preview). The base URLs are configurable so
// tests and the demo point it at the in-repo fake LINE server.
package line

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	// RequestID is LINE's X-Line-Request-Id, for support tickets.
	RequestID string
}

func (e *APIError) Error() string {
	s := "line: " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Temporary reports whether the same request may succeed later: 5xx and
// 429. A 409 on a push means LINE already accepted that retry key.
func (e *APIError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// Limits on what the client reads back: LINE's error bodies and JSON
// answers are small; anything bigger is not LINE.
const (
	maxErrorBody = 64 << 10
	maxJSONBody  = 1 << 20
)

// DefaultResponseHeaderTimeout bounds the wait for LINE's answer when the
// caller passes no http.Client; callers add their own deadline via ctx.
const DefaultResponseHeaderTimeout = 30 * time.Second

// Client is the LINE Messaging API client. It is safe for concurrent use.
type Client struct {
	apiBase, dataBase, token string
	http                     *http.Client
}

// NewClient returns a client; an empty token makes every call fail with
// ErrNoToken, without a request. Empty bases mean LINE's own. A nil hc uses
// a client whose transport gives up on a silent server after
// DefaultResponseHeaderTimeout (no overall timeout, so Content can stream
// large files; bound API calls with ctx).
func NewClient(apiBase, dataAPIBase, token string, hc *http.Client) *Client {
	if apiBase == "" {
		apiBase = DefaultAPIBase
	}
	if dataAPIBase == "" {
		dataAPIBase = DefaultDataAPIBase
	}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
		hc = &http.Client{Transport: tr}
	}
	return &Client{
		apiBase:  strings.TrimRight(apiBase, "/"),
		dataBase: strings.TrimRight(dataAPIBase, "/"),
		token:    token,
		http:     hc,
	}
}

// Configured reports whether a channel access token is set.
func (c *Client) Configured() bool { return c.token != "" }

// Push sends messages to a user (POST /v2/bot/message/push) with the
// X-Line-Retry-Key header, so a retried push is accepted at most once.
// LINE answers a retry key it already accepted with 409, which callers
// should treat as success (see IsAccepted).
func (c *Client) Push(ctx context.Context, to string, msgs []Message, retryKey string) error {
	body := struct {
		To       string    `json:"to"`
		Messages []Message `json:"messages"`
	}{to, msgs}
	h := http.Header{}
	if retryKey != "" {
		h.Set("X-Line-Retry-Key", retryKey)
	}
	return c.do(ctx, http.MethodPost, c.apiBase+"/v2/bot/message/push", h, body, nil)
}

// IsAccepted reports whether err is LINE's 409 for a push whose retry key
// it has already accepted: the message went out on an earlier attempt.
func IsAccepted(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusConflict
}

// Reply answers a webhook event with its reply token (POST /v2/bot/message/reply).
func (c *Client) Reply(ctx context.Context, replyToken string, msgs []Message) error {
	body := struct {
		ReplyToken string    `json:"replyToken"`
		Messages   []Message `json:"messages"`
	}{replyToken, msgs}
	return c.do(ctx, http.MethodPost, c.apiBase+"/v2/bot/message/reply", nil, body, nil)
}

// Profile fetches a user's profile (GET /v2/bot/profile/{userId}).
func (c *Client) Profile(ctx context.Context, userID string) (Profile, error) {
	var p Profile
	err := c.do(ctx, http.MethodGet, c.apiBase+"/v2/bot/profile/"+url.PathEscape(userID), nil, nil, &p)
	return p, err
}

// Loading animation bounds (LINE: 5 to 60 seconds, a multiple of 5).
const (
	MinLoadingSeconds = 5
	MaxLoadingSeconds = 60
)

// StartLoading shows the loading animation in a user's chat for seconds
// (POST /v2/bot/chat/loading/start; 5..60, a multiple of 5).
func (c *Client) StartLoading(ctx context.Context, userID string, seconds int) error {
	if seconds < MinLoadingSeconds || seconds > MaxLoadingSeconds || seconds%5 != 0 {
		return fmt.Errorf("line: loading seconds %d: must be 5..60 and a multiple of 5", seconds)
	}
	body := struct {
		ChatID         string `json:"chatId"`
		LoadingSeconds int    `json:"loadingSeconds"`
	}{userID, seconds}
	return c.do(ctx, http.MethodPost, c.apiBase+"/v2/bot/chat/loading/start", nil, body, nil)
}

// Content streams a message's content from the data API
// (GET {dataBase}/v2/bot/message/{messageId}/content). The caller closes it.
// The string is the content type LINE gave.
func (c *Client) Content(ctx context.Context, messageID string) (io.ReadCloser, string, error) {
	return c.stream(ctx, "content", "/v2/bot/message/"+url.PathEscape(messageID)+"/content", messageID)
}

// Preview streams LINE's preview of an image or video message
// (GET {dataBase}/v2/bot/message/{messageId}/content/preview), as Content.
func (c *Client) Preview(ctx context.Context, messageID string) (io.ReadCloser, string, error) {
	return c.stream(ctx, "preview", "/v2/bot/message/"+url.PathEscape(messageID)+"/content/preview", messageID)
}

// stream GETs a body from the data API for the caller to read and close.
func (c *Client) stream(ctx context.Context, what, path, messageID string) (io.ReadCloser, string, error) {
	if c.token == "" {
		return nil, "", ErrNoToken
	}
	req, err := c.request(ctx, http.MethodGet, c.dataBase+path, nil, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("line: %s %s: %w", what, messageID, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, "", apiError(resp)
	}
	return resp.Body, resp.Header.Get("Content-Type"), nil
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, u string, h http.Header, in, out any) error {
	if c.token == "" {
		return ErrNoToken
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("line: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.request(ctx, method, u, h, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("line: %s %s: %w", method, endpoint(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return apiError(resp)
	}
	if out == nil {
		// Drain so the connection is reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJSONBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONBody)).Decode(out); err != nil {
		return fmt.Errorf("line: decode %s answer: %w", endpoint(u), err)
	}
	return nil
}

func (c *Client) request(ctx context.Context, method, u string, h http.Header, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("line: build request: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "livechat")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// endpoint is u without scheme and host, for error messages.
func endpoint(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Path
	}
	return u
}

// apiError reads LINE's {"message", "details"} error body.
func apiError(resp *http.Response) *APIError {
	e := &APIError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Line-Request-Id")}
	var body struct {
		Message string `json:"message"`
		Details []struct {
			Message  string `json:"message"`
			Property string `json:"property"`
		} `json:"details"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if json.Unmarshal(raw, &body) == nil && body.Message != "" {
		e.Message = body.Message
		for _, d := range body.Details {
			if d.Property != "" {
				e.Message += "; " + d.Property + ": " + d.Message
			} else {
				e.Message += "; " + d.Message
			}
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	}
	return e
}

// retryAfter parses Retry-After in seconds (LINE's form), or as an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// IsTimeout reports whether err is a deadline or network timeout: the
// request may or may not have reached LINE.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

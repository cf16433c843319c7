package line_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/line"
	"livechat/internal/line/linefake"
)

const (
	token    = "test-channel-token"
	user     = "U0123456789abcdef0123456789abcdef"
	retryKey = "123e4567-e89b-42d3-a456-426614174000"
)

// fake starts a fake LINE and a client pointed at it for both API bases.
func fake(t *testing.T) (*linefake.Server, *line.Client) {
	t.Helper()
	f := linefake.New(token)
	base := f.Start()
	t.Cleanup(f.Close)
	return f, line.NewClient(base, base, token, nil)
}

func TestPushSendsBodyTokenAndRetryKey(t *testing.T) {
	f, c := fake(t)
	if err := c.Push(t.Context(), user, []line.Message{line.Text("hello"), line.Text("สวัสดี")}, retryKey); err != nil {
		t.Fatalf("Push: %v", err)
	}
	rs := f.Requests(linefake.Push)
	if len(rs) != 1 {
		t.Fatalf("%d push requests, want 1", len(rs))
	}
	r := rs[0]
	if r.Status != http.StatusOK || !r.Delivered || r.RetryKey != retryKey || r.To != user || r.Path != "/v2/bot/message/push" {
		t.Fatalf("recorded %+v", r)
	}
	var body struct {
		To       string              `json:"to"`
		Messages []map[string]string `json:"messages"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.To != user || len(body.Messages) != 2 || body.Messages[1]["type"] != "text" || body.Messages[1]["text"] != "สวัสดี" {
		t.Fatalf("body = %s", r.Body)
	}
}

func TestHeadersOnTheWire(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()
	c := line.NewClient(srv.URL+"/", "", token, srv.Client())
	if err := c.Push(t.Context(), user, []line.Message{line.Text("x")}, retryKey); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Authorization":    "Bearer " + token,
		"X-Line-Retry-Key": retryKey,
		"Content-Type":     "application/json",
	} {
		if g := got.Get(k); g != want {
			t.Errorf("%s = %q, want %q", k, g, want)
		}
	}
	if err := c.Reply(t.Context(), "rt", []line.Message{line.Text("x")}); err != nil {
		t.Fatal(err)
	}
	if g := got.Get("X-Line-Retry-Key"); g != "" {
		t.Errorf("reply sent X-Line-Retry-Key %q", g)
	}
}

func TestRepeatedRetryKeyIsConflictAndNotDelivered(t *testing.T) {
	f, c := fake(t)
	msgs := []line.Message{line.Text("once")}
	if err := c.Push(t.Context(), user, msgs, retryKey); err != nil {
		t.Fatal(err)
	}
	err := c.Push(t.Context(), user, msgs, retryKey)
	var ae *line.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !line.IsAccepted(err) {
		t.Fatalf("second push: %v, want 409", err)
	}
	if n := len(f.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	// A different key is a different message.
	if err := c.Push(t.Context(), user, msgs, "223e4567-e89b-42d3-a456-426614174000"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Deliveries()); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
}

func TestLostAnswerThenRetryIsConflict(t *testing.T) {
	f, c := fake(t)
	f.FailNext(linefake.Push, linefake.Lost(linefake.Status(http.StatusInternalServerError)))
	msgs := []line.Message{line.Text("x")}
	err := c.Push(t.Context(), user, msgs, retryKey)
	var ae *line.APIError
	if !errors.As(err, &ae) || ae.Status != 500 || !ae.Temporary() {
		t.Fatalf("first push: %v, want 500", err)
	}
	if err := c.Push(t.Context(), user, msgs, retryKey); !line.IsAccepted(err) {
		t.Fatalf("retry: %v, want 409", err)
	}
	if n := len(f.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
}

func TestAPIErrors(t *testing.T) {
	f, c := fake(t)
	f.FailNext(linefake.Push,
		linefake.TooManyRequests(7*time.Second),
		linefake.Status(http.StatusServiceUnavailable),
		linefake.Fault{Status: http.StatusBadRequest, Message: "The property, 'to', in the request body is invalid"},
	)
	msgs := []line.Message{line.Text("x")}
	tests := []struct {
		status     int
		retryAfter time.Duration
		temporary  bool
		message    string
	}{
		{429, 7 * time.Second, true, "Too Many Requests"},
		{503, 0, true, "Service Unavailable"},
		{400, 0, false, "The property, 'to', in the request body is invalid"},
	}
	for _, tc := range tests {
		err := c.Push(t.Context(), user, msgs, retryKey)
		var ae *line.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("Push = %v, want *APIError %d", err, tc.status)
		}
		if ae.Status != tc.status || ae.RetryAfter != tc.retryAfter || ae.Temporary() != tc.temporary || ae.Message != tc.message {
			t.Errorf("APIError = %+v (temporary %v), want %+v", ae, ae.Temporary(), tc)
		}
	}
	// LINE's validation details are part of the message.
	err := c.Push(t.Context(), user, []line.Message{line.Text("")}, retryKey)
	var ae *line.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "messages[0].text") {
		t.Fatalf("empty text: %v", err)
	}
	if n := len(f.Deliveries()); n != 0 {
		t.Fatalf("%d deliveries, want 0", n)
	}
}

func TestRetryAfterForms(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"3", 3 * time.Second},
		{"", 0},
		{"-1", 0},
		{"soon", 0},
		{time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), time.Hour},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.header != "" {
				w.Header().Set("Retry-After", tc.header)
			}
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"message":"slow down"}`)
		}))
		err := line.NewClient(srv.URL, srv.URL, token, nil).Push(t.Context(), user, []line.Message{line.Text("x")}, "")
		srv.Close()
		var ae *line.APIError
		if !errors.As(err, &ae) || ae.Message != "slow down" {
			t.Fatalf("Retry-After %q: %v", tc.header, err)
		}
		if d := ae.RetryAfter - tc.want; d < -2*time.Second || d > 2*time.Second {
			t.Errorf("Retry-After %q: RetryAfter = %v, want %v", tc.header, ae.RetryAfter, tc.want)
		}
	}
}

func TestNoTokenMakesNoRequest(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	c := line.NewClient(srv.URL, srv.URL, "", nil)
	ctx := t.Context()
	if c.Configured() {
		t.Fatal("Configured() with no token")
	}
	errs := []error{
		c.Push(ctx, user, []line.Message{line.Text("x")}, retryKey),
		c.Reply(ctx, "rt", []line.Message{line.Text("x")}),
		c.StartLoading(ctx, user, 10),
	}
	_, err := c.Profile(ctx, user)
	errs = append(errs, err)
	_, _, err = c.Content(ctx, "1")
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, line.ErrNoToken) {
			t.Errorf("call %d: %v, want ErrNoToken", i, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d requests without a token", n)
	}
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	f := linefake.New(token)
	base := f.Start()
	defer f.Close()
	err := line.NewClient(base, base, "other", nil).Push(t.Context(), user, []line.Message{line.Text("x")}, retryKey)
	var ae *line.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("Push = %v, want 401", err)
	}
	if n := len(f.Deliveries()); n != 0 {
		t.Fatalf("%d deliveries", n)
	}
}

func TestReplyTokenIsSingleUse(t *testing.T) {
	f, c := fake(t)
	msgs := []line.Message{line.Text("thanks")}
	if err := c.Reply(t.Context(), "reply-1", msgs); err != nil {
		t.Fatal(err)
	}
	err := c.Reply(t.Context(), "reply-1", msgs)
	var ae *line.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Message != "Invalid reply token" {
		t.Fatalf("second reply: %v", err)
	}
	d := f.Deliveries()
	if len(d) != 1 || d[0].Endpoint != linefake.Reply || d[0].ReplyToken != "reply-1" {
		t.Fatalf("deliveries = %+v", d)
	}
}

func TestProfile(t *testing.T) {
	f, c := fake(t)
	want := line.Profile{UserID: user, DisplayName: "Somchai", PictureURL: "https://example.com/p.png"}
	f.SetProfile(want)
	got, err := c.Profile(t.Context(), user)
	if err != nil || got != want {
		t.Fatalf("Profile = %+v, %v; want %+v", got, err, want)
	}
	_, err = c.Profile(t.Context(), "Uffffffffffffffffffffffffffffffff")
	var ae *line.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("unknown profile: %v, want 404", err)
	}
}

func TestStartLoading(t *testing.T) {
	f, c := fake(t)
	if err := c.StartLoading(t.Context(), user, 20); err != nil {
		t.Fatal(err)
	}
	rs := f.Requests(linefake.Loading)
	if len(rs) != 1 || rs[0].To != user || rs[0].Status != http.StatusAccepted {
		t.Fatalf("loading requests = %+v", rs)
	}
	var body map[string]any
	_ = json.Unmarshal(rs[0].Body, &body)
	if body["chatId"] != user || body["loadingSeconds"] != float64(20) {
		t.Fatalf("body = %s", rs[0].Body)
	}
	for _, bad := range []int{0, 3, 61, 12} {
		if err := c.StartLoading(t.Context(), user, bad); err == nil {
			t.Errorf("StartLoading(%d) succeeded", bad)
		}
	}
	if n := len(f.Requests(linefake.Loading)); n != 1 {
		t.Fatalf("invalid seconds reached LINE: %d requests", n)
	}
}

func TestContent(t *testing.T) {
	f, c := fake(t)
	f.SetContent("m1", "image/jpeg", []byte("\xff\xd8jpeg"))
	rc, ct, err := c.Content(t.Context(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if ct != "image/jpeg" || string(b) != "\xff\xd8jpeg" {
		t.Fatalf("content = %q %q", ct, b)
	}
	_, _, err = c.Content(t.Context(), "missing")
	var ae *line.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("missing content: %v, want 404", err)
	}
}

func TestPreview(t *testing.T) {
	f, c := fake(t)
	f.SetContent("m1", "image/jpeg", []byte("full"))
	f.SetPreview("m1", "image/jpeg", []byte("small"))
	rc, ct, err := c.Preview(t.Context(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if ct != "image/jpeg" || string(b) != "small" {
		t.Fatalf("preview = %q %q", ct, b)
	}
	if rs := f.Requests(linefake.Preview); len(rs) != 1 || rs[0].Path != "/v2/bot/message/m1/content/preview" || rs[0].To != "m1" {
		t.Fatalf("preview requests %+v", rs)
	}
	_, _, err = c.Preview(t.Context(), "missing")
	var ae *line.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("missing preview: %v, want 404", err)
	}
	if _, _, err := line.NewClient("http://127.0.0.1:1", "http://127.0.0.1:1", "", nil).Preview(t.Context(), "m1"); !errors.Is(err, line.ErrNoToken) {
		t.Fatalf("preview without a token: %v, want ErrNoToken", err)
	}
}

func TestTimeoutComesFromContext(t *testing.T) {
	f, c := fake(t)
	f.FailNext(linefake.Push, linefake.Timeout())
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := c.Push(ctx, user, []line.Message{line.Text("x")}, retryKey)
	if !line.IsTimeout(err) {
		t.Fatalf("Push = %v, want a timeout", err)
	}
	rs, werr := f.WaitFor(linefake.Push, 1, 5*time.Second)
	if werr != nil || rs[0].Status != 0 || rs[0].Delivered {
		t.Fatalf("recorded %+v, %v", rs, werr)
	}
	// The fault is used up: the retry with the same key goes through.
	if err := c.Push(t.Context(), user, []line.Message{line.Text("x")}, retryKey); err != nil {
		t.Fatal(err)
	}
}

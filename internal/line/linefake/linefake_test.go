package linefake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"livechat/internal/line"
	"livechat/internal/line/linefake"
)

const (
	token = "tok"
	user  = "U0123456789abcdef0123456789abcdef"
	key   = "123e4567-e89b-42d3-a456-426614174000"
)

func start(t *testing.T, tok string) (*linefake.Server, string) {
	t.Helper()
	f := linefake.New(tok)
	base := f.Start()
	t.Cleanup(f.Close)
	return f, base
}

func do(t *testing.T, method, url, contentType string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestEmptyTokenAcceptsAnyBearer(t *testing.T) {
	f, base := start(t, "")
	if err := line.NewClient(base, base, "whatever", nil).Push(t.Context(), user, []line.Message{line.Text("x")}, ""); err != nil {
		t.Fatal(err)
	}
	resp := do(t, http.MethodPost, base+"/v2/bot/message/push", "application/json", []byte(`{"to":"`+user+`","messages":[{"type":"text","text":"x"}]}`))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no bearer token: %d, want 401", resp.StatusCode)
	}
	if n := len(f.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries", n)
	}
}

func TestInvalidRetryKeyIsRejected(t *testing.T) {
	f, base := start(t, token)
	err := line.NewClient(base, base, token, nil).Push(t.Context(), user, []line.Message{line.Text("x")}, "not-a-uuid")
	var ae *line.APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("Push = %v, want 400", err)
	}
	if n := len(f.Deliveries()); n != 0 {
		t.Fatalf("%d deliveries", n)
	}
}

func TestCloseReleasesHangingCalls(t *testing.T) {
	f := linefake.New(token)
	base := f.Start()
	f.FailNext(linefake.Push, linefake.Timeout())
	errc := make(chan error, 1)
	go func() {
		errc <- line.NewClient(base, base, token, nil).Push(context.Background(), user, []line.Message{line.Text("x")}, key)
	}()
	for {
		changed := f.Changed()
		if len(f.Requests(linefake.Push)) == 1 {
			break
		}
		<-changed
	}
	f.Close() // must not wait for the client, which has no deadline
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a hung push succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hung push was not released")
	}
}

func TestControlAPI(t *testing.T) {
	f, base := start(t, token)
	c := line.NewClient(base, base, token, nil)

	// Faults.
	resp := do(t, http.MethodPost, base+"/_fake/faults", "application/json", []byte(`{"endpoint":"push","count":2,"status":429,"retry_after_seconds":3}`))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("faults: %d", resp.StatusCode)
	}
	for range 2 {
		err := c.Push(t.Context(), user, []line.Message{line.Text("x")}, key)
		var ae *line.APIError
		if !errors.As(err, &ae) || ae.Status != 429 || ae.RetryAfter != 3*time.Second {
			t.Fatalf("Push = %v, want 429 after 3 s", err)
		}
	}
	for _, bad := range []string{`{"endpoint":"nope","status":500}`, `{"endpoint":"push","status":200}`, `{`} {
		if resp := do(t, http.MethodPost, base+"/_fake/faults", "application/json", []byte(bad)); resp.StatusCode != 400 {
			t.Errorf("fault %s: %d, want 400", bad, resp.StatusCode)
		}
	}

	// Profiles and content.
	do(t, http.MethodPut, base+"/_fake/profiles/"+user, "application/json", []byte(`{"displayName":"Somchai"}`))
	p, err := c.Profile(t.Context(), user)
	if err != nil || p.DisplayName != "Somchai" || p.UserID != user {
		t.Fatalf("Profile = %+v, %v", p, err)
	}
	do(t, http.MethodPut, base+"/_fake/content/m1", "image/png", []byte("png"))
	rc, ct, err := c.Content(t.Context(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if ct != "image/png" || string(b) != "png" {
		t.Fatalf("content %q %q", ct, b)
	}
	do(t, http.MethodPut, base+"/_fake/content/m1/preview", "image/png", []byte("small png"))
	rc, ct, err = c.Preview(t.Context(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(rc)
	rc.Close()
	if ct != "image/png" || string(b) != "small png" {
		t.Fatalf("preview %q %q", ct, b)
	}

	// The request log, long-polled from a sequence number.
	all := f.Requests()
	last := all[len(all)-1].Seq
	got := make(chan []linefake.Request, 1)
	go func() {
		resp, err := http.Get(base + "/_fake/requests?endpoint=push&wait=10s&after=" + itoa(last))
		if err != nil {
			got <- nil
			return
		}
		defer resp.Body.Close()
		var body struct{ Requests []linefake.Request }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		got <- body.Requests
	}()
	if err := c.Push(t.Context(), user, []line.Message{line.Text("late")}, key); err != nil {
		t.Fatal(err)
	}
	rs := <-got
	if len(rs) != 1 || rs[0].Seq != last+1 || !rs[0].Delivered || rs[0].RetryKey != key || rs[0].Messages[0]["text"] != "late" {
		t.Fatalf("long poll = %+v", rs)
	}
	// Without wait it answers at once, with an empty list.
	resp = do(t, http.MethodGet, base+"/_fake/requests?after=1000", "", nil)
	var empty struct{ Requests []linefake.Request }
	if err := json.NewDecoder(resp.Body).Decode(&empty); err != nil || empty.Requests == nil || len(empty.Requests) != 0 {
		t.Fatalf("empty list = %+v, %v", empty, err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestWaitForTimesOut(t *testing.T) {
	f, _ := start(t, token)
	if _, err := f.WaitFor(linefake.Push, 1, 50*time.Millisecond); err == nil {
		t.Fatal("WaitFor succeeded with no requests")
	}
}

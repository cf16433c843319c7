package rest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// logBuffer collects log lines from the server's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logTo sends the API's logs at info and above to b.
func logTo(b *logBuffer) func(*rest.Deps) {
	return func(d *rest.Deps) {
		d.Log = slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
}

// TestNULAndInvalidUTF8 sends what Postgres cannot store (NUL, and invalid
// UTF-8 through a percent-encoded query) in every kind of input: an
// identifier is refused with a 400 naming its field and nothing is stored;
// free text is stripped and the request succeeds. Never a 500, and never a
// username in the logs.
func TestNULAndInvalidUTF8(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		logs := &logBuffer{}
		e := newEnv(t, db, logTo(logs), withCanned(db), withHours(db))
		root := e.operator(t, "root", chat.RoleAdmin)
		tok := e.token(t, root)

		// Identifiers are refused.
		t.Run("login username", func(t *testing.T) {
			login(t, e, "ro\x00ot", password).expectError(t, 400, "validation_error", "username")
		})
		t.Run("operator username", func(t *testing.T) {
			e.call(t, "POST", lc+"operators", tok, map[string]any{
				"username": "b\x00b", "display_name": "Bob", "role": "agent", "password": "a long password",
			}).expectError(t, 400, "validation_error", "username")
		})
		t.Run("canned shortcut", func(t *testing.T) {
			e.call(t, "POST", lc+"canned-responses", tok, map[string]any{
				"shortcut": "h\x00i", "title": "Hi", "content": "Hello",
			}).expectError(t, 400, "validation_error", "shortcut")
		})
		t.Run("timezone", func(t *testing.T) {
			e.call(t, "PUT", lc+"business-hours", tok, map[string]any{
				"timezone": "Asia/Bangkok\x00", "days": week(nil),
			}).expectError(t, 400, "validation_error", "timezone")
		})
		t.Run("cursor", func(t *testing.T) {
			// A time before year 1: no cursor this server issued, and Postgres cannot read it.
			cursor := base64.RawURLEncoding.EncodeToString([]byte("-99999999999999999:1"))
			e.call(t, "GET", lc+"conversations?cursor="+cursor, tok, nil).expectError(t, 400, "validation_error", "cursor")
		})

		cust := e.active(t, root)
		msgs := lc + "conversations/" + cust.LineUserID + "/messages"
		t.Run("temp_id", func(t *testing.T) {
			before := list(t, e.call(t, "GET", msgs, tok, nil).expect(t, 200), "messages")
			e.call(t, "POST", msgs, tok, map[string]any{"text": "hi", "temp_id": "t\x001"}).expectError(t, 400, "validation_error", "temp_id")
			if after := list(t, e.call(t, "GET", msgs, tok, nil).expect(t, 200), "messages"); len(after) != len(before) {
				t.Fatalf("a refused send stored a message: %d messages, had %d", len(after), len(before))
			}
		})

		// Free text is stripped.
		t.Run("message text", func(t *testing.T) {
			if m := e.call(t, "POST", msgs, tok, map[string]any{"text": "he\x00llo there", "temp_id": "t2"}).expect(t, 201); m["content"] != "hello there" {
				t.Errorf("sent content %q, want %q", m["content"], "hello there")
			}
		})
		e.incoming(t, cust, "say hello, world")
		search := func(t *testing.T, hits, empty []string) {
			t.Helper()
			for _, q := range hits {
				items := list(t, e.call(t, "GET", lc+"messages/search?q="+q, tok, nil).expect(t, 200), "items")
				if len(items) != 1 || items[0]["content"] != "say hello, world" {
					t.Errorf("search q=%s: %v, want the one message", q, items)
				}
			}
			for _, q := range empty {
				e.call(t, "GET", lc+"messages/search?q="+q, tok, nil).expectError(t, 400, "validation_error", "q")
			}
		}
		t.Run("search q with NUL", func(t *testing.T) {
			search(t, []string{"o%00,+world", "%00o,+world%00"}, []string{"%00", "%00+%00"})
		})
		t.Run("search q with invalid UTF-8", func(t *testing.T) {
			search(t, []string{"o,%FF+world", "%C3o,+wor%80ld"}, []string{"%FF%FE", "%C3"})
		})
		t.Run("display name", func(t *testing.T) {
			bob := e.call(t, "POST", lc+"operators", tok, map[string]any{
				"username": "bob", "display_name": "Bo\x00b\n", "role": "agent", "password": "a long password",
			}).expect(t, 201)
			if bob["display_name"] != "Bob" {
				t.Errorf("display_name %q, want Bob", bob["display_name"])
			}
			if op, err := db.Operator(ctx, num(t, bob["id"])); err != nil || op.DisplayName != "Bob" {
				t.Errorf("stored operator %+v, %v", op, err)
			}
		})
		t.Run("transfer reason", func(t *testing.T) {
			to := e.operator(t, "carol", chat.RoleAgent)
			sess := e.call(t, "POST", lc+"conversations/"+cust.LineUserID+"/transfer", tok, map[string]any{
				"to_operator_id": to.ID, "reason": "VIP\x00 customer",
			}).expect(t, 200)
			if sess["transfer_reason"] != "VIP customer" {
				t.Errorf("transfer_reason %q, want %q", sess["transfer_reason"], "VIP customer")
			}
			if s, err := db.Session(ctx, num(t, sess["id"])); err != nil || s.TransferReason == nil || *s.TransferReason != "VIP customer" {
				t.Errorf("stored session %+v, %v", s, err)
			}
		})
		t.Run("canned texts", func(t *testing.T) {
			canned := e.call(t, "POST", lc+"canned-responses", tok, map[string]any{
				"shortcut": "greet", "title": "Gr\x00eeting", "content": "Hel\x00lo", "category": "gen\x00eral",
			}).expect(t, 201)
			if got := cannedRow(t, canned); !strings.HasSuffix(got, "/greet|Greeting|Hello|general|0") {
				t.Errorf("canned response %s", got)
			}
			found := list(t, e.call(t, "GET", lc+"canned-responses?category="+url.QueryEscape("gen\x00eral"), tok, nil).expect(t, 200), "items")
			if len(found) != 1 {
				t.Errorf("canned by category: %v", found)
			}
		})

		if l := logs.String(); strings.Contains(l, "level=ERROR") || strings.Contains(l, "root") || strings.Contains(l, `ro\x00ot`) {
			t.Errorf("logs have an error or a username:\n%s", l)
		}
	})
}

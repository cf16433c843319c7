package webhook_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestFollowCreatesOrRefreshesTheCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u, anon := storetest.LineUserID(), storetest.LineUserID()
		e.line.SetProfile(line.Profile{UserID: u, DisplayName: "Somchai", PictureURL: "https://example.com/s.png"})
		e.send(e.follow(u), e.follow(anon))
		e.drain()
		if c := e.customer(u); c.DisplayName != "Somchai" || c.PictureURL != "https://example.com/s.png" || c.FriendStatus != "ACTIVE" || c.ChatMode != chat.ModeBot {
			t.Fatalf("customer = %+v", c)
		}
		// The profile is best effort: LINE has none for anon (404).
		if c := e.customer(anon); c.DisplayName != "" {
			t.Fatalf("anon = %+v", c)
		}
		// A later follow (after unblocking) refreshes the profile.
		e.line.SetProfile(line.Profile{UserID: u, DisplayName: "Somchai J."})
		e.send(e.unfollow(u))
		e.drain()
		if c := e.customer(u); c.FriendStatus != "BLOCKED" {
			t.Fatalf("after unfollow: %+v", c)
		}
		e.send(e.follow(u))
		e.drain()
		if c := e.customer(u); c.DisplayName != "Somchai J." || c.FriendStatus != "ACTIVE" || c.PictureURL != "https://example.com/s.png" {
			t.Fatalf("after refollow: %+v", c)
		}
		if _, pending := e.inbox(); pending != 0 {
			t.Fatalf("%d events pending", pending)
		}
	})
}

func TestProfileFailureDoesNotBlockTheEvent(t *testing.T) {
	e := newEnv(t, sqlite(t))
	u := storetest.LineUserID()
	e.line.SetProfile(line.Profile{UserID: u, DisplayName: "Somchai"})
	e.line.FailNext(linefake.Profile, linefake.Status(500))
	e.send(e.text(u, "hi"))
	e.drain()
	if c := e.customer(u); c.DisplayName != "" {
		t.Fatalf("customer = %+v", c)
	}
	if ms := e.messages(u); len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
}

func TestMessageTypesAreSummarisedWithTheirLINEIDs(t *testing.T) {
	e := newEnv(t, sqlite(t))
	u := storetest.LineUserID()
	cases := []struct {
		msg     map[string]any
		content string
		payload map[string]any
	}{
		{map[string]any{"type": "text", "text": "  สวัสดีค่ะ\nhello  "}, "สวัสดีค่ะ\nhello", nil},
		{map[string]any{"type": "image", "contentProvider": map[string]any{"type": "line"}}, "[Image]", map[string]any{"content_provider": "line"}},
		{map[string]any{"type": "sticker", "packageId": "446", "stickerId": "1988", "stickerResourceType": "STATIC"}, "[Sticker 446/1988]",
			map[string]any{"package_id": "446", "sticker_id": "1988", "sticker_resource_type": "STATIC"}},
		{map[string]any{"type": "file", "fileName": "invoice.pdf", "fileSize": 2048}, "invoice.pdf", map[string]any{"file_name": "invoice.pdf", "file_size": float64(2048)}},
		{map[string]any{"type": "video", "duration": 60000, "contentProvider": map[string]any{"type": "external", "originalContentUrl": "https://example.com/v.mp4", "previewImageUrl": "https://example.com/v.jpg"}}, "[Video]",
			map[string]any{"duration_ms": float64(60000), "content_provider": "external", "original_content_url": "https://example.com/v.mp4"}},
		{map[string]any{"type": "audio", "duration": 3000, "contentProvider": map[string]any{"type": "line"}}, "[Audio]", map[string]any{"duration_ms": float64(3000)}},
		{map[string]any{"type": "location", "title": "Central World", "address": "Ratchadamri Rd, Bangkok", "latitude": 13.7466, "longitude": 100.5393}, "[Location] Central World / Ratchadamri Rd, Bangkok",
			map[string]any{"title": "Central World", "latitude": 13.7466, "longitude": 100.5393}},
		{map[string]any{"type": "location", "latitude": 13.5, "longitude": 100.25}, "[Location] 13.5,100.25", nil},
	}
	var events []map[string]any
	for _, c := range cases {
		events = append(events, e.msg(u, c.msg))
	}
	unsupported := e.msg(u, map[string]any{"type": "imagemap"})
	e.send(append(events, unsupported)...)
	e.drain()
	ms := e.messages(u)
	if len(ms) != len(cases) {
		t.Fatalf("%d messages, want %d", len(ms), len(cases))
	}
	for i, c := range cases {
		m := ms[i]
		if m.Content != c.content || m.MessageType != c.msg["type"] || m.Direction != chat.Incoming || m.SenderRole != chat.SenderUser {
			t.Errorf("%s: stored %q (%s %s %s), want %q", c.msg["type"], m.Content, m.MessageType, m.Direction, m.SenderRole, c.content)
		}
		var p map[string]any
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatalf("payload %s: %v", m.Payload, err)
		}
		if p["line_message_id"] != c.msg["id"] || p["webhook_event_id"] != events[i]["webhookEventId"] {
			t.Errorf("%s: payload ids %v", c.msg["type"], p)
		}
		for k, want := range c.payload {
			if p[k] != want {
				t.Errorf("%s: payload[%s] = %v, want %v", c.msg["type"], k, p[k], want)
			}
		}
	}
	if _, pending := e.inbox(); pending != 0 {
		t.Fatal("the unsupported message is still pending")
	}
	if _, _, announced := e.notes.counts(); announced != len(cases) {
		t.Fatalf("%d new_message announcements, want %d", announced, len(cases))
	}
}

func TestCustomerMessageCountsAsSessionActivity(t *testing.T) {
	e := newEnv(t, sqlite(t))
	u := storetest.LineUserID()
	e.send(e.text(u, "agent"))
	e.drain()
	sess, err := e.db.OpenSession(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	e.send(e.msg(u, map[string]any{"type": "sticker", "packageId": "1", "stickerId": "2"}))
	e.drain()
	after, _ := e.db.Session(context.Background(), sess.ID)
	// The keyword message belongs to the session it opened, and so does the sticker.
	if after.MessageCount != 2 || !after.LastActivityAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("session = %+v, want 2 messages, last activity %v", after, t0.Add(time.Minute))
	}
	for _, m := range e.messages(u) {
		if m.SessionID == nil || *m.SessionID != sess.ID {
			t.Fatalf("message %q not in session %d", m.Content, sess.ID)
		}
	}
}

func TestProcessingErrorIsRetriedNotDropped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := storetest.LineUserID()
		first, second := e.text(u, "first"), e.text(u, "second")
		e.chat.failNext(3)
		e.send(first, second)
		e.drain()
		ev, err := db.InboxEvent(context.Background(), first["webhookEventId"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if ev.ProcessedAt != nil || ev.Attempts != 1 || ev.LastError == "" || !ev.NextAttemptAt.Equal(t0.Add(time.Second)) {
			t.Fatalf("after a failure: %+v", ev)
		}
		// Nothing happens until the retry is due, and "second" waits behind "first".
		e.drain()
		if ms := e.messages(u); len(ms) != 0 {
			t.Fatalf("%d messages before the retry", len(ms))
		}
		// Backoff: 1s, then 2s, then 4s.
		e.clock.Advance(time.Second)
		e.drain()
		e.clock.Advance(2 * time.Second)
		e.drain()
		ev, _ = db.InboxEvent(context.Background(), first["webhookEventId"].(string))
		if ev.Attempts != 3 || !ev.NextAttemptAt.Equal(t0.Add(7*time.Second)) {
			t.Fatalf("after three failures: %+v", ev)
		}
		e.clock.Advance(4 * time.Second)
		e.drain()
		ms := e.messages(u)
		if len(ms) != 2 || ms[0].Content != "first" || ms[1].Content != "second" {
			t.Fatalf("messages = %+v, want first then second, once each", ms)
		}
		ev, _ = db.InboxEvent(context.Background(), first["webhookEventId"].(string))
		if ev.ProcessedAt == nil || ev.Attempts != 4 {
			t.Fatalf("after success: %+v", ev)
		}
		if _, pending := e.inbox(); pending != 0 {
			t.Fatalf("%d pending", pending)
		}
	})
}

func TestUnfollowClosesTheSessionWithUSER(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := storetest.LineUserID()
		e.send(e.follow(u), e.text(u, "human please"))
		e.drain()
		sess, err := db.OpenSession(context.Background(), u)
		if err != nil || sess.Status != chat.StatusWaiting {
			t.Fatalf("open session = %+v, %v", sess, err)
		}
		e.send(e.unfollow(u))
		e.drain()
		closed, err := db.Session(context.Background(), sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if closed.Status != chat.StatusClosed || closed.ClosedBy == nil || *closed.ClosedBy != chat.ClosedByUser || closed.ClosedByID != nil {
			t.Fatalf("session = %+v, want CLOSED by USER", closed)
		}
		if c := e.customer(u); c.ChatMode != chat.ModeBot || c.FriendStatus != "BLOCKED" {
			t.Fatalf("customer = %+v", c)
		}
		if _, nclosed, _ := e.notes.counts(); nclosed != 1 {
			t.Fatalf("%d session_closed, want 1", nclosed)
		}
		// Unfollow without a session, and by a stranger: nothing to do.
		stranger := storetest.LineUserID()
		e.send(e.unfollow(u), e.unfollow(stranger))
		e.drain()
		if _, pending := e.inbox(); pending != 0 {
			t.Fatalf("%d pending", pending)
		}
		if n := e.count("customers", "line_user_id = ?", stranger); n != 0 {
			t.Fatal("an unfollow created a customer")
		}
		if _, nclosed, _ := e.notes.counts(); nclosed != 1 {
			t.Fatalf("%d session_closed, want still 1", nclosed)
		}
	})
}

func TestNULCharactersAreDropped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := storetest.LineUserID()
		e.send(e.text(u, "a\x00b"), e.msg(u, map[string]any{"type": "file", "fileName": "x\x00.pdf", "fileSize": 1}))
		e.drain()
		ms := e.messages(u)
		if len(ms) != 2 || ms[0].Content != "ab" || ms[1].Content != "x.pdf" {
			t.Fatalf("messages = %+v", ms)
		}
		if _, pending := e.inbox(); pending != 0 {
			t.Fatalf("%d pending", pending)
		}
	})
}

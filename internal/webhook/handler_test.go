package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"livechat/internal/clock"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/webhook"
)

func TestSignature(t *testing.T) {
	body := []byte(`{"events":[]}`)
	sig := webhook.Sign([]byte(secret), body)
	if !webhook.ValidSignature([]byte(secret), body, sig) {
		t.Fatal("own signature refused")
	}
	for name, c := range map[string]struct {
		secret, body []byte
		sig          string
	}{
		"other body":      {[]byte(secret), []byte(`{"events":[] }`), sig},
		"other secret":    {[]byte("another-secret"), body, sig},
		"empty secret":    {nil, body, webhook.Sign(nil, body)},
		"empty signature": {[]byte(secret), body, ""},
		"not base64":      {[]byte(secret), body, "%%%"},
		"truncated":       {[]byte(secret), body, sig[:20]},
	} {
		if webhook.ValidSignature(c.secret, c.body, c.sig) {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBadSignatureIs401AndStoresNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := storetest.LineUserID()
		body, good := signed(e.follow(u), e.text(u, "agent please"))
		for name, sig := range map[string]string{
			"missing":      "",
			"garbage":      "bm9wZQ==",
			"other secret": webhook.Sign([]byte("not-the-channel-secret"), body),
			"other body":   webhook.Sign([]byte(secret), append(body, ' ')),
		} {
			status, resp := e.post(body, sig)
			if status != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401", name, status)
			}
			if errObj, _ := resp["error"].(map[string]any); errObj["code"] != "invalid_signature" {
				t.Errorf("%s: body %v", name, resp)
			}
		}
		e.drain()
		if total, _ := e.inbox(); total != 0 {
			t.Fatalf("%d events stored from unsigned calls", total)
		}
		if n := e.count("customers", "line_user_id = ?", u); n != 0 {
			t.Fatal("a customer was created from an unsigned call")
		}
		// The same body, signed, goes through.
		if status, _ := e.post(body, good); status != http.StatusOK {
			t.Fatalf("signed call: %d", status)
		}
		if total, _ := e.inbox(); total != 2 {
			t.Fatalf("%d events stored, want 2", total)
		}
	})
}

func TestNoSecretRefusesEverything(t *testing.T) {
	db := sqlite(t)
	h := webhook.NewHandler("", db, nil, clock.NewFake(t0), slog.New(slog.DiscardHandler))
	body := []byte(`{"events":[]}`)
	req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(nil, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
}

func TestBodyOver1MiBIs413(t *testing.T) {
	e := newEnv(t, sqlite(t))
	u := storetest.LineUserID()
	ev := e.text(u, strings.Repeat("x", webhook.MaxBodyBytes))
	body, sig := signed(ev)
	status, resp := e.post(body, sig)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d %v, want 413", status, resp)
	}
	if total, _ := e.inbox(); total != 0 {
		t.Fatal("an oversized call stored events")
	}
	// Just under the limit is fine.
	ev = e.text(u, "x")
	body, _ = signed(ev)
	pad := webhook.MaxBodyBytes - len(body) - 1
	ev["message"].(map[string]any)["text"] = strings.Repeat("x", pad)
	body, sig = signed(ev)
	if len(body) > webhook.MaxBodyBytes {
		t.Fatalf("test body is %d bytes", len(body))
	}
	if status, resp := e.post(body, sig); status != http.StatusOK {
		t.Fatalf("a %d-byte body: %d %v", len(body), status, resp)
	}
}

func TestMalformedJSONWithGoodSignatureIs400(t *testing.T) {
	e := newEnv(t, sqlite(t))
	for _, body := range []string{`{"events":[`, `not json`, `[1,2]`, `{"events":{}}`} {
		status, resp := e.post([]byte(body), webhook.Sign([]byte(secret), []byte(body)))
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d %v, want 400", body, status, resp)
		}
	}
	if total, _ := e.inbox(); total != 0 {
		t.Fatal("malformed calls stored events")
	}
}

func TestEmptyEventsIs200(t *testing.T) {
	e := newEnv(t, sqlite(t))
	for _, body := range []string{`{"destination":"Uffffffffffffffffffffffffffffffff","events":[]}`, `{}`} {
		status, _ := e.post([]byte(body), webhook.Sign([]byte(secret), []byte(body)))
		if status != http.StatusOK {
			t.Errorf("%s: status %d, want 200 (the console's verify call)", body, status)
		}
	}
	if total, _ := e.inbox(); total != 0 {
		t.Fatal("an empty call stored events")
	}
}

func TestOnlyPOST(t *testing.T) {
	h := webhook.NewHandler(secret, sqlite(t), nil, clock.NewFake(t0), slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, webhook.Path, nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Fatalf("GET: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestGroupAndRoomSourcesAreAcknowledgedAndIgnored(t *testing.T) {
	e := newEnv(t, sqlite(t))
	u := storetest.LineUserID()
	group := e.text(u, "agent")
	group["source"] = map[string]any{"type": "group", "groupId": "Cgroup", "userId": u}
	room := e.text(u, "agent")
	room["source"] = map[string]any{"type": "room", "roomId": "Rroom", "userId": u}
	join := e.base("join", u)
	join["source"] = map[string]any{"type": "group", "groupId": "Cgroup"}
	e.send(group, room, join)
	e.drain()
	if total, _ := e.inbox(); total != 0 {
		t.Fatalf("%d group/room events stored", total)
	}
	if n := e.count("customers", "1 = 1"); n != 0 {
		t.Fatal("a group message created a customer")
	}
	if n := len(e.line.Requests()); n != 0 {
		t.Fatalf("%d calls to LINE for group events", n)
	}
}

func TestRedeliveredEventStoresOneMessage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u := storetest.LineUserID()
		ev := e.text(u, "hello")
		e.send(ev)
		e.send(ev) // LINE retries before we processed
		e.drain()
		ev["deliveryContext"] = map[string]any{"isRedelivery": true}
		e.send(ev) // and again after
		// Also twice in one call.
		twice := e.text(u, "again")
		e.send(twice, twice)
		e.drain()
		if total, pending := e.inbox(); total != 2 || pending != 0 {
			t.Fatalf("inbox %d (%d pending), want 2 (0)", total, pending)
		}
		ms := e.messages(u)
		if len(ms) != 2 || ms[0].Content != "hello" || ms[1].Content != "again" {
			t.Fatalf("messages = %+v, want hello and again once each", ms)
		}
	})
}

func TestSameLINEMessageUnderAnotherEventIDIsStoredOnce(t *testing.T) {
	// The inbox dedups by webhookEventId; the message id backs it up, for
	// processing that runs again after the message was stored.
	e := newEnv(t, sqlite(t))
	u := storetest.LineUserID()
	ev := e.text(u, "hello")
	e.send(ev)
	e.drain()
	again := e.text(u, "hello")
	again["message"] = ev["message"]
	e.send(again)
	e.drain()
	if ms := e.messages(u); len(ms) != 1 {
		t.Fatalf("%d messages, want 1", len(ms))
	}
}

func TestEventWithoutWebhookEventIDDedupsByContent(t *testing.T) {
	e := newEnv(t, sqlite(t))
	u := storetest.LineUserID()
	ev := e.text(u, "hello")
	delete(ev, "webhookEventId")
	e.send(ev)
	e.send(ev)
	e.drain()
	if total, _ := e.inbox(); total != 1 {
		t.Fatalf("inbox %d, want 1", total)
	}
	if ms := e.messages(u); len(ms) != 1 {
		t.Fatalf("%d messages, want 1", len(ms))
	}
}

func TestStoreFailureIs500(t *testing.T) {
	db := sqlite(t)
	e := newEnv(t, db)
	body, sig := signed(e.text(storetest.LineUserID(), "hi"))
	req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
	req.Header.Set(webhook.SignatureHeader, sig)
	rec := httptest.NewRecorder()
	webhook.NewHandler(secret, failingInbox{db}, nil, e.clock, slog.New(slog.DiscardHandler)).ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
}

type failingInbox struct{ *store.DB }

func (failingInbox) AddInboxEvents(context.Context, []store.InboxEvent, []store.RejectedEvent, time.Time) (int, error) {
	return 0, errors.New("disk full")
}

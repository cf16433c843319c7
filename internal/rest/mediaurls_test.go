package rest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"livechat/asyncapi"
	"livechat/internal/api"
	"livechat/internal/auth"
	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/contract"
	"livechat/internal/contract/wstest"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/mediaurl"
	"livechat/internal/outbound"
	"livechat/internal/ratelimit"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/wire"
	"livechat/internal/ws"
)

// mediaServer is serve's wiring of the media URLs: one signer, one
// converter for the hub and the REST API, the content route streaming from
// a fake LINE; operators are wstest clients, which check every frame
// against the spec.
type mediaServer struct {
	db     *store.DB
	svc    *chat.Service
	clock  *clock.Fake
	tokens *auth.Tokens
	line   *linefake.Server
	srv    *httptest.Server
}

func newMediaServer(t *testing.T, db *store.DB) *mediaServer {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	m := &mediaServer{db: db, clock: clock.NewFake(t0)}
	secret := []byte("0123456789abcdef0123456789abcdef")
	m.tokens = auth.NewTokens(secret, m.clock)
	m.svc = chat.NewService(db, m.clock, outbound.NewRecorder(), log, time.UTC)
	validator, err := contract.New(asyncapi.YAML)
	if err != nil {
		t.Fatal(err)
	}
	signer := mediaurl.New(secret, 10*time.Minute, m.clock)
	conv := wire.New(signer)
	b := bus.NewMemory()
	hub := ws.NewHub(ws.Options{InstanceID: "test"}, ws.Deps{
		Store: db, Service: m.svc, Tokens: m.tokens, Bus: b, Validator: validator, Clock: m.clock, Log: log,
		Limit: ratelimit.New(100, 100, m.clock), Typing: ratelimit.New(100, 100, m.clock), Wire: conv,
	})
	m.svc.SetNotifier(hub)
	m.line = linefake.New(lineToken)
	base := m.line.Start()
	m.srv = httptest.NewServer(api.New(api.Deps{DB: db, Socket: hub, Log: log, REST: rest.New(rest.Deps{
		Store: db, Service: m.svc, Tokens: m.tokens, Sockets: hub, Clock: m.clock, Log: log,
		Media: line.NewClient(base, base, lineToken, nil), MediaURLs: signer, Wire: conv,
	})}))
	t.Cleanup(func() {
		m.srv.CloseClientConnections()
		m.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil {
			t.Errorf("hub close: %v", err)
		}
		b.Close()
		m.line.Close()
	})
	return m
}

func (m *mediaServer) token(t *testing.T, op chat.Operator) string {
	t.Helper()
	tok, _, err := m.tokens.Issue(op.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get fetches a URL the server gave (relative), with a bearer token if any.
func (m *mediaServer) get(t *testing.T, rel, token string) response {
	t.Helper()
	req, err := http.NewRequest("GET", m.srv.URL+rel, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := m.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// customerMedia stores a customer's media message as the webhook does,
// announcing it (new_message).
func (m *mediaServer) customerMedia(t *testing.T, c chat.Customer, typ, content string, p map[string]any) chat.Message {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.svc.CustomerMessage(context.Background(), chat.Message{LineUserID: c.LineUserID, MessageType: typ, Content: content, Payload: raw})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// mediaOf returns the payload of the message with id among msgs.
func mediaOf(t *testing.T, msgs []any, id int64) map[string]any {
	t.Helper()
	for _, v := range msgs {
		if msg := v.(map[string]any); num(t, msg["id"]) == id {
			p, _ := msg["payload"].(map[string]any)
			return p
		}
	}
	t.Fatalf("message %d not among %v", id, msgs)
	return nil
}

// withQuery is rel with one query parameter set to v.
func withQuery(t *testing.T, rel, k, v string) string {
	t.Helper()
	u, err := url.Parse(rel)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestSignedMediaURLs: a customer's media message carries url, preview_url
// and size on the socket (join_room, new_message) and in REST; the URLs
// stream the content without a bearer token until they expire; anything
// tampered with is refused.
func TestSignedMediaURLs(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newMediaServer(t, db)
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		tok := m.token(t, alice)
		cust := storetest.Customer(t, db)
		jpeg, thumb, pdf := randomBytes(t, 5000), randomBytes(t, 300), randomBytes(t, 70_000)
		m.line.SetContent("9001", "image/jpeg", jpeg)
		m.line.SetPreview("9001", "image/jpeg", thumb)
		m.line.SetContent("9002", "application/pdf", pdf)

		img := m.customerMedia(t, cust, "image", "[Image]", media("9001"))
		sock := wstest.Dial(t, wstest.URL(m.srv.URL), nil)
		sock.Send("auth", map[string]any{"token": tok})
		sock.Expect("auth_success")
		sock.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		var joined struct {
			Messages []any `json:"messages"`
		}
		sock.WaitFor("conversation_update").Decode(t, &joined)
		p := mediaOf(t, joined.Messages, img.ID)
		full, _ := p["url"].(string)
		preview, _ := p["preview_url"].(string)
		if !strings.HasPrefix(full, mediaurl.Path(img.ID)+"?") || !strings.HasPrefix(preview, mediaurl.Path(img.ID)+"?") ||
			p["line_message_id"] != "9001" || p["content_provider"] != "line" {
			t.Fatalf("join_room image payload %v: want relative signed url and preview_url, and the stored keys", p)
		}

		// new_message carries them too; a file has size = file_size.
		file := m.customerMedia(t, cust, "file", "report.pdf", media("9002", "file_name", "report.pdf", "file_size", len(pdf)))
		nm := sock.WaitFor("new_message").Map(t)
		fp, _ := nm["payload"].(map[string]any)
		fileURL, _ := fp["url"].(string)
		if num(t, nm["id"]) != file.ID || !strings.HasPrefix(fileURL, mediaurl.Path(file.ID)+"?") ||
			num(t, fp["size"]) != int64(len(pdf)) || num(t, fp["file_size"]) != int64(len(pdf)) {
			t.Fatalf("new_message file payload %v: want url and size = file_size", fp)
		}
		if _, ok := fp["preview_url"]; ok {
			t.Errorf("a file has a preview_url: %v", fp)
		}

		// REST history: the same keys.
		var hist struct {
			Messages []any `json:"messages"`
		}
		res := m.get(t, lc+"conversations/"+cust.LineUserID+"/messages", tok)
		res.expect(t, 200)
		if err := json.Unmarshal(res.Body, &hist); err != nil {
			t.Fatal(err)
		}
		if hp := mediaOf(t, hist.Messages, img.ID); hp["url"] == nil || hp["preview_url"] == nil {
			t.Fatalf("history image payload %v", hp)
		}
		if hp := mediaOf(t, hist.Messages, file.ID); hp["url"] == nil || num(t, hp["size"]) != int64(len(pdf)) {
			t.Fatalf("history file payload %v", hp)
		}

		// No bearer: the signed URLs stream the content, the preview and the file.
		m.get(t, full, "").expectMedia(t, jpeg, "image/jpeg", "inline")
		m.get(t, preview, "").expectMedia(t, thumb, "image/jpeg", "inline")
		m.get(t, fileURL, "").expectMedia(t, pdf, "application/pdf", "inline; filename=report.pdf")
		if rs := m.line.Requests(linefake.Preview); len(rs) != 1 || rs[0].To != "9001" {
			t.Fatalf("LINE preview requests %+v", rs)
		}

		// Tampered: another message, variant, expiry or signature.
		u, _ := url.Parse(full)
		q := u.Query()
		for name, rel := range map[string]string{
			"other message":       mediaurl.Path(file.ID) + "?" + u.RawQuery,
			"preview of full sig": withQuery(t, full, "preview", "1"),
			"full of preview sig": strings.Replace(preview, "preview=1&", "", 1),
			"later expiry":        withQuery(t, full, "exp", "9999999999"),
			"other signature":     withQuery(t, full, "sig", strings.Repeat("A", len(q.Get("sig")))),
			"empty signature":     withQuery(t, full, "sig", ""),
		} {
			if rel == preview || rel == full {
				t.Fatalf("%s: nothing was changed in %s", name, rel)
			}
			if e := m.get(t, rel, "").expectError(t, 403, "forbidden"); !strings.Contains(e["message"].(string), "not valid") {
				t.Errorf("%s: message %q", name, e["message"])
			}
		}
		// No signature and no bearer: the usual 401.
		m.get(t, mediaurl.Path(img.ID), "").expectError(t, 401, "auth_missing_token")
		// A bearer token decides alone, as before: valid works whatever the
		// signature, the preview variant included.
		m.get(t, withQuery(t, full, "sig", "x"), tok).expectMedia(t, jpeg, "image/jpeg", "inline")
		m.get(t, mediaurl.Path(img.ID)+"?preview=1", tok).expectMedia(t, thumb, "image/jpeg", "inline")
		m.get(t, mediaurl.Path(file.ID)+"?preview=1", tok).expectError(t, 404, "not_found")
		m.get(t, mediaurl.Path(img.ID)+"?preview=yes", tok).expectError(t, 400, "validation_error", "preview")

		// Expired: refused with a clear error; a fresh frame has a fresh URL.
		m.clock.Advance(20 * time.Minute)
		if e := m.get(t, full, "").expectError(t, 403, "forbidden"); !strings.Contains(e["message"].(string), "expired") {
			t.Errorf("expired: message %q", e["message"])
		}
		m.get(t, preview, "").expectError(t, 403, "forbidden")
		sock.Sync() // the inbox updates of the customer's messages are read
		sock.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
		var rejoined struct {
			Messages []any `json:"messages"`
		}
		sock.Expect("conversation_update").Decode(t, &rejoined)
		fresh, _ := mediaOf(t, rejoined.Messages, img.ID)["url"].(string)
		if fresh == full {
			t.Fatalf("the URL did not change after it expired: %s", fresh)
		}
		m.get(t, fresh, "").expectMedia(t, jpeg, "image/jpeg", "inline")
		sock.Sync() // every frame so far passed the strict validator
	})
}

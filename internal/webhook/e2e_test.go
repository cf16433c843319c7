package webhook_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	"livechat/internal/outbound"
	"livechat/internal/ratelimit"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/webhook"
	"livechat/internal/ws"
)

// server is the whole inbound path as serve wires it: the webhook beside
// the API router, the real hub as the notifier, the inbox worker and the
// survey sender running, LINE faked in-repo. Operators are wstest clients,
// which validate every frame against the spec.
type server struct {
	*env
	tokens *auth.Tokens
}

func newServer(t *testing.T, db *store.DB) *server {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	s := &server{env: &env{t: t, db: db, clock: clock.NewFake(t0)}}
	validator, err := contract.New(asyncapi.YAML)
	if err != nil {
		t.Fatal(err)
	}
	s.tokens = auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), s.clock)
	bkk, _ := time.LoadLocation("Asia/Bangkok")
	s.svc = chat.NewService(db, s.clock, outbound.NewRecorder(), log, bkk)
	b := bus.NewMemory()
	hub := ws.NewHub(ws.Options{InstanceID: "test"}, ws.Deps{
		Store: db, Service: s.svc, Tokens: s.tokens, Bus: b, Validator: validator, Clock: s.clock, Log: log,
		Limit:  ratelimit.New(10, 30, s.clock),
		Typing: ratelimit.New(5, 10, s.clock),
	})
	s.svc.SetNotifier(hub)

	s.line = linefake.New(token)
	base := s.line.Start()
	s.client = line.NewClient(base, base, token, nil)
	s.worker = webhook.NewWorker(webhook.Deps{Store: db, Chat: s.svc, Profiles: s.client, Replier: s.client, Clock: s.clock, Log: log}, webhook.Options{})
	surveys := webhook.NewSurveys(s.client, s.clock, log, webhook.DefaultCloseNotices)
	s.svc.AfterClose = surveys.AfterClose
	s.handler = webhook.NewHandler(secret, db, s.worker, s.clock, log)

	mux := http.NewServeMux()
	mux.Handle("POST "+webhook.Path, s.handler)
	mux.Handle("/", api.New(api.Deps{DB: db, Socket: hub, Log: log}))
	s.srv = httptest.NewServer(mux)

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{}, 2)
	go func() { s.worker.Run(ctx); stopped <- struct{}{} }()
	go func() { surveys.Run(ctx); stopped <- struct{}{} }()
	t.Cleanup(func() {
		// serve's order: HTTP, then the workers, then the sockets.
		s.srv.CloseClientConnections()
		s.srv.Close()
		cancel()
		<-stopped
		<-stopped
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil {
			t.Errorf("hub close: %v", err)
		}
		b.Close()
		s.line.Close()
	})
	return s
}

func (s *server) login(t *testing.T, op chat.Operator) *wstest.Client {
	t.Helper()
	tok, _, err := s.tokens.Issue(op.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := wstest.Dial(t, wstest.URL(s.srv.URL), nil)
	c.Send("auth", map[string]any{"token": tok})
	c.Expect("auth_success")
	c.WaitFor("presence_update")
	return c
}

// TestEndToEnd runs a customer through the webhook and an operator through
// the socket: follow, a message, the handoff, claim, a photo, the close,
// the survey and the rating.
func TestEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newServer(t, db)
		alice := s.login(t, storetest.Operator(t, db, "alice", chat.RoleAgent))
		u := storetest.LineUserID()
		s.line.SetProfile(line.Profile{UserID: u, DisplayName: "Somchai"})

		s.send(s.follow(u), s.text(u, "hello"))
		f := alice.WaitFor("conversation_update").Map(t)
		if f["line_user_id"] != u || f["display_name"] != "Somchai" {
			t.Fatalf("conversation_update = %v", f)
		}

		ask := s.text(u, "I want to talk to a human")
		s.send(ask)
		q := alice.WaitFor("session_queued").Map(t)
		if q["line_user_id"] != u || q["queue_position"] != float64(1) || q["display_name"] != "Somchai" {
			t.Fatalf("session_queued = %v", q)
		}
		// The session is queued first, so the message that asked for it
		// belongs to it; then it is stored and announced.
		for {
			last, _ := alice.WaitFor("conversation_update").Map(t)["last_message"].(map[string]any)
			if last["content"] == "I want to talk to a human" {
				break
			}
		}
		replies, err := s.line.WaitFor(linefake.Reply, 1, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if replies[0].ReplyToken != ask["replyToken"] || !replies[0].Delivered {
			t.Fatalf("handoff reply = %+v", replies[0])
		}

		alice.Send("join_room", map[string]any{"line_user_id": u})
		conv := alice.WaitFor("conversation_update").Map(t)
		if msgs, _ := conv["messages"].([]any); len(msgs) != 2 || conv["session"] == nil {
			t.Fatalf("conversation = %v, want 2 messages and the session", conv)
		}
		alice.Send("claim_session", nil)
		alice.WaitFor("session_claimed")

		s.send(s.msg(u, map[string]any{"type": "image", "contentProvider": map[string]any{"type": "line"}}))
		m := alice.WaitFor("new_message").Map(t)
		if m["content"] != "[Image]" || m["message_type"] != "image" || m["direction"] != "INCOMING" || m["session_id"] == nil {
			t.Fatalf("new_message = %v", m)
		}
		sessionID := int64(m["session_id"].(float64))

		alice.Send("close_session", nil)
		closed := alice.WaitFor("session_closed").Map(t)
		if closed["closed_by"] != "OPERATOR" {
			t.Fatalf("session_closed = %v", closed)
		}
		pushes, err := s.line.WaitFor(linefake.Push, 1, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if pushes[0].To != u || pushes[0].Messages[0]["type"] != "flex" {
			t.Fatalf("survey push = %+v", pushes[0])
		}

		rate := s.postback(u, "csat|"+strconv.FormatInt(sessionID, 10)+"|4")
		s.send(rate, rate) // a redelivery too
		replies, err = s.line.WaitFor(linefake.Reply, 2, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if replies[1].ReplyToken != rate["replyToken"] || replies[1].Messages[0]["text"] != webhook.DefaultReplies.CSATThanks[3] {
			t.Fatalf("thank-you = %+v", replies[1])
		}
		r, err := db.CSAT(context.Background(), sessionID)
		if err != nil || r.Score != 4 {
			t.Fatalf("csat = %+v, %v", r, err)
		}
		// The operator learns the score over the socket, once.
		cr := alice.WaitFor("csat_received").Map(t)
		if cr["session_id"] != float64(sessionID) || cr["score"] != float64(4) || cr["line_user_id"] != u {
			t.Fatalf("csat_received = %v", cr)
		}
		for _, f := range alice.Sync() {
			if f.Type == "csat_received" {
				t.Fatal("a second csat_received for a redelivered rating")
			}
		}
	})
}

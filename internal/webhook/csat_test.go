package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/webhook"
)

// rated makes a customer whose session an operator claimed and closed.
func (e *env) closedSession(t *testing.T) (string, chat.Session) {
	t.Helper()
	u := storetest.LineUserID()
	e.send(e.text(u, "agent"))
	e.drain()
	op := storetest.Operator(t, e.db, "op-"+u[1:9], chat.RoleAgent)
	ctx := context.Background()
	if _, err := e.svc.Claim(ctx, op, u); err != nil {
		t.Fatal(err)
	}
	closed, err := e.svc.Close(ctx, op, u)
	if err != nil {
		t.Fatal(err)
	}
	return u, closed
}

func csatData(sessionID int64, score int) string { return line.CSATData(sessionID, score) }

func TestCSATPostbackRecordedOnceAndThanked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		u, sess := e.closedSession(t)
		first := e.postback(u, csatData(sess.ID, 5))
		second := e.postback(u, csatData(sess.ID, 1)) // a double tap, another button
		e.send(first)
		e.send(second)
		e.drain()
		if n := e.count("csat_responses", "session_id = ?", sess.ID); n != 1 {
			t.Fatalf("%d csat rows, want 1", n)
		}
		r, err := db.CSAT(context.Background(), sess.ID)
		if err != nil || r.Score != 5 || r.LineUserID != u {
			t.Fatalf("csat = %+v, %v", r, err)
		}
		if n := e.count("chat_sessions", "id = ? AND csat_score = 5", sess.ID); n != 1 {
			t.Fatal("chat_sessions.csat_score not set")
		}
		replies := e.replies()
		if got := replies[first["replyToken"].(string)]; len(got) != 1 || got[0] != webhook.DefaultReplies.CSATThanks[4] {
			t.Fatalf("thank-you = %q", got)
		}
		if got := replies[second["replyToken"].(string)]; len(got) != 0 {
			t.Fatalf("the second postback was answered: %q", got)
		}
		if _, pending := e.inbox(); pending != 0 {
			t.Fatalf("%d pending", pending)
		}
	})
}

func TestCSATPostbackForSomeoneElsesSessionIsRejected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		_, sess := e.closedSession(t)
		intruder := storetest.LineUserID()
		e.send(e.follow(intruder), e.postback(intruder, csatData(sess.ID, 1)))
		e.drain()
		if n := e.count("csat_responses", "1 = 1"); n != 0 {
			t.Fatalf("%d csat rows, want 0", n)
		}
		if r := e.replies(); len(r) != 1 { // the owner's handoff reply only
			t.Fatalf("replies = %v", r)
		}
		if _, pending := e.inbox(); pending != 0 {
			t.Fatal("a rejected postback is pending (it would be retried forever)")
		}
	})
}

func TestCSATPostbackRefusals(t *testing.T) {
	e := newEnv(t, sqlite(t))
	u, sess := e.closedSession(t)
	open := storetest.LineUserID()
	e.send(e.text(open, "agent"))
	e.drain()
	openSess, _ := e.db.OpenSession(context.Background(), open)
	e.send(
		e.postback(u, fmt.Sprintf("csat|%d|9", sess.ID)),
		e.postback(u, fmt.Sprintf("csat|%d|0", sess.ID)),
		e.postback(u, "csat|abc|5"),
		e.postback(u, "csat|"),
		e.postback(u, csatData(sess.ID+1000, 5)),
		e.postback(u, "action=buy&item=1"),
		e.postback(open, csatData(openSess.ID, 5)),
	)
	e.drain()
	if n := e.count("csat_responses", "1 = 1"); n != 0 {
		t.Fatalf("%d csat rows, want 0", n)
	}
	if _, pending := e.inbox(); pending != 0 {
		t.Fatalf("%d pending", pending)
	}
	// The valid one still counts afterwards.
	e.send(e.postback(u, csatData(sess.ID, 3)))
	e.drain()
	if r, err := e.db.CSAT(context.Background(), sess.ID); err != nil || r.Score != 3 {
		t.Fatalf("csat = %+v, %v", r, err)
	}
}

func TestSurveyPushedOnOperatorCloseOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		surveys := webhook.NewSurveys(e.client, e.clock, slog.New(slog.DiscardHandler), webhook.DefaultCloseNotices)
		e.svc.AfterClose = surveys.AfterClose
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); surveys.Run(ctx) }()
		defer func() { cancel(); <-done }()

		u, sess := e.closedSession(t)
		pushes, err := e.line.WaitFor(linefake.Push, 1, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		p := pushes[0]
		if p.To != u || len(p.Messages) != 1 || p.Messages[0]["type"] != "flex" || !p.Delivered || len(p.RetryKey) != 36 {
			t.Fatalf("push = %+v", p)
		}
		raw, _ := json.Marshal(p.Messages[0])
		for score := 1; score <= 5; score++ {
			if !strings.Contains(string(raw), csatData(sess.ID, score)) {
				t.Fatalf("survey lacks the button for %d: %s", score, raw)
			}
		}

		// A customer leaving is not an operator close: no survey. The next
		// operator close shows the queue went past it.
		v := storetest.LineUserID()
		e.send(e.text(v, "agent"))
		e.drain()
		e.send(e.unfollow(v))
		e.drain()
		w, _ := e.closedSession(t)
		pushes, err = e.line.WaitFor(linefake.Push, 2, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if pushes[1].To != w || pushes[0].RetryKey == pushes[1].RetryKey {
			t.Fatalf("pushes = %+v, want the second to %s with its own key", pushes, w)
		}
	})
}

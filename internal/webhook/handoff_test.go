package webhook_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/hours"
	"livechat/internal/line/linefake"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/webhook"
)

func TestHandoffQueuesAndRepliesWithThePosition(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ahead := storetest.Customer(t, db)
		if _, _, _, _, err := e.svc.RequestHuman(context.Background(), ahead.LineUserID); err != nil {
			t.Fatal(err)
		}
		u := storetest.LineUserID()
		chatty := e.text(u, "hello")
		ask := e.text(u, "Can I talk to an AGENT please?") // any case
		e.send(chatty, ask)
		e.drain()
		sess, err := db.OpenSession(context.Background(), u)
		if err != nil || sess.Status != chat.StatusWaiting {
			t.Fatalf("session = %+v, %v", sess, err)
		}
		if c := e.customer(u); c.ChatMode != chat.ModeHuman {
			t.Fatalf("chat mode %s, want HUMAN", c.ChatMode)
		}
		replies := e.replies()
		if len(replies) != 1 || len(replies[ask["replyToken"].(string)]) != 1 {
			t.Fatalf("replies = %v, want one to the keyword message", replies)
		}
		if got := replies[ask["replyToken"].(string)][0]; !strings.Contains(got, "number 2 in the queue") || !strings.Contains(got, "คิวที่ 2") {
			t.Fatalf("reply = %q, want queue position 2", got)
		}
		if queued, _, _ := e.notes.counts(); queued != 2 {
			t.Fatalf("%d session_queued, want 2 (ahead and u)", queued)
		}

		// In HUMAN mode a keyword goes to the operators only.
		e.send(e.text(u, "agent? anyone?"), e.text(u, "ติดต่อเจ้าหน้าที่"))
		e.drain()
		if n := len(e.replies()); n != 1 {
			t.Fatalf("%d replies, want still 1", n)
		}
		if queued, _, _ := e.notes.counts(); queued != 2 {
			t.Fatalf("%d session_queued, want still 2", queued)
		}
		if n := e.count("chat_sessions", "line_user_id = ?", u); n != 1 {
			t.Fatalf("%d sessions, want 1", n)
		}
		if n := len(e.messages(u)); n != 4 {
			t.Fatalf("%d messages, want 4", n)
		}
	})
}

func TestThaiKeywordAndNonKeywordText(t *testing.T) {
	e := newEnv(t, sqlite(t))
	plain, thai := storetest.LineUserID(), storetest.LineUserID()
	e.send(e.text(plain, "what are your opening hours?"), e.msg(plain, map[string]any{"type": "sticker", "packageId": "1", "stickerId": "2"}))
	e.send(e.text(thai, "ขอคุยกับเจ้าหน้าที่หน่อยค่ะ"))
	e.drain()
	if n := e.count("chat_sessions", "line_user_id = ?", plain); n != 0 {
		t.Fatal("a text without keyword started a session")
	}
	if s, err := e.db.OpenSession(context.Background(), thai); err != nil || s.Status != chat.StatusWaiting {
		t.Fatalf("thai keyword: %+v, %v", s, err)
	}
}

func TestConfiguredKeywords(t *testing.T) {
	e := newEnv(t, sqlite(t), withOptions(webhook.Options{Keywords: webhook.ParseKeywords(" Support ;HELP ME\n,")}))
	a, b := storetest.LineUserID(), storetest.LineUserID()
	e.send(e.text(a, "agent"), e.text(b, "please help me"))
	e.drain()
	if n := e.count("chat_sessions", "line_user_id = ?", a); n != 0 {
		t.Fatal("a default keyword still works after configuring others")
	}
	if n := e.count("chat_sessions", "line_user_id = ?", b); n != 1 {
		t.Fatal("a configured keyword did not start the handoff")
	}
}

func TestParseKeywords(t *testing.T) {
	got := webhook.ParseKeywords(webhook.DefaultKeywords + ", AGENT ;;\n  ")
	want := []string{"agent", "human", "operator", "ติดต่อเจ้าหน้าที่", "คุยกับเจ้าหน้าที่"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("ParseKeywords = %q, want %q", got, want)
	}
}

// The handoff makes one WAITING session even when ten webhook calls race,
// and two workers (two instances) process them at once.
func TestHandoffUnderTenConcurrentWebhookCalls(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		other := newEnv(t, db) // a second instance on the same database
		u := storetest.LineUserID()
		var wg sync.WaitGroup
		for i := range 10 {
			ev := e.text(u, "human please")
			wg.Go(func() {
				target := e
				if i%2 == 1 {
					target = other
				}
				body, sig := signed(ev)
				if status, _ := target.post(body, sig); status != 200 {
					t.Errorf("call %d: %d", i, status)
				}
			})
		}
		wg.Wait()
		wg.Go(e.drain)
		wg.Go(other.drain)
		wg.Wait()
		e.drain()
		if n := e.count("chat_sessions", "line_user_id = ? AND status = 'WAITING'", u); n != 1 {
			t.Fatalf("%d WAITING sessions, want 1", n)
		}
		if n := e.count("chat_sessions", "line_user_id = ?", u); n != 1 {
			t.Fatalf("%d sessions, want 1", n)
		}
		if n := len(e.messages(u)); n != 10 {
			t.Fatalf("%d messages, want 10", n)
		}
		q1, _, _ := e.notes.counts()
		q2, _, _ := other.notes.counts()
		if q1+q2 != 1 {
			t.Fatalf("%d session_queued, want 1", q1+q2)
		}
		if n := len(e.replies()) + len(other.replies()); n != 1 {
			t.Fatalf("%d handoff replies, want 1", n)
		}
		if _, pending := e.inbox(); pending != 0 {
			t.Fatalf("%d pending", pending)
		}
	})
}

func TestHandoffOutsideBusinessHours(t *testing.T) {
	// Saturday 2026-11-28 10:00 in Bangkok; next opening Monday 08:00.
	saturday := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	t.Run("queued", func(t *testing.T) {
		e := newEnv(t, sqlite(t))
		e.clock.Advance(saturday.Sub(t0))
		u := storetest.LineUserID()
		ask := e.text(u, "agent")
		e.send(ask)
		e.drain()
		got := e.replies()[ask["replyToken"].(string)]
		if len(got) != 1 || !strings.Contains(got[0], "Mon 30 Nov 08:00") || !strings.Contains(got[0], "วันจันทร์ที่ 30 พ.ย. เวลา 08:00 น.") {
			t.Fatalf("reply = %q, want the next opening", got)
		}
		if s, err := e.db.OpenSession(context.Background(), u); err != nil || s.Status != chat.StatusWaiting {
			t.Fatalf("session = %+v, %v; want queued anyway", s, err)
		}
	})
	t.Run("not queued", func(t *testing.T) {
		e := newEnv(t, sqlite(t), withOptions(webhook.Options{OutOfHoursNoQueue: true}))
		e.clock.Advance(saturday.Sub(t0))
		u := storetest.LineUserID()
		ask := e.text(u, "agent")
		e.send(ask)
		e.drain()
		if got := e.replies()[ask["replyToken"].(string)]; len(got) != 1 || !strings.Contains(got[0], "Mon 30 Nov 08:00") {
			t.Fatalf("reply = %q", got)
		}
		if n := e.count("chat_sessions", "line_user_id = ?", u); n != 0 {
			t.Fatal("queued although configured not to")
		}
		if c := e.customer(u); c.ChatMode != chat.ModeBot {
			t.Fatalf("chat mode %s, want BOT", c.ChatMode)
		}
		if n := len(e.messages(u)); n != 1 {
			t.Fatalf("%d messages, want 1", n)
		}
	})
	t.Run("hours from the store", func(t *testing.T) {
		e := newEnv(t, sqlite(t))
		closed, _ := hours.Parse("closed", nil)
		if err := e.db.SetBusinessHours(context.Background(), closed, t0); err != nil {
			t.Fatal(err)
		}
		u := storetest.LineUserID()
		ask := e.text(u, "agent") // Wednesday 10:00, but never open now
		e.send(ask)
		e.drain()
		if got := e.replies()[ask["replyToken"].(string)]; len(got) != 1 || !strings.Contains(got[0], "We open again soon") {
			t.Fatalf("reply = %q", got)
		}
	})
}

func TestNoReplyWithAStaleOrDummyToken(t *testing.T) {
	e := newEnv(t, sqlite(t))
	stale, dummy, none := storetest.LineUserID(), storetest.LineUserID(), storetest.LineUserID()
	old := e.text(stale, "agent")
	old["timestamp"] = t0.Add(-2 * time.Minute).UnixMilli()
	verify := e.text(dummy, "agent")
	verify["replyToken"] = "00000000000000000000000000000000"
	missing := e.text(none, "agent")
	delete(missing, "replyToken")
	e.send(old, verify, missing)
	e.drain()
	if r := e.line.Requests(linefake.Reply); len(r) != 0 {
		t.Fatalf("reply calls = %+v, want none", r)
	}
	for _, u := range []string{stale, dummy, none} {
		if n := e.count("chat_sessions", "line_user_id = ? AND status = 'WAITING'", u); n != 1 {
			t.Fatalf("%s not queued", u)
		}
	}
}

func TestReplyFailureDoesNotFailTheEvent(t *testing.T) {
	e := newEnv(t, sqlite(t))
	u := storetest.LineUserID()
	e.line.FailNext(linefake.Reply, linefake.Status(500))
	ask := e.text(u, "agent")
	e.send(ask)
	e.drain()
	ev, err := e.db.InboxEvent(context.Background(), ask["webhookEventId"].(string))
	if err != nil || ev.ProcessedAt == nil || ev.Attempts != 1 {
		t.Fatalf("event = %+v, %v; want processed on the first attempt", ev, err)
	}
	if n := len(e.line.Requests(linefake.Reply)); n != 1 {
		t.Fatalf("%d reply calls, want 1 (a reply token is not retried)", n)
	}
	if n := e.count("chat_sessions", "line_user_id = ? AND status = 'WAITING'", u); n != 1 {
		t.Fatal("not queued")
	}
}

// {eta_minutes}: Little's law over the last hour's claims (they waited 10
// minutes with about as many waiting as now); "?" before any claim.
func TestHandoffReplyEstimatesTheWait(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withOptions(webhook.Options{Replies: webhook.Replies{Queued: "{position} of {total}, about {eta_minutes} min"}}))
		ctx := context.Background()
		ask := func() string {
			t.Helper()
			u := storetest.LineUserID()
			m := e.text(u, "agent")
			e.send(m)
			e.drain()
			return e.replies()[m["replyToken"].(string)][0]
		}
		if got := ask(); got != "1 of 1, about ? min" {
			t.Fatalf("before any claim: %q", got)
		}
		first := storetest.Customer(t, db)
		if _, _, _, _, err := e.svc.RequestHuman(ctx, first.LineUserID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(10 * time.Minute)
		if _, err := e.svc.Claim(ctx, storetest.Operator(t, db, "alice", chat.RoleAgent), first.LineUserID); err != nil {
			t.Fatal(err)
		}
		if got := ask(); got != "2 of 2, about 10 min" {
			t.Fatalf("after a 10-minute wait: %q", got)
		}
	})
}

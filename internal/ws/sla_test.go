package ws_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/contract/wstest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

var sla = chat.SLA{QueueWait: 5 * time.Minute, FirstResponse: 2 * time.Minute, Resolution: 30 * time.Minute, WarningAt: 0.8}

// checkBoth runs both instances' SLA checks at once and returns what they raised.
func checkBoth(t *testing.T, one, two *env) (raised []chat.SLAAlert) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, e := range []*env{one, two} {
		wg.Go(func() {
			got, err := e.svc.CheckSLA(context.Background(), sla)
			if err != nil {
				t.Errorf("check: %v", err)
			}
			mu.Lock()
			raised = append(raised, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return raised
}

// slaAlerts is the sla_alert frames c has queued, as "metric/severity".
func slaAlerts(t *testing.T, c *wstest.Client) []string {
	t.Helper()
	var out []string
	for _, f := range c.Sync() {
		if f.Type == "sla_alert" {
			p := f.Map(t)
			out = append(out, p["metric"].(string)+"/"+p["severity"].(string))
		}
	}
	return out
}

func alertsOf(raised []chat.SLAAlert) []string {
	var out []string
	for _, a := range raised {
		out = append(out, a.Metric+"/"+a.Severity)
	}
	return out
}

// SLA alerts are proactive and raised once: two instances check at once
// on one database and clock; a session left waiting gets the queue-wait
// warning at 80 % and the breach at 100 %, each once, to every operator on
// both instances; after the claim the first response is due, and answered
// in time it never breaches; a restarted instance raises nothing again.
func TestSLAAlertsOnceAcrossInstances(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := clock.NewFake(t0)
		b := bus.NewMemory()
		on := func(id string) *env {
			return newEnvDeps(t, db, db, b, clk, nil, func(o *ws.Options) { o.InstanceID = id })
		}
		one, two := on("one"), on("two")
		uid := one.waiting(t).LineUserID
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		a := one.login(t, alice)
		bob := two.login(t, storetest.Operator(t, db, "bob", chat.RoleAgent))
		want := func(what string, got []chat.SLAAlert, alerts ...string) {
			t.Helper()
			if g := alertsOf(got); len(g) != len(alerts) || (len(alerts) > 0 && g[0] != alerts[0]) {
				t.Fatalf("%s: raised %v, want %v", what, g, alerts)
			}
			for name, c := range map[string]*wstest.Client{"alice": a, "bob": bob} {
				for _, w := range alerts {
					f := c.WaitFor("sla_alert").Map(t)
					if f["metric"].(string)+"/"+f["severity"].(string) != w || f["line_user_id"] != uid {
						t.Fatalf("%s: %s got %v, want %s", what, name, f, w)
					}
				}
				if extra := slaAlerts(t, c); len(extra) != 0 {
					t.Fatalf("%s: %s got %v more", what, name, extra)
				}
			}
		}

		clk.Advance(3 * time.Minute)
		want("3 minutes waiting", checkBoth(t, one, two))
		clk.Advance(time.Minute + time.Second) // 4:01, past 80 % of 5 minutes
		want("4 minutes waiting", checkBoth(t, one, two), "queue_wait_seconds/warning")
		want("checked again", checkBoth(t, one, two))
		clk.Advance(time.Minute) // 5:01
		raised := checkBoth(t, one, two)
		want("5 minutes waiting", raised, "queue_wait_seconds/critical")
		if v := raised[0].Value; v != 5*time.Minute+time.Second {
			t.Fatalf("the breach's value %v, want 5m1s", v)
		}

		a.Send("join_room", map[string]any{"line_user_id": uid})
		a.WaitFor("conversation_update")
		a.Send("claim_session", nil)
		a.WaitFor("session_claimed")
		bob.WaitFor("session_claimed")
		clk.Advance(97 * time.Second) // 80 % of 2 minutes is 96 s
		want("97 s unanswered", checkBoth(t, one, two), "first_response_seconds/warning")
		a.Send("send_message", map[string]any{"text": "hello", "temp_id": "t-1"})
		a.WaitFor("message_sent")
		clk.Advance(time.Minute)
		want("answered in time", checkBoth(t, one, two))

		// A new instance on the same database: what was raised stays raised.
		three := on("three")
		if got, err := three.svc.CheckSLA(context.Background(), sla); err != nil || len(got) != 0 {
			t.Fatalf("a restarted instance raised %v, %v", alertsOf(got), err)
		}
		if n, err := db.SLABreaches(context.Background(), t0); err != nil || n != 1 {
			t.Fatalf("breaches since the start: %d, %v; want 1", n, err)
		}
	})
}

package rest_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// The audit log through REST: a login, failed logins (one counted row per
// source and minute), a rejected token, a claim, a send (without its
// text), and an operator change,
// each with the actor and the source; admins read it, newest first, others
// get 403. No row holds a password or a token.
func TestAuditThroughREST(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(d *rest.Deps) { d.Audit = db })
		e.svc.SetAuditor(db)
		admin := e.operator(t, "admin", chat.RoleAdmin)
		agent := e.operator(t, "agent", chat.RoleAgent)
		login(t, e, "admin", password).expect(t, 200)
		for range 2 {
			login(t, e, "admin", "wrong password").expect(t, 401)
		}
		if r := e.call(t, "GET", "/api/v1/admin/live-chat/operators", "not-a-token", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("bad token: %d", r.Status)
		}
		c := e.waiting(t)
		if r := e.call(t, "POST", "/api/v1/admin/live-chat/conversations/"+c.LineUserID+"/claim", e.token(t, agent), nil); r.Status != http.StatusOK {
			t.Fatalf("claim: %d %s", r.Status, r.Body)
		}
		// A send is audited with its message, once: not its retry, not a refused one.
		e.clock.Advance(time.Second) // after the claim, in the log's time order
		var sent struct {
			ID int64 `json:"id"`
		}
		for range 2 {
			r := e.sendKeyed(t, agent, c, "k1", map[string]string{"text": "the secret body"})
			if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &sent) != nil || sent.ID == 0 {
				t.Fatalf("send: %d %s", r.Status, r.Body)
			}
		}
		other := e.operator(t, "other", chat.RoleAgent)
		if r := e.sendKeyed(t, other, c, "", map[string]string{"text": "not mine"}); r.Status/100 == 2 {
			t.Fatalf("another agent's send: %d %s", r.Status, r.Body)
		}
		e.clock.Advance(time.Second)
		tok := e.token(t, admin)
		if r := e.call(t, "POST", "/api/v1/admin/live-chat/operators/"+idStr(agent.ID)+"/disable", tok, nil); r.Status/100 != 2 {
			t.Fatalf("disable: %d %s", r.Status, r.Body)
		}
		if r := e.call(t, "POST", "/api/v1/admin/live-chat/operators/999/disable", tok, nil); r.Status != http.StatusNotFound {
			t.Fatalf("disable unknown: %d", r.Status) // refused: not audited
		}

		if r := e.call(t, "GET", "/api/v1/admin/audit", e.token(t, e.operator(t, "sup", chat.RoleSupervisor)), nil); r.Status != http.StatusForbidden {
			t.Fatalf("a supervisor reads the audit log: %d", r.Status)
		}
		r := e.call(t, "GET", "/api/v1/admin/audit", tok, nil)
		var page struct {
			Items []chat.AuditEntry `json:"items"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &page) != nil {
			t.Fatalf("audit: %d %s", r.Status, r.Body)
		}
		var got []string
		for _, it := range page.Items {
			got = append(got, it.Action)
		}
		want := []string{chat.AuditOperatorDisable, chat.AuditSend, chat.AuditClaim, chat.AuditTokenRejected, chat.AuditLoginFailed, chat.AuditLogin}
		if len(got) != len(want) {
			t.Fatalf("actions %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("actions %v, want %v", got, want)
			}
		}
		disable, send, claim, failed := page.Items[0], page.Items[1], page.Items[2], page.Items[4]
		if send.Actor != "agent" || send.ActorID == nil || *send.ActorID != agent.ID || send.ResourceType != "message" || send.ResourceID != idStr(sent.ID) ||
			send.Details["line_user_id"] != c.LineUserID || send.Details["session_id"] == nil || send.IP == "" {
			t.Fatalf("send row: %+v", send)
		}
		if disable.ActorID == nil || *disable.ActorID != admin.ID || disable.ResourceID != idStr(agent.ID) || disable.IP == "" {
			t.Fatalf("disable row: %+v", disable)
		}
		if claim.Actor != "agent" || claim.ResourceType != "session" || claim.Details["line_user_id"] != c.LineUserID || claim.IP == "" {
			t.Fatalf("claim row: %+v", claim)
		}
		if failed.Count != 2 || failed.ActorID != nil {
			t.Fatalf("failed logins: %+v, want one row counting 2", failed)
		}
		if contains(r.Body, password) || contains(r.Body, "wrong password") || contains(r.Body, "not-a-token") || contains(r.Body, "secret body") {
			t.Fatalf("the audit log holds a secret: %s", r.Body)
		}
		if r := e.call(t, "GET", "/api/v1/admin/audit?action=auth.login&limit=0", tok, nil); r.Status != http.StatusBadRequest {
			t.Fatalf("limit 0: %d", r.Status)
		}
		// Pages of 2 follow next_cursor through both sources, the sends and the rest.
		var paged []string
		cursor := ""
		for range 10 {
			r := e.call(t, "GET", "/api/v1/admin/audit?limit=2"+cursor, tok, nil)
			var p struct {
				Items []chat.AuditEntry `json:"items"`
				Next  string            `json:"next_cursor"`
			}
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &p) != nil {
				t.Fatalf("page: %d %s", r.Status, r.Body)
			}
			for _, it := range p.Items {
				paged = append(paged, it.Action)
			}
			if p.Next == "" {
				break
			}
			cursor = "&cursor=" + p.Next
		}
		if strings.Join(paged, " ") != strings.Join(got, " ") {
			t.Fatalf("paged: %v, want %v", paged, got)
		}
		for _, bad := range []string{"abc", "1", "1.2", "-1.2.3", "1.x.3", "+1.2.3", "1.2.3.4"} {
			if r := e.call(t, "GET", "/api/v1/admin/audit?cursor="+bad, tok, nil); r.Status != http.StatusBadRequest || !contains(r.Body, "cursor") {
				t.Fatalf("cursor %q: %d %s, want 400 naming cursor", bad, r.Status, r.Body)
			}
		}
	})
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

func idStr(id int64) string { return strconv.FormatInt(id, 10) }

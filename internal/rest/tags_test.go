package rest_test

import (
	"net/http"
	"strings"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// Tags: admins create and delete them (names unique whatever their case,
// colors #rrggbb), every operator lists them and sets a conversation's; the
// inbox rows and the conversation carry them, ?tag= filters the inbox, and
// a deleted tag leaves every conversation. Each change is audited.
func TestTags(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(d *rest.Deps) { d.Tags = db; d.Audit = db })
		e.svc.SetAuditor(db)
		admin := e.token(t, e.operator(t, "admin", chat.RoleAdmin))
		agent := e.token(t, e.operator(t, "agent", chat.RoleAgent))
		tags := lc + "tags"

		vip := e.call(t, "POST", tags, admin, map[string]any{"name": "  VIP ", "color": "#E53935"}).expect(t, http.StatusCreated)
		if vip["name"] != "VIP" || vip["color"] != "#e53935" {
			t.Fatalf("created %v", vip)
		}
		billing := e.call(t, "POST", tags, admin, map[string]any{"name": "billing"}).expect(t, http.StatusCreated)
		e.call(t, "POST", tags, admin, map[string]any{"name": "vip"}).expectError(t, http.StatusConflict, "conflict", "name")
		e.call(t, "POST", tags, admin, map[string]any{"name": ""}).expectError(t, http.StatusBadRequest, "validation_error", "name")
		e.call(t, "POST", tags, admin, map[string]any{}).expectError(t, http.StatusBadRequest, "validation_error", "name")
		e.call(t, "POST", tags, admin, map[string]any{"name": strings.Repeat("x", 51)}).expectError(t, http.StatusBadRequest, "validation_error", "name")
		e.call(t, "POST", tags, admin, map[string]any{"name": "red", "color": "red"}).expectError(t, http.StatusBadRequest, "validation_error", "color")
		e.call(t, "POST", tags, agent, map[string]any{"name": "mine"}).expectError(t, http.StatusForbidden, "forbidden")
		if got := list(t, e.call(t, "GET", tags, agent, nil).expect(t, http.StatusOK), "items"); len(got) != 2 || got[0]["name"] != "billing" || got[1]["name"] != "VIP" {
			t.Fatalf("tags by name: %v", got)
		}

		a, b := storetest.Customer(t, db), storetest.Customer(t, db)
		set := func(c chat.Customer, ids ...any) response {
			return e.call(t, "PUT", lc+"conversations/"+c.LineUserID+"/tags", agent, map[string]any{"tag_ids": ids})
		}
		got := set(a, vip["id"], billing["id"], vip["id"]).expect(t, http.StatusOK)
		if ts := list(t, got, "tags"); len(ts) != 2 || ts[0]["name"] != "billing" || ts[1]["name"] != "VIP" {
			t.Fatalf("a's tags: %v", got)
		}
		set(b, billing["id"]).expect(t, http.StatusOK)
		set(a, 999999).expectError(t, http.StatusBadRequest, "validation_error", "tag_ids")
		set(a, 0).expectError(t, http.StatusBadRequest, "validation_error", "tag_ids")
		e.call(t, "PUT", lc+"conversations/"+a.LineUserID+"/tags", agent, map[string]any{}).expectError(t, http.StatusBadRequest, "validation_error", "tag_ids")
		set(chat.Customer{LineUserID: "U" + strings.Repeat("0", 32)}, billing["id"]).expectError(t, http.StatusNotFound, "not_found")

		inbox := func(q string) map[string][]string {
			t.Helper()
			out := map[string][]string{}
			for _, c := range list(t, e.call(t, "GET", lc+"conversations"+q, agent, nil).expect(t, http.StatusOK), "conversations") {
				names := []string{}
				for _, tg := range c["tags"].([]any) {
					names = append(names, tg.(map[string]any)["name"].(string))
				}
				out[c["line_user_id"].(string)] = names
			}
			return out
		}
		all := inbox("")
		if strings.Join(all[a.LineUserID], ",") != "billing,VIP" || strings.Join(all[b.LineUserID], ",") != "billing" {
			t.Fatalf("inbox tags: %v", all)
		}
		if vips := inbox("?tag=vip"); len(vips) != 1 || vips[a.LineUserID] == nil {
			t.Fatalf("inbox ?tag=vip: %v", vips)
		}
		e.call(t, "GET", lc+"conversations?tag="+strings.Repeat("x", 51), agent, nil).expectError(t, http.StatusBadRequest, "validation_error", "tag")
		if d := e.call(t, "GET", lc+"conversations/"+a.LineUserID, agent, nil).expect(t, http.StatusOK); len(list(t, d, "tags")) != 2 {
			t.Fatalf("a's conversation: %v", d)
		}

		e.call(t, "DELETE", tags+"/"+idStr(int64(billing["id"].(float64))), agent, nil).expectError(t, http.StatusForbidden, "forbidden")
		e.call(t, "DELETE", tags+"/"+idStr(int64(billing["id"].(float64))), admin, nil).expect(t, http.StatusNoContent)
		e.call(t, "DELETE", tags+"/"+idStr(int64(billing["id"].(float64))), admin, nil).expectError(t, http.StatusNotFound, "not_found")
		if all := inbox(""); strings.Join(all[a.LineUserID], ",") != "VIP" || len(all[b.LineUserID]) != 0 {
			t.Fatalf("after the delete: %v", all)
		}

		for action, want := range map[string]int{chat.AuditTagCreate: 2, chat.AuditTagDelete: 1, chat.AuditConversationTags: 2} {
			rows, err := db.AuditLog(t.Context(), chat.AuditQuery{Action: action})
			if err != nil || len(rows) != want {
				t.Fatalf("audit %s: %d rows, %v; want %d", action, len(rows), err, want)
			}
		}
	})
}

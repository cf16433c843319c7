package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// Admins export a customer's data and erase it; the erasure waits for the
// open session to close; others get 403, a bad id 400, an unknown 404.
func TestCustomerExportAndErase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(d *rest.Deps) { d.Privacy = db })
		admin := e.operator(t, "admin", chat.RoleAdmin)
		agent := e.operator(t, "agent", chat.RoleAgent)
		c := e.active(t, agent)
		tok := e.token(t, admin)
		path := "/api/v1/admin/customers/" + c.LineUserID

		if r := e.call(t, "GET", path+"/export", e.token(t, agent), nil); r.Status != http.StatusForbidden {
			t.Fatalf("agent export: %d %s", r.Status, r.Body)
		}
		if r := e.call(t, "GET", "/api/v1/admin/customers/Unot-an-id/export", tok, nil); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"field":"line_user_id"`) {
			t.Fatalf("bad id: %d %s", r.Status, r.Body)
		}
		r := e.call(t, "GET", path+"/export", tok, nil)
		var x chat.CustomerExport
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &x) != nil || len(x.Messages) != 1 || len(x.Sessions) != 1 ||
			x.Messages[0]["content"] != "I need a human" || !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("export: %d %s", r.Status, r.Body)
		}
		if r := e.call(t, "DELETE", path, tok, nil); r.Status != http.StatusConflict {
			t.Fatalf("erase with the session open: %d %s, want 409", r.Status, r.Body)
		}
		if _, err := e.svc.Close(context.Background(), agent, c.LineUserID); err != nil {
			t.Fatal(err)
		}
		if r := e.call(t, "DELETE", path, e.token(t, agent), nil); r.Status != http.StatusForbidden {
			t.Fatalf("agent erase: %d", r.Status)
		}
		r = e.call(t, "DELETE", path, tok, nil)
		var res struct {
			Erased map[string]int64 `json:"erased"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &res) != nil || res.Erased["messages"] != 1 || res.Erased["customers"] != 1 {
			t.Fatalf("erase: %d %s", r.Status, r.Body)
		}
		if r := e.call(t, "GET", path+"/export", tok, nil); r.Status != http.StatusNotFound {
			t.Fatalf("export after erasure: %d %s, want 404", r.Status, r.Body)
		}
	})
}

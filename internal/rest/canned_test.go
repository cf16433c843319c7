package rest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

var _ rest.CannedStore = (*store.DB)(nil)

const cannedPath = lc + "canned-responses"

// withCanned wires the store's canned responses into the API.
func withCanned(db *store.DB) func(*rest.Deps) {
	return func(d *rest.Deps) { d.Canned = db }
}

// cannedRow renders a canned response as "id shortcut|title|content|category|usage".
func cannedRow(t testing.TB, m map[string]any) string {
	t.Helper()
	return fmt.Sprintf("%d %v|%v|%v|%v|%d", num(t, m["id"]), m["shortcut"], m["title"], m["content"], m["category"], num(t, m["usage_count"]))
}

// cannedList lists (optionally with a query) and checks total against the items.
func (e *env) cannedList(t testing.TB, token, query string) []string {
	t.Helper()
	m := e.call(t, "GET", cannedPath+query, token, nil).expect(t, 200)
	items := list(t, m, "items")
	if num(t, m["total"]) != int64(len(items)) {
		t.Errorf("total %v with %d items", m["total"], len(items))
	}
	out := []string{}
	for _, it := range items {
		out = append(out, cannedRow(t, it))
	}
	return out
}

func TestCannedAgentReadsOnly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withCanned(db))
		admin := e.token(t, e.operator(t, "root", chat.RoleAdmin))
		c := e.call(t, "POST", cannedPath, admin, map[string]string{"shortcut": "/greeting", "title": "Greeting", "content": "Hello!"}).expect(t, 201)
		id := fmt.Sprint(num(t, c["id"]))

		for uses, role := range []chat.Role{chat.RoleAgent, chat.RoleSupervisor} {
			tok := e.token(t, e.operator(t, string(role), role))
			if got, want := e.cannedList(t, tok, ""), []string{fmt.Sprintf("%s /greeting|Greeting|Hello!||%d", id, uses)}; !equal(got, want) {
				t.Errorf("%s lists %q, want %q", role, got, want)
			}
			for _, r := range []struct {
				method, path string
				body         any
			}{
				{"POST", "", map[string]string{"shortcut": "/mine", "title": "Mine", "content": "Mine"}},
				{"PUT", "/" + id, map[string]string{"title": "Hijacked"}},
				{"DELETE", "/" + id, nil},
			} {
				m := e.call(t, r.method, cannedPath+r.path, tok, r.body).expectError(t, 403, "forbidden")
				if m["message"] != "Only an admin can manage canned responses" {
					t.Errorf("403 message %q", m["message"])
				}
			}
			// Using one is what the picker does: any operator may.
			e.call(t, "POST", cannedPath+"/"+id+"/use", tok, nil).expect(t, 200)
		}
		if got, want := e.cannedList(t, admin, ""), []string{id + " /greeting|Greeting|Hello!||2"}; !equal(got, want) {
			t.Errorf("after refused changes: %q, want %q", got, want)
		}

		// No token, no access.
		e.call(t, "GET", cannedPath, "", nil).expectError(t, 401, "auth_missing_token")
		e.call(t, "POST", cannedPath+"/"+id+"/use", "", nil).expectError(t, 401, "auth_missing_token")
	})
}

func TestCannedCRUD(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withCanned(db))
		tok := e.token(t, e.operator(t, "root", chat.RoleAdmin))
		if got := e.cannedList(t, tok, ""); len(got) != 0 {
			t.Fatalf("seeded: %q", got)
		}

		create := func(body any) response { return e.call(t, "POST", cannedPath, tok, body) }
		g := create(map[string]string{"shortcut": "greeting", "title": " Greeting ", "content": "Hello!\nHow can we help?", "category": "general"}).expect(t, 201)
		gid := fmt.Sprint(num(t, g["id"]))
		if got, want := cannedRow(t, g), gid+" /greeting|Greeting|Hello!\nHow can we help?|general|0"; got != want {
			t.Errorf("created %q, want %q", got, want)
		}
		if g["created_at"] != t0.Format(time.RFC3339) || g["updated_at"] != g["created_at"] {
			t.Errorf("timestamps %v %v, want %v", g["created_at"], g["updated_at"], t0)
		}
		w := create(map[string]string{"shortcut": "/wait", "title": "Wait", "content": "One moment please", "category": "general"}).expect(t, 201)
		wid := fmt.Sprint(num(t, w["id"]))
		b := create(map[string]string{"shortcut": "/refund", "title": "Refund", "content": "Refunds take 5 days", "category": "billing"}).expect(t, 201)
		bid := fmt.Sprint(num(t, b["id"]))
		x := create(map[string]string{"shortcut": "/thanks", "title": "Thanks", "content": "Thank you"}).expect(t, 201)
		xid := fmt.Sprint(num(t, x["id"]))

		// 409 on an active shortcut, in either spelling.
		create(map[string]string{"shortcut": "/greeting", "title": "Again", "content": "Again"}).expectError(t, 409, "conflict", "shortcut")
		create(map[string]string{"shortcut": "wait", "title": "Again", "content": "Again"}).expectError(t, 409, "conflict", "shortcut")

		// Ordered by category, then shortcut; ?category filters.
		want := []string{
			xid + " /thanks|Thanks|Thank you||0",
			bid + " /refund|Refund|Refunds take 5 days|billing|0",
			gid + " /greeting|Greeting|Hello!\nHow can we help?|general|0",
			wid + " /wait|Wait|One moment please|general|0",
		}
		if got := e.cannedList(t, tok, ""); !equal(got, want) {
			t.Errorf("list %q\nwant %q", got, want)
		}
		if got := e.cannedList(t, tok, "?category=general"); !equal(got, want[2:]) {
			t.Errorf("general %q\nwant %q", got, want[2:])
		}
		if got := e.cannedList(t, tok, "?category=nothing"); len(got) != 0 {
			t.Errorf("nothing %q", got)
		}

		// Partial update: only the given fields change.
		e.clock.Advance(time.Minute)
		u := e.call(t, "PUT", cannedPath+"/"+gid, tok, map[string]string{"title": "Hello"}).expect(t, 200)
		if got, want := cannedRow(t, u), gid+" /greeting|Hello|Hello!\nHow can we help?|general|0"; got != want {
			t.Errorf("after title %q, want %q", got, want)
		}
		if u["updated_at"] != t0.Add(time.Minute).Format(time.RFC3339) || u["created_at"] != g["created_at"] {
			t.Errorf("timestamps after update: %v %v", u["created_at"], u["updated_at"])
		}
		u = e.call(t, "PUT", cannedPath+"/"+gid, tok, map[string]any{"shortcut": "hello", "content": "Hi", "category": ""}).expect(t, 200)
		if got, want := cannedRow(t, u), gid+" /hello|Hello|Hi||0"; got != want {
			t.Errorf("after the rest %q, want %q", got, want)
		}
		u = e.call(t, "PUT", cannedPath+"/"+gid, tok, map[string]any{}).expect(t, 200)
		if got, want := cannedRow(t, u), gid+" /hello|Hello|Hi||0"; got != want {
			t.Errorf("after an empty update %q, want %q", got, want)
		}
		e.call(t, "PUT", cannedPath+"/"+gid, tok, map[string]string{"shortcut": "/wait"}).expectError(t, 409, "conflict", "shortcut")

		// Delete hides the row and frees its shortcut.
		r := e.call(t, "DELETE", cannedPath+"/"+wid, tok, nil)
		if r.Status != 204 || len(r.Body) != 0 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		if got := e.cannedList(t, tok, "?category=general"); len(got) != 0 {
			t.Errorf("general after delete %q", got)
		}
		n := create(map[string]string{"shortcut": "wait", "title": "Wait 2", "content": "Hold on", "category": "general"}).expect(t, 201)
		if n["id"] == w["id"] || n["shortcut"] != "/wait" {
			t.Errorf("recreated %v", n)
		}
		e.call(t, "PUT", cannedPath+"/"+gid, tok, map[string]string{"shortcut": "/wait"}).expectError(t, 409, "conflict", "shortcut")

		// The deleted row and unknown ids are 404 everywhere.
		for _, id := range []string{wid, "999999"} {
			e.call(t, "PUT", cannedPath+"/"+id, tok, map[string]string{"title": "X"}).expectError(t, 404, "not_found")
			e.call(t, "PUT", cannedPath+"/"+id, tok, map[string]any{}).expectError(t, 404, "not_found")
			e.call(t, "DELETE", cannedPath+"/"+id, tok, nil).expectError(t, 404, "not_found")
			e.call(t, "POST", cannedPath+"/"+id+"/use", tok, nil).expectError(t, 404, "not_found")
		}
		e.call(t, "DELETE", cannedPath+"/abc", tok, nil).expectError(t, 400, "validation_error", "id")
		e.call(t, "GET", cannedPath+"/"+gid, tok, nil).expectError(t, 405, "invalid_request")
	})
}

func TestCannedValidation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withCanned(db))
		tok := e.token(t, e.operator(t, "root", chat.RoleAdmin))
		c := e.call(t, "POST", cannedPath, tok, map[string]string{"shortcut": "/ok", "title": "OK", "content": "OK"}).expect(t, 201)
		id := fmt.Sprint(num(t, c["id"]))

		tests := []struct {
			name  string
			body  any
			field string
		}{
			{"bad shortcut", map[string]string{"shortcut": "Hello"}, "shortcut"},
			{"shortcut with space", map[string]string{"shortcut": "/a b"}, "shortcut"},
			{"empty shortcut", map[string]string{"shortcut": ""}, "shortcut"},
			{"long shortcut", map[string]string{"shortcut": "/" + strings.Repeat("a", 31)}, "shortcut"},
			{"blank title", map[string]string{"title": "   "}, "title"},
			{"long title", map[string]string{"title": strings.Repeat("ก", 101)}, "title"},
			{"blank content", map[string]string{"content": " \n "}, "content"},
			{"long content", map[string]string{"content": strings.Repeat("a", 5001)}, "content"},
			{"long category", map[string]string{"category": strings.Repeat("c", 51)}, "category"},
			{"number title", `{"title": 5}`, "title"},
			{"unknown field", `{"usage_count": 10}`, "usage_count"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// The same rules on update and on create (with the other fields valid).
				e.call(t, "PUT", cannedPath+"/"+id, tok, tt.body).expectError(t, 400, "validation_error", tt.field)
				body := tt.body
				if m, ok := body.(map[string]string); ok {
					full := map[string]string{"shortcut": "/new", "title": "New", "content": "New"}
					for k, v := range m {
						full[k] = v
					}
					body = full
				}
				e.call(t, "POST", cannedPath, tok, body).expectError(t, 400, "validation_error", tt.field)
			})
		}
		for _, missing := range []string{"shortcut", "title", "content"} {
			full := map[string]string{"shortcut": "/new", "title": "New", "content": "New"}
			delete(full, missing)
			e.call(t, "POST", cannedPath, tok, full).expectError(t, 400, "validation_error", missing)
		}
		e.call(t, "POST", cannedPath, tok, nil).expectError(t, 400, "validation_error")
		e.call(t, "GET", cannedPath+"?category="+strings.Repeat("c", 51), tok, nil).expectError(t, 400, "validation_error", "category")

		// At the limits (characters, not bytes) it is fine.
		e.call(t, "POST", cannedPath, tok, map[string]string{
			"shortcut": strings.Repeat("z", 30), "title": strings.Repeat("ก", 100),
			"content": strings.Repeat("ข", 5000), "category": strings.Repeat("ค", 50),
		}).expect(t, 201)

		// Nothing else was stored or changed.
		got := e.cannedList(t, tok, "")
		if len(got) != 2 || got[0] != id+" /ok|OK|OK||0" {
			t.Errorf("list %q", got)
		}
	})
}

func TestCannedUsage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, withCanned(db))
		admin := e.token(t, e.operator(t, "root", chat.RoleAdmin))
		agent := e.token(t, e.operator(t, "alice", chat.RoleAgent))
		c := e.call(t, "POST", cannedPath, admin, map[string]string{"shortcut": "/sorry", "title": "Sorry", "content": "We apologise"}).expect(t, 201)
		id := fmt.Sprint(num(t, c["id"]))

		for i := int64(1); i <= 3; i++ {
			e.clock.Advance(time.Minute)
			u := e.call(t, "POST", cannedPath+"/"+id+"/use", agent, nil).expect(t, 200)
			if num(t, u["usage_count"]) != i || u["shortcut"] != "/sorry" || u["updated_at"] != c["updated_at"] {
				t.Errorf("use %d: %v", i, u)
			}
		}
		if got, want := e.cannedList(t, agent, ""), []string{id + " /sorry|Sorry|We apologise||3"}; !equal(got, want) {
			t.Errorf("list %q, want %q", got, want)
		}
		// An edit keeps the count.
		u := e.call(t, "PUT", cannedPath+"/"+id, admin, map[string]string{"content": "We are sorry"}).expect(t, 200)
		if num(t, u["usage_count"]) != 3 {
			t.Errorf("after edit: %v", u)
		}
	})
}

// Without a canned store the routes do not exist.
func TestCannedNotWired(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db)
	admin := e.token(t, e.operator(t, "root", chat.RoleAdmin))
	e.call(t, "GET", cannedPath, admin, nil).expectError(t, 404, "not_found")
	e.call(t, "POST", cannedPath, admin, map[string]string{"shortcut": "/a", "title": "A", "content": "A"}).expectError(t, 404, "not_found")
	e.call(t, "PUT", cannedPath+"/1", admin, map[string]string{"title": "A"}).expectError(t, 404, "not_found")
	e.call(t, "DELETE", cannedPath+"/1", admin, nil).expectError(t, 404, "not_found")
	e.call(t, "POST", cannedPath+"/1/use", admin, nil).expectError(t, 404, "not_found")
}

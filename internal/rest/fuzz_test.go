package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"livechat/internal/chat"
	"livechat/internal/errcode"
	"livechat/internal/hours"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// The fuzz targets of the REST JSON bodies, one per endpoint group. Each
// checks that the answer is a status the README names for the endpoint
// (never a 500), in the one JSON error shape with a code of errcode, naming
// a field when a well-formed body is refused; that a refusal changes no row
// of the tables the endpoint writes; and that a success is in the database.
// Each input starts from the same state: what a success changed is put
// back. Run one longer with
//
//	go test -run '^$' -fuzz '^FuzzCanned$' -fuzztime 10m -fuzzminimizetime 500x ./internal/rest
//
// (an exec takes about a millisecond, bcrypt ones 50 ms, so the default
// minimization of each new input, up to a minute, would stall the run).

// maxBody is the API's bound on a JSON body (rest.maxBody).
const maxBody = 64 << 10

// fuzzEnv is the API over one SQLite store per fuzzing process, with canned
// responses and business hours wired: root (admin), alice and bob (agents),
// gone (disabled); alice owns the conversation of customer active, customer
// waiting is in the queue, and unknown never wrote.
type fuzzEnv struct {
	*env
	root, alice, bob, gone chat.Operator
	active, waiting        chat.Customer
	unknown                string
	tok                    map[int64]string
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	db := storetest.Open(f, store.SQLite)
	e := &fuzzEnv{env: newEnv(f, db, withCanned(db), withHours(db))}
	// Operator messages go to an outbox that no worker drains, as in serve
	// (and nothing accumulates in memory).
	e.svc.SetEnqueuer(nopEnqueuer{})
	e.root = e.operator(f, "root", chat.RoleAdmin)
	e.alice = e.operator(f, "alice", chat.RoleAgent)
	e.bob = e.operator(f, "bob", chat.RoleAgent)
	e.gone = e.operator(f, "gone", chat.RoleAgent)
	if err := db.SetOperatorActive(context.Background(), e.gone.ID, false); err != nil {
		f.Fatal(err)
	}
	e.tok = map[int64]string{}
	for _, op := range []chat.Operator{e.root, e.alice, e.bob} {
		e.tok[op.ID] = e.token(f, op)
	}
	e.active = e.env.active(f, e.alice)
	e.waiting = e.env.waiting(f)
	e.unknown = storetest.LineUserID()
	return e
}

type nopEnqueuer struct{}

func (nopEnqueuer) Enqueue(context.Context, chat.Message, string) error { return nil }

// rows reads a whole table, ordered, for before/after comparisons.
func (e *fuzzEnv) rows(t *testing.T, table, order string) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := e.db.Bun().NewRaw("SELECT * FROM "+table+" ORDER BY "+order).Scan(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *fuzzEnv) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.db.Bun().NewRaw("SELECT count(*) FROM "+table).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// unchanged fails when a refused request changed a table.
func unchanged(t *testing.T, status int, table string, before, after any) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("a refused request (%d) changed %s:\nbefore %v\nafter  %v", status, table, before, after)
	}
}

// codes are the error codes each refusal may carry: errcode's constants.
var codes = map[int][]string{
	400: {errcode.ValidationError, errcode.MessageTooLong},
	401: {errcode.AuthMissingToken, errcode.AuthExpiredToken, errcode.AuthInvalidToken},
	403: {errcode.Forbidden},
	404: {errcode.NotFound, errcode.SessionNotFound, errcode.CustomerNotFound, errcode.OperatorNotFound},
	409: {errcode.Conflict, errcode.SessionAlreadyClaimed, errcode.InvalidSessionState},
	413: {errcode.ValidationError},
	422: {errcode.IdempotencyKeyReused},
	429: {errcode.RateLimitExceeded},
}

// endpoint is what the README lets an endpoint answer to a body.
type endpoint struct {
	statuses []int
	// field reports a name a 400 may give for a well-formed body.
	field func(string) bool
}

func fields(names ...string) func(string) bool {
	return func(f string) bool { return slices.Contains(names, f) }
}

// answer checks r, the answer to body; well says whether body is one JSON
// object of the request's shape (wellFormed). It returns a success's body.
func (ep endpoint) answer(t *testing.T, r response, body []byte, well bool) map[string]any {
	t.Helper()
	if !slices.Contains(ep.statuses, r.Status) {
		t.Fatalf("status %d, want one of %v; body %s", r.Status, ep.statuses, r.Body)
	}
	if r.Status < 300 && (!well || len(body) > maxBody) {
		t.Fatalf("status %d for a body that is not one JSON object of the request's shape", r.Status)
	}
	if r.Status == 204 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d: Content-Type %q", r.Status, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("status %d: body %q: %v", r.Status, r.Body, err)
	}
	if r.Status < 300 {
		return m
	}
	var e struct {
		Error struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Field   *string `json:"field"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || len(m) != 1 || e.Error.Message == "" {
		t.Fatalf("status %d: not the JSON error shape: %s", r.Status, r.Body)
	}
	if !slices.Contains(codes[r.Status], e.Error.Code) {
		t.Fatalf("status %d with code %q, want one of %q", r.Status, e.Error.Code, codes[r.Status])
	}
	if r.Status == 400 && well && len(body) <= maxBody && (e.Error.Field == nil || !ep.field(*e.Error.Field)) {
		t.Fatalf("a well-formed body refused without naming one of its fields: %s", r.Body)
	}
	return nil
}

// wellFormed reports whether body is what the API decodes without a
// complaint about the JSON itself: one JSON object (or null) of v's shape,
// without unknown fields or trailing data, within maxBody.
func wellFormed(body []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false
	}
	_, err := dec.Token()
	return errors.Is(err, io.EOF) && len(body) <= maxBody
}

// hostile adds the seeds every body gets beside the valid ones: trailing
// data, a second object, unknown fields, wrong JSON types, non-objects and
// a body over maxBody.
func hostile(valid string, add func(string)) {
	for _, s := range []string{
		valid + " x", valid + valid, `{"unknown":1,` + valid[1:], `[` + valid + `]`,
		`null`, ``, `{`, `"x"`, `42`, `{"a":"` + strings.Repeat("x", maxBody) + `"}`,
	} {
		add(s)
	}
}

// otherSelectors adds body with each selector from 1 to n-1: most seeds
// are for the main case (selector 0), and the fuzzer mutates the selector.
func otherSelectors(f *testing.F, n int, body string) {
	for sel := 1; sel < n; sel++ {
		f.Add(byte(sel), []byte(body))
	}
}

// FuzzLogin: POST /api/v1/auth/login.
func FuzzLogin(f *testing.F) {
	for _, s := range []string{
		`{"username":"root","password":"` + password + `"}`,
		`{"username":"root","password":"wrong password"}`,
		`{"username":"gone","password":"` + password + `"}`,
		`{"username":"nobody","password":"` + password + `"}`, // the dummy hash: slow
		`{"username":`, `{"username":"alice","password":"x","otp":1}`, `{}`, `{"password":"x"}`, `{"username":"x"}`,
		`{"username":"ro\u0000ot","password":"x"}`, "{\"username\":\"ro\xffot\"}",
		`{"username":5,"password":"x"}`, `{"username":"root","password":null}`, `{"username":["root"]}`,
		`{"username":"root","password":"` + strings.Repeat("p", 100) + `"}`,
	} {
		f.Add([]byte(s))
	}
	hostile(`{"username":"root","password":"`+password+`"}`, func(s string) { f.Add([]byte(s)) })
	e := newFuzzEnv(f)
	ep := endpoint{statuses: []int{200, 400, 401, 413}, field: fields("username", "password")}
	f.Fuzz(func(t *testing.T, body []byte) {
		// Failures of earlier inputs no longer count (the lockout window
		// has passed), so that no input meets another's 429.
		e.clock.Advance(16 * time.Minute)
		before := e.count(t, "refresh_tokens")
		var req struct{ Username, Password string }
		r := e.call(t, "POST", "/api/v1/auth/login", "", string(body))
		well := wellFormed(body, &req)
		m := ep.answer(t, r, body, well)
		// Exactly the active operators' names with their password get in.
		valid := well && slices.Contains([]string{"root", "alice", "bob"}, req.Username) && req.Password == password
		if valid != (r.Status == 200) {
			t.Fatalf("login as %q with password %q: status %d; body %s", req.Username, req.Password, r.Status, r.Body)
		}
		after := e.count(t, "refresh_tokens")
		if r.Status != 200 {
			unchanged(t, r.Status, "refresh_tokens", before, after)
			return
		}
		if after != before+1 {
			t.Fatalf("a login stored %d refresh tokens", after-before)
		}
		claims, err := e.tokens.Verify(fmt.Sprint(m["access_token"]))
		if err != nil {
			t.Fatalf("login answered an access token that does not verify: %v", err)
		}
		op, err := e.db.Operator(context.Background(), claims.OperatorID)
		if err != nil || op.Username != req.Username {
			t.Fatalf("logged in as %+v, %v", op, err)
		}
		if !reflect.DeepEqual(m["operator"], m["user"]) || m["operator"].(map[string]any)["username"] != op.Username {
			t.Fatalf("login answered %v", m)
		}
	})
}

// FuzzSendMessage: POST conversations/{line_user_id}/messages, by the
// session's owner, by an admin, by another agent (403), into a waiting
// session (409) and to a customer who never wrote (404).
func FuzzSendMessage(f *testing.F) {
	for _, s := range []string{
		`{"text":"Hello!","temp_id":"t1"}`, `{"text":"Hello!"}`, `{"text":"  hi\n there  "}`,
		`{"text":""}`, `{"text":" \n\t "}`, `{"text":"a\u0000b"}`, "{\"text\":\"a\xffb\"}", `{"text":"\u0007"}`,
		`{"text":"` + strings.Repeat("ข", 5000) + `"}`, `{"text":"` + strings.Repeat("a", 5001) + `"}`,
		`{"text":"hi","temp_id":"t\u0000"}`, "{\"text\":\"hi\",\"temp_id\":\"t\xff\"}", `{"text":"hi","temp_id":"` + strings.Repeat("t", 101) + `"}`,
		`{"text":5}`, `{"text":"hi","temp_id":7}`, `{}`,
	} {
		f.Add(byte(0), []byte(s))
	}
	otherSelectors(f, 6, `{"text":"Hello!","temp_id":"t1"}`)
	hostile(`{"text":"Hello!","temp_id":"t1"}`, func(s string) { f.Add(byte(0), []byte(s)) })
	e := newFuzzEnv(f)
	ep := endpoint{statuses: []int{201, 400, 403, 404, 409, 413}, field: fields("text", "temp_id")}
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		actor, to := []chat.Operator{e.alice, e.alice, e.root, e.bob, e.alice, e.alice}[sel%6],
			[]string{e.active.LineUserID, e.active.LineUserID, e.active.LineUserID, e.active.LineUserID, e.waiting.LineUserID, e.unknown}[sel%6]
		sessions, customers, messages := e.rows(t, "chat_sessions", "id"), e.rows(t, "customers", "line_user_id"), e.count(t, "messages")
		var req struct {
			Text   string `json:"text"`
			TempID string `json:"temp_id"`
		}
		well := wellFormed(body, &req)
		// A temp_id the actor already used in the conversation makes the
		// send a retry: answered with that message, nothing stored.
		var prior int64
		if well && req.TempID != "" && chat.Storable(req.TempID) {
			_ = e.db.Bun().NewRaw("SELECT id FROM messages WHERE line_user_id = ? AND operator_id = ? AND temp_id = ?", to, actor.ID, req.TempID).
				Scan(context.Background(), &prior) // none: 0
		}
		r := e.call(t, "POST", lc+"conversations/"+to+"/messages", e.tok[actor.ID], string(body))
		m := ep.answer(t, r, body, well)
		// The owner and an admin may send any text that cleans to 1 to 5000
		// characters, with a temp_id of at most 100 storable characters.
		_, textErr := chat.CleanText(req.Text)
		valid := well && sel%6 < 3 && textErr == nil && chat.Storable(req.TempID) && utf8.RuneCountInString(req.TempID) <= 100
		if valid != (r.Status == 201) {
			t.Fatalf("send %q (temp_id %q) as %s: status %d; body %s", req.Text, req.TempID, actor.Username, r.Status, r.Body)
		}
		if r.Status != 201 {
			unchanged(t, r.Status, "chat_sessions", sessions, e.rows(t, "chat_sessions", "id"))
			unchanged(t, r.Status, "customers", customers, e.rows(t, "customers", "line_user_id"))
			unchanged(t, r.Status, "messages", messages, e.count(t, "messages"))
			return
		}
		if prior != 0 {
			if n := e.count(t, "messages"); n != messages || num(t, m["id"]) != prior || m["temp_id"] != req.TempID {
				t.Fatalf("a retry of message %d stored %d messages and answered %v", prior, n-messages, m)
			}
			return
		}
		if n := e.count(t, "messages"); n != messages+1 {
			t.Fatalf("a send stored %d messages", n-messages)
		}
		var stored struct {
			Content    string `bun:"content"`
			OperatorID int64  `bun:"operator_id"`
			TempID     string `bun:"temp_id"`
		}
		if err := e.db.Bun().NewRaw("SELECT content, operator_id, temp_id FROM messages WHERE id = ?", num(t, m["id"])).
			Scan(context.Background(), &stored); err != nil {
			t.Fatal(err)
		}
		want, err := chat.CleanText(req.Text)
		if err != nil || stored.Content != want || m["content"] != want || stored.OperatorID != actor.ID || stored.TempID != req.TempID {
			t.Fatalf("sent %q (%q), stored %+v, answered %v", req.Text, want, stored, m)
		}
	})
}

// FuzzTransfer: POST conversations/{line_user_id}/transfer, by the owner,
// by an admin, by another agent (403) and of a waiting session (409).
func FuzzTransfer(f *testing.F) {
	e := newFuzzEnv(f)
	for _, s := range []string{
		fmt.Sprintf(`{"to_operator_id":%d}`, e.bob.ID), fmt.Sprintf(`{"to_operator_id":%d,"reason":"shift ends"}`, e.bob.ID),
		fmt.Sprintf(`{"to_operator_id":%d,"reason":null}`, e.root.ID), fmt.Sprintf(`{"to_operator_id":%d,"reason":"  "}`, e.bob.ID),
		fmt.Sprintf(`{"to_operator_id":%d,"reason":"a\u0000b\nc"}`, e.bob.ID), fmt.Sprintf("{\"to_operator_id\":%d,\"reason\":\"\xff\"}", e.bob.ID),
		fmt.Sprintf(`{"to_operator_id":%d,"reason":"%s"}`, e.bob.ID, strings.Repeat("ร", 255)),
		fmt.Sprintf(`{"to_operator_id":%d,"reason":"%s"}`, e.bob.ID, strings.Repeat("r", 256)),
		fmt.Sprintf(`{"to_operator_id":%d}`, e.alice.ID), fmt.Sprintf(`{"to_operator_id":%d}`, e.gone.ID),
		`{"to_operator_id":99999}`, `{"to_operator_id":0}`, `{"to_operator_id":-1}`, `{"to_operator_id":9223372036854775807}`,
		`{"to_operator_id":9223372036854775808}`, `{"to_operator_id":1.5}`, `{"to_operator_id":"2"}`, `{"to_operator_id":1e3}`,
		`{}`, `{"to_operator_id":`, fmt.Sprintf(`{"to_operator_id":%d,"reason":5}`, e.bob.ID),
	} {
		f.Add(byte(0), []byte(s))
	}
	otherSelectors(f, 5, fmt.Sprintf(`{"to_operator_id":%d,"reason":"shift ends"}`, e.bob.ID))
	hostile(fmt.Sprintf(`{"to_operator_id":%d,"reason":"shift ends"}`, e.bob.ID), func(s string) { f.Add(byte(0), []byte(s)) })
	ep := endpoint{statuses: []int{200, 400, 403, 404, 409, 413}, field: fields("to_operator_id", "reason")}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		actor, of := []chat.Operator{e.alice, e.alice, e.root, e.bob, e.alice}[sel%5],
			[]chat.Customer{e.active, e.active, e.active, e.active, e.waiting}[sel%5]
		sessions := e.rows(t, "chat_sessions", "id")
		var req struct {
			ToOperatorID int64   `json:"to_operator_id"`
			Reason       *string `json:"reason"`
		}
		r := e.call(t, "POST", lc+"conversations/"+of.LineUserID+"/transfer", e.tok[actor.ID], string(body))
		well := wellFormed(body, &req)
		m := ep.answer(t, r, body, well)
		// The owner (alice) and an admin may hand the active session to
		// another active operator, with a reason of at most 255 characters.
		valid := well && sel%5 < 3 && (req.ToOperatorID == e.root.ID || req.ToOperatorID == e.bob.ID) &&
			(req.Reason == nil || utf8.RuneCountInString(chat.CleanLine(*req.Reason)) <= chat.MaxReasonLen)
		if valid != (r.Status == 200) {
			t.Fatalf("transfer to %d by %s: status %d; body %s", req.ToOperatorID, actor.Username, r.Status, r.Body)
		}
		if r.Status != 200 {
			unchanged(t, r.Status, "chat_sessions", sessions, e.rows(t, "chat_sessions", "id"))
			return
		}
		sess, err := e.db.OpenSession(ctx, of.LineUserID)
		if err != nil {
			t.Fatal(err)
		}
		reason := ""
		if req.Reason != nil {
			reason = chat.CleanLine(*req.Reason)
		}
		got := ""
		if sess.TransferReason != nil {
			got = *sess.TransferReason
		}
		if sess.OperatorID == nil || *sess.OperatorID != req.ToOperatorID || got != reason ||
			num(t, m["operator_id"]) != req.ToOperatorID || num(t, m["id"]) != sess.ID {
			t.Fatalf("transferred to %d (%q): session %+v, answered %v", req.ToOperatorID, reason, sess, m)
		}
		// Back to alice, for the next input.
		if _, err := e.svc.Transfer(ctx, e.root, of.LineUserID, e.alice.ID, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzOperatorAdmin: POST operators, PUT operators/{id}/role and PUT
// operators/{id}/password, by an admin on another operator, on themself and
// on an unknown id, and by an agent (403).
func FuzzOperatorAdmin(f *testing.F) {
	e := newFuzzEnv(f)
	type target struct {
		method, path string
		actor        chat.Operator
		op           int64 // the operator changed; 0 for a create
		ep           endpoint
	}
	create := endpoint{statuses: []int{201, 400, 403, 409, 413}, field: fields("username", "display_name", "role", "password")}
	role := endpoint{statuses: []int{200, 400, 403, 404, 413}, field: fields("role", "id")}
	pw := endpoint{statuses: []int{200, 400, 403, 404, 413}, field: fields("password", "id")}
	opPath := func(id int64, what string) string { return fmt.Sprintf("%soperators/%d/%s", lc, id, what) }
	targets := []target{
		{"POST", lc + "operators", e.root, 0, create},
		{"POST", lc + "operators", e.root, 0, create},
		{"PUT", opPath(e.bob.ID, "role"), e.root, e.bob.ID, role},
		{"PUT", opPath(e.bob.ID, "role"), e.root, e.bob.ID, role},
		{"PUT", opPath(e.root.ID, "role"), e.root, e.root.ID, role},
		{"PUT", opPath(e.bob.ID, "password"), e.root, e.bob.ID, pw},
		{"PUT", opPath(99999, "role"), e.root, 99999, role},
		{"POST", lc + "operators", e.alice, 0, create},
		{"PUT", opPath(e.bob.ID, "role"), e.alice, e.bob.ID, role},
	}
	for _, s := range []struct {
		sel  byte
		body string
	}{
		{0, `{"username":"new.agent_1","display_name":"  New Agent ","role":"agent","password":"a fine password"}`}, // bcrypt: slow
		{0, `{"username":"bob","display_name":"Bob again","role":"agent","password":"a fine password"}`},
		{0, `{"username":"bad name","display_name":"X","role":"agent","password":"long enough"}`},
		{0, `{"username":"` + strings.Repeat("a", 51) + `","display_name":"X","role":"agent","password":"long enough"}`},
		{0, `{"username":"ok","display_name":"  ","role":"agent","password":"long enough"}`},
		{0, `{"username":"ok","display_name":"` + strings.Repeat("n", 101) + `","role":"agent","password":"long enough"}`},
		{0, `{"username":"ok","display_name":"X","role":"root","password":"long enough"}`},
		{0, `{"username":"ok","display_name":"X","role":"agent","password":"short"}`},
		{0, `{"username":"ok","display_name":"X","role":"agent","password":"` + strings.Repeat("p", 73) + `"}`},
		{0, `{"username":"ok","display_name":"X","role":"agent","password":"long enough","active":false}`},
		{0, `{"username":"b\u0000b","display_name":"Bob","role":"agent","password":"a long password"}`},
		{0, `{"username":"ok","display_name":"B\u0000ob\n","role":"agent","password":"short"}`},
		{0, "{\"username\":\"ok\",\"display_name\":\"\xff\",\"role\":\"agent\",\"password\":\"short\"}"},
		{0, `{"username":"ok","display_name":"X","role":"agent","password":12345678}`},
		{2, `{"role":"supervisor"}`}, {2, `{"role":"admin"}`}, {2, `{"role":"agent"}`}, {2, `{"role":"Admin"}`},
		{2, `{"role":"root"}`}, {2, `{}`}, {2, `{"role":5}`}, {2, `{"role":"admin\u0000"}`},
		{4, `{"role":"agent"}`}, {4, `{"role":"admin"}`},
		{5, `{"password":"a new long password"}`}, // bcrypt: slow
		{5, `{"password":"short"}`}, {5, `{"password":12345678}`}, {5, `{"password":"` + strings.Repeat("p", 73) + `"}`}, {5, `{}`},
		{6, `{"role":"agent"}`}, {7, `{"username":"x"}`}, {8, `{"role":"admin"}`},
	} {
		f.Add(s.sel, []byte(s.body))
	}
	hostile(`{"role":"supervisor"}`, func(s string) { f.Add(byte(2), []byte(s)) })
	hostile(`{"username":"ok","display_name":"X","role":"agent","password":"short"}`, func(s string) { f.Add(byte(0), []byte(s)) })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		tg := targets[int(sel)%len(targets)]
		operators, tokens := e.rows(t, "operators", "id"), e.rows(t, "refresh_tokens", "id")
		var createReq struct {
			Username    string `json:"username"`
			DisplayName string `json:"display_name"`
			Role        string `json:"role"`
			Password    string `json:"password"`
		}
		var roleReq struct {
			Role string `json:"role"`
		}
		var pwReq struct {
			Password string `json:"password"`
		}
		shape := map[string]any{"operators": &createReq, "role": &roleReq, "password": &pwReq}[tg.path[strings.LastIndex(tg.path, "/")+1:]]
		r := e.call(t, tg.method, tg.path, e.tok[tg.actor.ID], string(body))
		m := tg.ep.answer(t, r, body, wellFormed(body, shape))
		if r.Status >= 300 {
			unchanged(t, r.Status, "operators", operators, e.rows(t, "operators", "id"))
			unchanged(t, r.Status, "refresh_tokens", tokens, e.rows(t, "refresh_tokens", "id"))
			return
		}
		id := num(t, m["id"])
		op, err := e.db.Operator(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		switch shape {
		case &createReq:
			if op.Username != createReq.Username || op.DisplayName != chat.CleanLine(createReq.DisplayName) ||
				string(op.Role) != createReq.Role || !op.Active || m["username"] != op.Username {
				t.Fatalf("created %+v from %+v, answered %v", op, createReq, m)
			}
			if _, err := e.db.Bun().ExecContext(ctx, "DELETE FROM operators WHERE id = ?", id); err != nil {
				t.Fatal(err)
			}
		case &roleReq:
			if id != tg.op || string(op.Role) != roleReq.Role || m["role"] != roleReq.Role {
				t.Fatalf("set role %q: %+v, answered %v", roleReq.Role, op, m)
			}
			if err := e.db.SetOperatorRole(ctx, id, before(t, operators, id).Role); err != nil {
				t.Fatal(err)
			}
		case &pwReq:
			old := before(t, operators, id).PasswordHash
			if id != tg.op || op.PasswordHash == old {
				t.Fatalf("set password: %+v", op)
			}
			if err := e.db.SetOperatorPassword(ctx, id, old); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// before is operator id as it was in rows.
func before(t *testing.T, rows []map[string]any, id int64) chat.Operator {
	t.Helper()
	for _, r := range rows {
		if fmt.Sprint(r["id"]) == fmt.Sprint(id) {
			return chat.Operator{ID: id, Role: chat.Role(fmt.Sprint(r["role"])), PasswordHash: fmt.Sprint(r["password_hash"])}
		}
	}
	t.Fatalf("operator %d was not there before", id)
	return chat.Operator{}
}

// FuzzCanned: POST canned-responses and PUT canned-responses/{id}, by an
// admin, of an existing and an unknown row, and by an agent (403).
func FuzzCanned(f *testing.F) {
	e := newFuzzEnv(f)
	ctx := context.Background()
	greeting := chat.CannedResponse{Shortcut: "/greeting", Title: "Greeting", Content: "Hello! How can I help?", Category: "general"}
	taken := chat.CannedResponse{Shortcut: "/taken", Title: "Taken", Content: "Taken"}
	for _, c := range []*chat.CannedResponse{&greeting, &taken} {
		if err := e.db.CreateCannedResponse(ctx, c, t0); err != nil {
			f.Fatal(err)
		}
	}
	type target struct {
		method, path string
		actor        chat.Operator
	}
	created := endpoint{statuses: []int{201, 400, 403, 409, 413}, field: fields("shortcut", "title", "content", "category")}
	updated := endpoint{statuses: []int{200, 400, 403, 404, 409, 413}, field: fields("shortcut", "title", "content", "category")}
	targets := []target{
		{"POST", cannedPath, e.root}, {"POST", cannedPath, e.root}, {"POST", cannedPath, e.root},
		{"PUT", fmt.Sprintf("%s/%d", cannedPath, greeting.ID), e.root}, {"PUT", fmt.Sprintf("%s/%d", cannedPath, greeting.ID), e.root},
		{"PUT", fmt.Sprintf("%s/%d", cannedPath, greeting.ID), e.root},
		{"PUT", cannedPath + "/99999", e.root}, {"POST", cannedPath, e.alice},
	}
	for _, s := range []string{
		`{"shortcut":"/thanks","title":"Thanks","content":"Thank you!","category":"closing"}`,
		`{"shortcut":"thanks","title":"Thanks","content":"Thank you!"}`, `{"shortcut":"/taken","title":"T","content":"C"}`,
		`{"shortcut":"/greeting"}`, `{"shortcut":"taken"}`, `{"title":"  Hi  ","content":" Hello\nthere "}`, `{"category":""}`, `{}`,
		`{"shortcut":"Hello"}`, `{"shortcut":"/a b"}`, `{"shortcut":""}`, `{"shortcut":"/` + strings.Repeat("a", 31) + `"}`,
		`{"shortcut":"` + strings.Repeat("z", 30) + `","title":"` + strings.Repeat("ก", 100) + `","content":"` + strings.Repeat("ข", 5000) + `","category":"` + strings.Repeat("ค", 50) + `"}`,
		`{"title":"   "}`, `{"title":"` + strings.Repeat("ก", 101) + `"}`, `{"content":" \n "}`, `{"content":"` + strings.Repeat("a", 5001) + `"}`,
		`{"category":"` + strings.Repeat("c", 51) + `"}`, `{"title":5}`, `{"usage_count":10}`, `{"shortcut":null,"title":null}`,
		`{"shortcut":"h\u0000i","title":"Hi","content":"Hello"}`, `{"shortcut":"/new","title":"T\u0000i","content":"a\u0000b","category":"c\u0000"}`,
		"{\"shortcut\":\"/new\",\"title\":\"\xff\",\"content\":\"x\xffy\"}", `{"shortcut":"/new","title":"T","content":"\u0007"}`,
	} {
		f.Add(byte(0), []byte(s)) // create
		f.Add(byte(3), []byte(s)) // update
	}
	otherSelectors(f, len(targets), `{"shortcut":"/thanks","title":"Thanks","content":"Thank you!","category":"closing"}`)
	hostile(`{"shortcut":"/thanks","title":"Thanks","content":"Thank you!","category":"closing"}`, func(s string) { f.Add(byte(0), []byte(s)) })
	hostile(`{"title":"Hi"}`, func(s string) { f.Add(byte(3), []byte(s)) })
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		tg := targets[int(sel)%len(targets)]
		ep := created
		if tg.method == "PUT" {
			ep = updated
		}
		canned := e.rows(t, "canned_responses", "id")
		var req struct{ Shortcut, Title, Content, Category *string }
		r := e.call(t, tg.method, tg.path, e.tok[tg.actor.ID], string(body))
		m := ep.answer(t, r, body, wellFormed(body, &req))
		if r.Status >= 300 {
			unchanged(t, r.Status, "canned_responses", canned, e.rows(t, "canned_responses", "id"))
			return
		}
		id := num(t, m["id"])
		var row struct {
			Shortcut string `bun:"shortcut"`
			Title    string `bun:"title"`
			Content  string `bun:"content"`
			Category string `bun:"category"`
			Active   bool   `bun:"is_active"`
		}
		if err := e.db.Bun().NewRaw("SELECT shortcut, title, content, category, is_active FROM canned_responses WHERE id = ?", id).
			Scan(ctx, &row); err != nil {
			t.Fatal(err)
		}
		// What the request asked for, field by field; the rest as it was.
		want := chat.CannedResponse{}
		if tg.method == "PUT" {
			want = greeting
		}
		p, err := chat.CannedPatch{Shortcut: req.Shortcut, Title: req.Title, Content: req.Content, Category: req.Category}.Clean()
		if err != nil {
			t.Fatalf("%d for a body the rules refuse: %v", r.Status, err)
		}
		for _, fld := range []struct{ dst, src *string }{{&want.Shortcut, p.Shortcut}, {&want.Title, p.Title}, {&want.Content, p.Content}, {&want.Category, p.Category}} {
			if fld.src != nil {
				*fld.dst = *fld.src
			}
		}
		if !row.Active || row.Shortcut != want.Shortcut || row.Title != want.Title || row.Content != want.Content || row.Category != want.Category ||
			m["shortcut"] != row.Shortcut || m["title"] != row.Title || m["content"] != row.Content || m["category"] != row.Category {
			t.Fatalf("stored %+v, want %+v; answered %v", row, want, m)
		}
		if tg.method == "POST" {
			if _, err := e.db.Bun().ExecContext(ctx, "DELETE FROM canned_responses WHERE id = ?", id); err != nil {
				t.Fatal(err)
			}
			return
		}
		if _, err := e.db.UpdateCannedResponse(ctx, greeting.ID, chat.CannedPatch{
			Shortcut: &greeting.Shortcut, Title: &greeting.Title, Content: &greeting.Content, Category: &greeting.Category,
		}, t0); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzBusinessHours: PUT business-hours, by an admin and by an agent (403).
func FuzzBusinessHours(f *testing.F) {
	e := newFuzzEnv(f)
	ctx := context.Background()
	orig, err := e.db.BusinessHours(ctx)
	if err != nil {
		f.Fatal(err)
	}
	withDays := func(tz string, days map[string]any) string {
		return string(marshalJSON(f, map[string]any{"timezone": tz, "days": days}))
	}
	monday := func(rs ...any) map[string]any {
		d := week(nil)
		d["mon"] = rs
		return d
	}
	seeds := []string{
		withDays("Asia/Bangkok", week(map[string][]map[string]string{
			"mon": {span("08:00", "12:00"), span("13:00", "17:00")}, "sat": {span("09:00", "12:00")},
		})),
		withDays("UTC", week(map[string][]map[string]string{"sun": {span("00:00", "24:00")}})),
		withDays("America/New_York", week(nil)), withDays("Local", week(nil)), withDays("Mars/Olympus_Mons", week(nil)),
		withDays("", week(nil)), withDays("Asia/Bangkok\x00", week(nil)), withDays("../../etc/passwd", week(nil)),
		withDays("/etc/localtime", week(nil)), withDays("Asia", week(nil)), withDays("zone1970.tab", week(nil)),
		withDays("UTC", monday(span("08:00", "25:00"))), withDays("UTC", monday(span("08:00", "24:01"))),
		withDays("UTC", monday(span("8:00", "17:00"))), withDays("UTC", monday(span("08:60", "17:00"))),
		withDays("UTC", monday(span("noon", "17:00"))), withDays("UTC", monday(map[string]string{"close": "17:00"})),
		withDays("UTC", monday(span("17:00", "08:00"))), withDays("UTC", monday(span("08:00", "08:00"))),
		withDays("UTC", monday(span("24:00", "24:00"))), withDays("UTC", monday(span("08:00", "12:00"), span("11:00", "17:00"))),
		withDays("UTC", monday(span("13:00", "17:00"), span("08:00", "13:30"))), withDays("UTC", monday(span("12:00", "13:00"), span("08:00", "12:00"))),
		withDays("UTC", monday(map[string]string{"open": "08:00", "close": "12:00", "note": "x"})),
		withDays("UTC", monday(span("08:00\u0000", "12:00"))), withDays("UTC", monday(span("０８:00", "12:00"))),
		`{"days":{"mon":[],"tue":[],"wed":[],"thu":[],"fri":[],"sat":[]},"timezone":"UTC"}`,
		`{"days":{"mon":[],"tue":[],"wed":[],"thu":[],"fri":[],"sat":[],"sun":[],"funday":[]},"timezone":"UTC"}`,
		`{"days":{"mon":null,"tue":[],"wed":[],"thu":[],"fri":[],"sat":[],"sun":[]},"timezone":"UTC"}`,
		`{"days":{"mon":[],"mon":[{"open":"08:00","close":"09:00"}],"tue":[],"wed":[],"thu":[],"fri":[],"sat":[],"sun":[]},"timezone":"UTC"}`,
		`{"days":{"Mon":[],"tue":[],"wed":[],"thu":[],"fri":[],"sat":[],"sun":[]},"timezone":"UTC"}`,
		`{"timezone":"UTC"}`, `{"timezone":7,"days":{}}`, `{"timezone":"UTC","days":[]}`, `{"timezone":"UTC","days":{"mon":{}}}`,
		`{"timezone":"UTC","days":{"mon":[{"open":8}]}}`, `{"timezone":"UTC","days":{},"open_now":true}`,
	}
	for _, s := range seeds {
		f.Add(byte(0), []byte(s))
	}
	f.Add(byte(3), []byte(seeds[0]))
	hostile(seeds[0], func(s string) { f.Add(byte(0), []byte(s)) })
	ep := endpoint{statuses: []int{200, 400, 403, 413}, field: func(f string) bool {
		return f == "timezone" || f == "days" || strings.HasPrefix(f, "days.")
	}}
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		actor := []chat.Operator{e.root, e.root, e.root, e.alice}[sel%4]
		days, zone := e.rows(t, "business_hours", "weekday, opens"), e.rows(t, "business_hours_zone", "id")
		var req struct {
			Timezone *string                                     `json:"timezone"`
			Days     map[string]*[]struct{ Open, Close *string } `json:"days"`
		}
		r := e.call(t, "PUT", hoursPath, e.tok[actor.ID], string(body))
		m := ep.answer(t, r, body, wellFormed(body, &req))
		if r.Status != 200 {
			unchanged(t, r.Status, "business_hours", days, e.rows(t, "business_hours", "weekday, opens"))
			unchanged(t, r.Status, "business_hours_zone", zone, e.rows(t, "business_hours_zone", "id"))
			return
		}
		stored, err := e.db.BusinessHours(ctx)
		if err != nil {
			t.Fatalf("the stored schedule does not load: %v", err)
		}
		if stored.Location.String() != *req.Timezone || m["timezone"] != *req.Timezone || daysJSON(t, m) != scheduleDays(stored) {
			t.Fatalf("set %s: stored %s, answered %v", body, stored, m)
		}
		if err := e.db.SetBusinessHours(ctx, orig, t0); err != nil {
			t.Fatal(err)
		}
	})
}

// scheduleDays renders a schedule's days as daysJSON renders an answer's.
func scheduleDays(s hours.Schedule) string {
	out := ""
	for _, d := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
		out += strings.ToLower(d.String()[:3]) + ":"
		for i, r := range s.Days[d] {
			if i > 0 {
				out += ","
			}
			out += hours.FormatClock(r.Opens) + "-" + hours.FormatClock(r.Closes)
		}
		out += " "
	}
	return out
}

func marshalJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

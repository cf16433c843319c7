package rest_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestClaim(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		bob := e.operator(t, "bob", chat.RoleAgent)
		c := e.waiting(t)
		path := lc + "conversations/" + c.LineUserID + "/claim"

		s := e.call(t, "POST", path, e.token(t, alice), nil).expect(t, 200)
		if s["status"] != "ACTIVE" || num(t, s["operator_id"]) != alice.ID || s["line_user_id"] != c.LineUserID ||
			s["claimed_at"] != t0.Add(time.Minute).Format(time.RFC3339) || s["started_at"] == "" || num(t, s["transfer_count"]) != 0 {
			t.Errorf("claimed %v", s)
		}
		for _, k := range []string{"closed_at", "closed_by", "transfer_reason"} {
			if _, ok := s[k]; ok {
				t.Errorf("open session has %s", k)
			}
		}
		e.call(t, "POST", path, e.token(t, bob), nil).expectError(t, 409, "session_already_claimed")
		e.call(t, "POST", path, e.token(t, alice), nil).expectError(t, 409, "session_already_claimed")

		bot := storetest.Customer(t, db)
		e.call(t, "POST", lc+"conversations/"+bot.LineUserID+"/claim", e.token(t, alice), nil).expectError(t, 404, "session_not_found")
		e.call(t, "POST", lc+"conversations/U0/claim", e.token(t, alice), nil).expectError(t, 400, "validation_error", "line_user_id")
	})
}

func TestClaimRace(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.waiting(t)
		const n = 8
		toks := make([]string, n)
		for i := range toks {
			toks[i] = e.token(t, storetest.Operator(t, db, "op"+string(rune('a'+i)), chat.RoleAgent))
		}
		statuses := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r, err := e.send("POST", lc+"conversations/"+c.LineUserID+"/claim", map[string]string{"Authorization": "Bearer " + toks[i]}, nil)
				statuses[i], errs[i] = r.Status, err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		won := 0
		for _, s := range statuses {
			switch s {
			case 200:
				won++
			case 409:
			default:
				t.Errorf("status %d", s)
			}
		}
		if won != 1 {
			t.Errorf("%d claims won: %v", won, statuses)
		}
	})
}

func TestClose(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		bob := e.operator(t, "bob", chat.RoleAgent)
		sup := e.operator(t, "sue", chat.RoleSupervisor)
		c := e.active(t, alice)
		path := lc + "conversations/" + c.LineUserID + "/close"

		e.call(t, "POST", path, e.token(t, bob), nil).expectError(t, 403, "forbidden")
		s := e.call(t, "POST", path, e.token(t, alice), nil).expect(t, 200)
		if s["status"] != "CLOSED" || s["closed_by"] != "OPERATOR" || s["closed_at"] == nil || num(t, s["operator_id"]) != alice.ID {
			t.Errorf("closed %v", s)
		}
		if cust, _ := db.Customer(context.Background(), c.LineUserID); cust.ChatMode != chat.ModeBot {
			t.Errorf("chat_mode %s after close", cust.ChatMode)
		}
		e.call(t, "POST", path, e.token(t, alice), nil).expectError(t, 404, "session_not_found")

		// A WAITING session: agents may not close it, supervisors may.
		w := e.waiting(t)
		wpath := lc + "conversations/" + w.LineUserID + "/close"
		e.call(t, "POST", wpath, e.token(t, alice), nil).expectError(t, 403, "forbidden")
		if s := e.call(t, "POST", wpath, e.token(t, sup), nil).expect(t, 200); s["status"] != "CLOSED" {
			t.Errorf("supervisor close %v", s)
		}
	})
}

func TestTransfer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		bob := e.operator(t, "bob", chat.RoleAgent)
		gone := e.operator(t, "gone", chat.RoleAgent)
		if err := db.SetOperatorActive(context.Background(), gone.ID, false); err != nil {
			t.Fatal(err)
		}
		c := e.active(t, alice)
		path := lc + "conversations/" + c.LineUserID + "/transfer"
		tok := e.token(t, alice)

		e.call(t, "POST", path, tok, map[string]any{"to_operator_id": gone.ID}).expectError(t, 404, "operator_not_found")
		e.call(t, "POST", path, tok, map[string]any{"to_operator_id": 99999}).expectError(t, 404, "operator_not_found")
		e.call(t, "POST", path, tok, map[string]any{"to_operator_id": alice.ID}).expectError(t, 400, "validation_error", "to_operator_id")
		e.call(t, "POST", path, tok, map[string]any{}).expectError(t, 400, "validation_error", "to_operator_id")
		e.call(t, "POST", path, tok, map[string]any{"to_operator_id": "2"}).expectError(t, 400, "validation_error", "to_operator_id")
		e.call(t, "POST", path, tok, `{"to_operator_id":`).expectError(t, 400, "validation_error")
		e.call(t, "POST", path, e.token(t, bob), map[string]any{"to_operator_id": bob.ID}).expectError(t, 403, "forbidden")

		s := e.call(t, "POST", path, tok, map[string]any{"to_operator_id": bob.ID, "reason": "shift ends"}).expect(t, 200)
		if s["status"] != "ACTIVE" || num(t, s["operator_id"]) != bob.ID || num(t, s["transfer_count"]) != 1 || s["transfer_reason"] != "shift ends" {
			t.Errorf("transferred %v", s)
		}
		// alice no longer owns it.
		e.call(t, "POST", path, tok, map[string]any{"to_operator_id": alice.ID}).expectError(t, 403, "forbidden")

		w := e.waiting(t)
		e.call(t, "POST", lc+"conversations/"+w.LineUserID+"/transfer", tok, map[string]any{"to_operator_id": bob.ID}).expectError(t, 409, "invalid_session_state")
		bot := storetest.Customer(t, db)
		e.call(t, "POST", lc+"conversations/"+bot.LineUserID+"/transfer", tok, map[string]any{"to_operator_id": bob.ID}).expectError(t, 404, "session_not_found")
	})
}

func TestSessionDetailShowsCSAT(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		alice := e.operator(t, "alice", chat.RoleAgent)
		c := e.active(t, alice)
		closed := e.call(t, "POST", lc+"conversations/"+c.LineUserID+"/close", e.token(t, alice), nil).expect(t, 200)
		path := lc + "sessions/" + itoa(num(t, closed["id"]))
		if s := e.call(t, "GET", path, e.token(t, alice), nil).expect(t, 200); s["status"] != "CLOSED" || s["csat_score"] != nil {
			t.Fatalf("closed, unrated session %v", s)
		}
		if _, err := db.RecordCSAT(context.Background(), num(t, closed["id"]), c.LineUserID, 4, t0); err != nil {
			t.Fatal(err)
		}
		if s := e.call(t, "GET", path, e.token(t, alice), nil).expect(t, 200); num(t, s["csat_score"]) != 4 {
			t.Fatalf("rated session %v", s)
		}
		e.call(t, "GET", lc+"sessions/999", e.token(t, alice), nil).expectError(t, 404, "session_not_found")
		e.call(t, "GET", lc+"sessions/x", e.token(t, alice), nil).expectError(t, 400, "validation_error", "id")
		e.call(t, "GET", path, "", nil).expectError(t, 401, "auth_missing_token")
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

package rest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// The live KPIs answer supervisors and admins with analytics_update's
// object (every key of the SKN set); agents get 403, no token 401.
func TestLiveKPIs(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	e.waiting(t)
	sup := e.operator(t, "sup", chat.RoleSupervisor)
	e.sockets.setOnline(sup.ID, "online")
	for _, role := range []chat.Role{chat.RoleSupervisor, chat.RoleAdmin} {
		op := sup
		if role == chat.RoleAdmin {
			op = e.operator(t, "admin", chat.RoleAdmin)
		}
		r := e.call(t, "GET", "/api/v1/admin/analytics/live-kpis", e.token(t, op), nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", role, r.Status, r.Body)
		}
		var k map[string]any
		if err := json.Unmarshal(r.Body, &k); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"waiting", "active", "avg_first_response_seconds", "avg_resolution_seconds", "csat_average",
			"csat_percentage", "fcr_rate", "abandonment_rate", "sla_breach_events_24h", "sessions_today", "human_mode_users",
			"timestamp", "online_operators", "avg_queue_wait_seconds"} {
			if _, ok := k[key]; !ok {
				t.Fatalf("%s: no %s in %s", role, key, r.Body)
			}
		}
		if k["waiting"] != 1.0 || k["online_operators"] != 1.0 {
			t.Fatalf("%s: %s", role, r.Body)
		}
	}
	for _, path := range []string{"/api/v1/admin/analytics/dashboard?days=7", "/api/v1/admin/analytics/hourly-stats"} {
		r := e.call(t, "GET", path, e.token(t, sup), nil)
		var body map[string]any
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &body) != nil || (body["trends"] == nil && body["hours"] == nil) {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	for _, path := range []string{"/api/v1/admin/analytics/dashboard?days=31", "/api/v1/admin/analytics/hourly-stats?days=0"} {
		if r := e.call(t, "GET", path, e.token(t, sup), nil); r.Status != http.StatusBadRequest {
			t.Fatalf("%s: %d %s, want 400", path, r.Status, r.Body)
		}
	}
	agent := e.operator(t, "agent", chat.RoleAgent)
	if r := e.call(t, "GET", "/api/v1/admin/analytics/dashboard", e.token(t, agent), nil); r.Status != http.StatusForbidden {
		t.Fatalf("agent dashboard: %d", r.Status)
	}
	if r := e.call(t, "GET", "/api/v1/admin/analytics/live-kpis", e.token(t, agent), nil); r.Status != http.StatusForbidden {
		t.Fatalf("agent: %d %s, want 403", r.Status, r.Body)
	}
	if r := e.call(t, "GET", "/api/v1/admin/analytics/live-kpis", "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", r.Status)
	}
}

// Operator performance answers supervisors {days, operators:[…]} with the
// SKN App's fields for each operator, or the one asked for; a bad
// operator_id or days is 400 naming it, an unknown operator 404, an agent
// 403.
func TestOperatorPerformanceEndpoint(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	sup := e.operator(t, "sup", chat.RoleSupervisor)
	agent := e.operator(t, "agent", chat.RoleAgent)
	const path = "/api/v1/admin/analytics/operator-performance"
	var body struct {
		Days      int              `json:"days"`
		Operators []map[string]any `json:"operators"`
	}
	r := e.call(t, "GET", path+"?days=3", e.token(t, sup), nil)
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &body) != nil || body.Days != 3 || len(body.Operators) != 2 {
		t.Fatalf("all: %d %s", r.Status, r.Body)
	}
	for _, key := range []string{"operator_id", "username", "display_name", "total_sessions", "avg_first_response_seconds",
		"avg_resolution_seconds", "avg_queue_wait_seconds", "availability_seconds", "availability_percent"} {
		if _, ok := body.Operators[0][key]; !ok {
			t.Fatalf("no %s in %s", key, r.Body)
		}
	}
	r = e.call(t, "GET", path+"?operator_id="+idStr(agent.ID), e.token(t, sup), nil)
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &body) != nil || body.Days != 7 || len(body.Operators) != 1 ||
		body.Operators[0]["username"] != "agent" {
		t.Fatalf("one: %d %s", r.Status, r.Body)
	}
	for q, want := range map[string]int{
		"?operator_id=abc": http.StatusBadRequest, "?operator_id=0": http.StatusBadRequest, "?days=31": http.StatusBadRequest,
		"?operator_id=" + idStr(agent.ID+100): http.StatusNotFound,
	} {
		if r := e.call(t, "GET", path+q, e.token(t, sup), nil); r.Status != want {
			t.Errorf("%s: %d %s, want %d", q, r.Status, r.Body, want)
		}
	}
	if r := e.call(t, "GET", path, e.token(t, agent), nil); r.Status != http.StatusForbidden {
		t.Fatalf("agent: %d", r.Status)
	}
}

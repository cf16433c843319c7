package rest

import (
	"math"
	"net/http"

	"livechat/internal/chat"
	"livechat/internal/wire"
)

// supervisorFor lets supervisors and admins through; others get 403
// saying what only they can do.
func (s *server) supervisorFor(what string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !actor(r).Role.CanOverride() {
			writeError(w, chat.E(chat.ErrForbidden, "Only a supervisor or an admin can %s", what))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// liveKPIs answers the live KPIs, the object analytics_update carries.
func (s *server) liveKPIs(w http.ResponseWriter, r *http.Request) {
	k, err := s.Service.KPIs(r.Context(), len(s.Sockets.Online()))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.KPIs(k))
}

// days is the ?days of an analytics call: 1 to 30, 7 by default.
func days(r *http.Request) (int, error) {
	n, err := intQuery(r, "days", 7, 1, 30)
	return int(n), err
}

// dashboard answers the trends, the volume, the peak hours, the funnel and
// the percentiles over ?days.
func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	n, err := days(r)
	if err != nil {
		writeError(w, err)
		return
	}
	d, err := s.Service.Dashboard(r.Context(), n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// hourlyStats answers the messages of ?days by hour of the day.
func (s *server) hourlyStats(w http.ResponseWriter, r *http.Request) {
	n, err := days(r)
	if err != nil {
		writeError(w, err)
		return
	}
	hours, err := s.Service.HourlyStats(r.Context(), n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"days": n, "hours": hours})
}

// operatorPerformance answers, per operator (?operator_id: one), its
// sessions' numbers and its availability over ?days.
func (s *server) operatorPerformance(w http.ResponseWriter, r *http.Request) {
	n, err := days(r)
	if err != nil {
		writeError(w, err)
		return
	}
	id, err := intQuery(r, "operator_id", 0, 1, math.MaxInt64)
	if err != nil {
		writeError(w, err)
		return
	}
	rows, err := s.Service.OperatorPerformance(r.Context(), id, n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"days": n, "operators": rows})
}

package rest

import (
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

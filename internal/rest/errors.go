package rest

import (
	"errors"
	"net/http"

	"livechat/internal/errcode"
)

// withStatus overrides the HTTP status errcode would pick, for the few
// transport-level conditions that have no status of their own there (413,
// 405); the code still comes from errcode.
type withStatus struct {
	err    error
	status int
}

func (e *withStatus) Error() string { return e.err.Error() }
func (e *withStatus) Unwrap() error { return e.err }

// writeError writes err through errcode, with the status it maps to unless
// the error carries a transport-level one.
func writeError(w http.ResponseWriter, err error) {
	status := 0
	var ws *withStatus
	if errors.As(err, &ws) {
		status = ws.status
	}
	errcode.WriteHTTP(w, err, status)
}

// fail reports err to the client and logs it when it was unexpected; the
// client then sees only "Internal error".
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errcode.Of(err).Internal {
		s.Log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, err)
}

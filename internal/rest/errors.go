package rest

import (
	"errors"
	"net/http"
	"strconv"
	"time"

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

// writeError writes {"error":{"code","message"[,"field"]}} (the shape of
// api.WriteError), with the code, message and status errcode maps err to.
func writeError(w http.ResponseWriter, err error) {
	m := errcode.Of(err)
	status := m.Status
	var ws *withStatus
	if errors.As(err, &ws) {
		status = ws.status
	}
	body := map[string]any{"code": m.Code, "message": m.Message}
	if m.Field != "" {
		body["field"] = m.Field
	}
	if m.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(m.RetryAfter))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="livechat"`)
	}
	writeJSON(w, status, map[string]any{"error": body})
}

// fail reports err to the client and logs it when it was unexpected; the
// client then sees only "Internal error".
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errcode.Of(err).Internal {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, err)
}

// retryAfterSeconds rounds up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	n := int((d + time.Second - 1) / time.Second)
	if n < 1 {
		n = 1
	}
	return strconv.Itoa(n)
}

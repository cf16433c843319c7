package errcode

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// WriteHTTP writes err as {"error":{"code","message"[,"field"]}}, the one
// JSON error shape of every HTTP endpoint. status 0 takes the mapped one.
func WriteHTTP(w http.ResponseWriter, err error, status int) {
	m := Of(err)
	Observe("http", m.Code)
	if status == 0 {
		status = m.Status
	}
	body := map[string]any{"code": m.Code, "message": m.Message}
	if m.Field != "" {
		body["field"] = m.Field
	}
	if m.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(m.RetryAfter))
	}
	if status == http.StatusUnauthorized && m.Code != InvalidSignature {
		w.Header().Set("WWW-Authenticate", `Bearer realm="livechat"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

// retryAfterSeconds rounds up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	n := int((d + time.Second - 1) / time.Second)
	if n < 1 {
		n = 1
	}
	return strconv.Itoa(n)
}

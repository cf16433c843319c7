package rest

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"livechat/internal/chat"
	"livechat/internal/errcode"
)

// record adds an audit row with the request's source; a failure is
// logged, never the request's.
func (s *server) record(r *http.Request, e chat.AuditEntry) {
	if s.Audit == nil {
		return // no audit log: nothing to look up
	}
	e.At = s.Clock.Now()
	e.IP, e.UserAgent = s.clientIP(r), r.UserAgent()
	chat.Record(r.Context(), s.Audit, e, s.Log)
}

// recordBy is record for the request's operator.
func (s *server) recordBy(r *http.Request, e chat.AuditEntry) {
	op := actor(r)
	e.ActorID, e.Actor = &op.ID, op.Username
	s.record(r, e)
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// audited records action on the resource the path names (param; "" for
// none) after next answered with a 2xx. hash records a customer id hashed.
func (s *server) audited(action, resource, param string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next(sw, r)
		if sw.status < 200 || sw.status > 299 {
			return
		}
		id := ""
		if param != "" {
			id = r.PathValue(param)
		}
		if action == chat.AuditCustomerErase {
			id = chat.HashedCustomerID(id)
		}
		s.recordBy(r, chat.AuditEntry{Action: action, ResourceType: resource, ResourceID: id})
	}
}

// auditLog answers the audit log for admins, newest first:
// ?cursor (the next_cursor of the page before) &actor (an operator id)
// &action &since (RFC 3339) &limit (1..200, 50).
func (s *server) auditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var aq chat.AuditQuery
	if v := q.Get("cursor"); v != "" {
		c, ok := parseAuditCursor(v)
		if !ok {
			writeError(w, invalid("cursor", "cursor must be the next_cursor of the page before"))
			return
		}
		aq.Cursor = c
	}
	if actor, err := intQuery(r, "actor", 0, 1, math.MaxInt64); err != nil {
		writeError(w, err)
		return
	} else if actor > 0 {
		aq.ActorID = &actor
	}
	if v := q.Get("action"); v != "" {
		if len(v) > 50 {
			writeError(w, invalid("action", "action is at most 50 characters"))
			return
		}
		aq.Action = v
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, invalid("since", "since must be an RFC 3339 time, like 2026-11-25T10:00:00Z"))
			return
		}
		aq.Since = &t
	}
	limit, err := intQuery(r, "limit", 50, 1, 200)
	if err != nil {
		writeError(w, err)
		return
	}
	aq.Limit = int(limit)
	items, err := s.Audit.AuditLog(r.Context(), aq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body := map[string]any{"items": items}
	if len(items) == aq.Limit {
		next := aq.Cursor.After(items)
		at := int64(0)
		if next.Log > 0 {
			at = next.LogAt.UnixMicro()
		}
		body["next_cursor"] = strconv.FormatInt(next.Log, 10) + "." + strconv.FormatInt(at, 10) + "." + strconv.FormatInt(next.Send, 10)
	}
	writeJSON(w, http.StatusOK, body)
}

// parseAuditCursor reads a next_cursor: "<log id>.<log time, µs since the
// epoch>.<send id>", each a non-negative integer.
func parseAuditCursor(v string) (chat.AuditCursor, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || len(v) > 60 {
		return chat.AuditCursor{}, false
	}
	var n [3]int64
	for i, p := range parts {
		x, err := strconv.ParseInt(p, 10, 64)
		if err != nil || x < 0 || strings.HasPrefix(p, "+") {
			return chat.AuditCursor{}, false
		}
		n[i] = x
	}
	c := chat.AuditCursor{Log: n[0], Send: n[2]}
	if c.Log > 0 {
		c.LogAt = time.UnixMicro(n[1]).UTC()
	}
	return c, true
}

// tokenRejected audits a refused bearer token (never the token).
func (s *server) tokenRejected(r *http.Request, err error) {
	s.record(r, chat.AuditEntry{Action: chat.AuditTokenRejected,
		Details: map[string]any{"transport": "http", "reason": errcode.Of(err).Code}})
}

// AuditStore records and reads the audit log.
type AuditStore interface {
	chat.Auditor
	AuditLog(ctx context.Context, q chat.AuditQuery) ([]chat.AuditEntry, error)
}

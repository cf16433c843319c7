package linefake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"livechat/internal/line"
)

// The control API lets another process (the customer simulator, a person
// with curl) drive a standalone fake (`livechat fakeline`). It lives under
// /_fake/, which LINE does not use, and needs no token.
//
//	GET  /_fake/requests?after=N&endpoint=push&wait=10s  recorded requests with seq > N; waits up to wait for one
//	POST /_fake/faults {"endpoint","count","status","retry_after_seconds","hang","accept"}
//	PUT  /_fake/profiles/{userId} {"displayName","pictureUrl","statusMessage"}
//	PUT  /_fake/content/{messageId} (raw body; its Content-Type is served back)
//	PUT  /_fake/content/{messageId}/preview (the same, for the preview)
func (s *Server) control() {
	s.mux.HandleFunc("GET /_fake/requests", s.listRequests)
	s.mux.HandleFunc("POST /_fake/faults", s.addFaults)
	s.mux.HandleFunc("PUT /_fake/profiles/{userId}", s.putProfile)
	s.mux.HandleFunc("PUT /_fake/content/{messageId}", s.putContent(s.SetContent))
	s.mux.HandleFunc("PUT /_fake/content/{messageId}/preview", s.putContent(s.SetPreview))
}

// maxWait bounds a long poll.
const maxWait = time.Minute

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, _ := strconv.Atoi(q.Get("after"))
	after = max(after, 0)
	var eps []Endpoint
	if ep := q.Get("endpoint"); ep != "" {
		eps = []Endpoint{Endpoint(ep)}
	}
	wait, _ := time.ParseDuration(q.Get("wait"))
	wait = min(max(wait, 0), maxWait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		var out []Request
		for _, rec := range s.requests[min(after, len(s.requests)):] {
			if rec.Done && (len(eps) == 0 || contains(eps, rec.Endpoint)) {
				out = append(out, rec)
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if len(out) > 0 || wait == 0 {
			writeJSON(w, answer{status: http.StatusOK, body: map[string]any{"requests": nonNil(out)}})
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			wait = 0
		case <-r.Context().Done():
			return
		case <-s.closed:
			wait = 0
		}
	}
}

func nonNil(rs []Request) []Request {
	if rs == nil {
		return []Request{}
	}
	return rs
}

func (s *Server) addFaults(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Endpoint          Endpoint `json:"endpoint"`
		Count             int      `json:"count"`
		Status            int      `json:"status"`
		RetryAfterSeconds int      `json:"retry_after_seconds"`
		Hang              bool     `json:"hang"`
		Accept            bool     `json:"accept"`
		Message           string   `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
		writeJSON(w, errorAnswer(http.StatusBadRequest, "bad fault: "+err.Error()))
		return
	}
	switch in.Endpoint {
	case Push, Reply, Profile, Loading, Content, Preview:
	default:
		writeJSON(w, errorAnswer(http.StatusBadRequest, "unknown endpoint "+strconv.Quote(string(in.Endpoint))))
		return
	}
	if !in.Hang && (in.Status < 400 || in.Status > 599) {
		writeJSON(w, errorAnswer(http.StatusBadRequest, "status must be 400..599 unless hang"))
		return
	}
	f := Fault{Status: in.Status, RetryAfter: time.Duration(in.RetryAfterSeconds) * time.Second, Hang: in.Hang, Accept: in.Accept, Message: in.Message}
	fs := make([]Fault, max(in.Count, 1))
	for i := range fs {
		fs[i] = f
	}
	s.FailNext(in.Endpoint, fs...)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) putProfile(w http.ResponseWriter, r *http.Request) {
	var p line.Profile
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&p); err != nil {
		writeJSON(w, errorAnswer(http.StatusBadRequest, "bad profile: "+err.Error()))
		return
	}
	p.UserID = r.PathValue("userId")
	s.SetProfile(p)
	w.WriteHeader(http.StatusNoContent)
}

// putContent stores the body with set (SetContent or SetPreview).
func (s *Server) putContent(set func(messageID, contentType string, data []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeJSON(w, errorAnswer(http.StatusRequestEntityTooLarge, "content too large"))
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
		set(r.PathValue("messageId"), ct, data)
		w.WriteHeader(http.StatusNoContent)
	}
}

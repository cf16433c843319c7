// Package linefake is an in-repo fake of the LINE Messaging API, for tests
// and the demo (LINE forbids load tests through its platform): push, reply,
// profile, loading animation and message content and previews. It checks the bearer
// token, records every request, can be scripted to fail the next calls of
// an endpoint, and keeps LINE's retry-key rule: a push whose
// X-Line-Retry-Key was already accepted gets 409 and is not delivered again.
package linefake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"livechat/internal/line"
)

// Endpoint names a LINE API the fake serves.
type Endpoint string

const (
	Push    Endpoint = "push"    // POST /v2/bot/message/push
	Reply   Endpoint = "reply"   // POST /v2/bot/message/reply
	Profile Endpoint = "profile" // GET /v2/bot/profile/{userId}
	Loading Endpoint = "loading" // POST /v2/bot/chat/loading/start
	Content Endpoint = "content" // GET /v2/bot/message/{messageId}/content (the data API)
	Preview Endpoint = "preview" // GET /v2/bot/message/{messageId}/content/preview (the data API)
)

// Request is one recorded call. Fields that do not apply to its endpoint
// are empty.
type Request struct {
	Seq        int             `json:"seq"` // 1-based order of arrival
	Endpoint   Endpoint        `json:"endpoint"`
	Method     string          `json:"method"`
	Path       string          `json:"path"`
	RetryKey   string          `json:"retry_key,omitempty"`
	Body       json.RawMessage `json:"body,omitempty"`
	To         string          `json:"to,omitempty"` // push "to", loading "chatId", profile user id, content message id
	ReplyToken string          `json:"reply_token,omitempty"`
	Messages   []line.Message  `json:"messages,omitempty"`
	Time       time.Time       `json:"time"`
	// Done is set once the fake answered (or the client gave up on a hang).
	Done bool `json:"done"`
	// Status is what the fake answered; 0 when it hung until the client gave up.
	Status int `json:"status"`
	// Delivered marks a push or reply that reached the customer: accepted
	// and not a repeat of an accepted retry key.
	Delivered bool `json:"delivered"`
}

// Fault is a scripted failure of one call.
type Fault struct {
	Status     int           // the status to answer (ignored with Hang)
	RetryAfter time.Duration // sent as Retry-After, in whole seconds
	Hang       bool          // answer nothing until the client gives up
	// Accept delivers a push or reply anyway and then fails the answer: the
	// response was lost, LINE has the message. A retry with the same key
	// gets 409.
	Accept  bool
	Message string // LINE's error message; a default per status otherwise
}

// Status fails a call with code (5xx, 400, 409, ...).
func Status(code int) Fault { return Fault{Status: code} }

// TooManyRequests fails a call with 429 and Retry-After.
func TooManyRequests(retryAfter time.Duration) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
}

// Timeout hangs a call until the client's context ends.
func Timeout() Fault { return Fault{Hang: true} }

// Lost is f after LINE accepted the message: the customer has it, the
// caller sees f.
func Lost(f Fault) Fault { f.Accept = true; return f }

// maxBody bounds request bodies, as LINE does.
const maxBody = 2 << 20

// Server is the fake. It is an http.Handler; Start serves it on loopback.
type Server struct {
	token string

	mu        sync.Mutex
	requests  []Request
	faults    map[Endpoint][]Fault
	profiles  map[string]line.Profile
	contents  map[string]content
	previews  map[string]content
	accepted  map[string]string // retry key → request id of its delivery
	usedReply map[string]bool
	nextID    int
	changed   chan struct{} // closed and replaced on every change

	closeOnce sync.Once
	closed    chan struct{}
	ts        *httptest.Server
	mux       *http.ServeMux
}

type content struct {
	contentType string
	data        []byte
}

// New returns a fake that accepts only "Bearer <token>"; an empty token
// accepts any non-empty bearer token.
func New(token string) *Server {
	s := &Server{
		token:     token,
		faults:    map[Endpoint][]Fault{},
		profiles:  map[string]line.Profile{},
		contents:  map[string]content{},
		previews:  map[string]content{},
		accepted:  map[string]string{},
		usedReply: map[string]bool{},
		changed:   make(chan struct{}),
		closed:    make(chan struct{}),
		mux:       http.NewServeMux(),
	}
	s.mux.HandleFunc("POST /v2/bot/message/push", s.api(Push, s.push))
	s.mux.HandleFunc("POST /v2/bot/message/reply", s.api(Reply, s.reply))
	s.mux.HandleFunc("GET /v2/bot/profile/{userId}", s.api(Profile, s.profile))
	s.mux.HandleFunc("POST /v2/bot/chat/loading/start", s.api(Loading, s.loading))
	s.mux.HandleFunc("GET /v2/bot/message/{messageId}/content", s.api(Content, s.content))
	s.mux.HandleFunc("GET /v2/bot/message/{messageId}/content/preview", s.api(Preview, s.preview))
	s.control()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Start serves the fake on a loopback port and returns its base URL, which
// is both the API and the data API base. Close stops it.
func (s *Server) Start() string {
	s.ts = httptest.NewServer(s)
	return s.ts.URL
}

// Close releases hanging calls and stops a started server.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	if s.ts != nil {
		s.ts.Close()
	}
}

// SetProfile makes GET /v2/bot/profile/{p.UserID} answer p.
func (s *Server) SetProfile(p line.Profile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profiles[p.UserID] = p
}

// SetContent makes the content endpoint serve data for messageID.
func (s *Server) SetContent(messageID, contentType string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contents[messageID] = content{contentType, append([]byte(nil), data...)}
}

// SetPreview makes the preview endpoint serve data for messageID.
func (s *Server) SetPreview(messageID, contentType string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.previews[messageID] = content{contentType, append([]byte(nil), data...)}
}

// FailNext makes the next len(faults) calls of ep fail, in order.
func (s *Server) FailNext(ep Endpoint, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[ep] = append(s.faults[ep], faults...)
}

// Requests returns every recorded request so far, of the given endpoints
// (all when none are given), in order of arrival.
func (s *Server) Requests(eps ...Endpoint) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return filter(s.requests, eps, false)
}

// Deliveries returns the pushes and replies that reached the customer.
func (s *Server) Deliveries() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Delivered {
			out = append(out, r)
		}
	}
	return out
}

// Changed returns a channel closed at the next recorded change (a request
// arriving or being answered), for waiting without sleeping.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// WaitFor waits until at least n requests to ep were answered, and returns
// the answered ones; it fails after timeout.
func (s *Server) WaitFor(ep Endpoint, n int, timeout time.Duration) ([]Request, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got := filter(s.requests, []Endpoint{ep}, true)
		ch := s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return got, fmt.Errorf("linefake: %d answered %s requests after %v, want %d", len(got), ep, timeout, n)
		}
	}
}

// filter copies the requests of eps (all if empty), only answered ones if done.
func filter(rs []Request, eps []Endpoint, done bool) []Request {
	var out []Request
	for _, r := range rs {
		if done && !r.Done {
			continue
		}
		if len(eps) == 0 || contains(eps, r.Endpoint) {
			out = append(out, r)
		}
	}
	return out
}

func contains(eps []Endpoint, ep Endpoint) bool {
	for _, e := range eps {
		if e == ep {
			return true
		}
	}
	return false
}

// notify wakes waiters. The caller holds mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// answer is what an endpoint handler decided.
type answer struct {
	status    int
	body      any
	header    http.Header
	raw       []byte // served as is (content)
	delivered bool
}

// errorAnswer is LINE's error shape.
func errorAnswer(status int, msg string, details ...detail) answer {
	b := map[string]any{"message": msg}
	if len(details) > 0 {
		b["details"] = details
	}
	return answer{status: status, body: b}
}

type detail struct {
	Message  string `json:"message"`
	Property string `json:"property,omitempty"`
}

// wire is the union of the JSON request bodies the fake reads.
type wire struct {
	To             string         `json:"to"`
	ReplyToken     string         `json:"replyToken"`
	Messages       []line.Message `json:"messages"`
	ChatID         string         `json:"chatId"`
	LoadingSeconds *int           `json:"loadingSeconds"`
}

// handler decides the answer to a call; it runs under mu.
type handler func(r *http.Request, rec *Request, body wire) answer

// api wraps an endpoint: record, authenticate, apply a scripted fault, run
// h, answer, record the outcome.
func (s *Server) api(ep Endpoint, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeJSON(w, errorAnswer(http.StatusRequestEntityTooLarge, "The request body is too large"))
			return
		}
		rec := Request{
			Endpoint: ep,
			Method:   r.Method,
			Path:     r.URL.Path,
			RetryKey: r.Header.Get("X-Line-Retry-Key"),
			Time:     time.Now(),
		}
		var body wire
		badJSON := false
		if len(raw) > 0 {
			rec.Body = json.RawMessage(raw)
			if json.Unmarshal(raw, &body) != nil {
				badJSON = true
				rec.Body = nil
			}
		}
		rec.To, rec.ReplyToken, rec.Messages = body.To, body.ReplyToken, body.Messages
		switch ep {
		case Loading:
			rec.To = body.ChatID
		case Profile:
			rec.To = r.PathValue("userId")
		case Content, Preview:
			rec.To = r.PathValue("messageId")
		}

		s.mu.Lock()
		rec.Seq = len(s.requests) + 1
		s.requests = append(s.requests, rec)
		idx := len(s.requests) - 1
		s.notify()
		var (
			a     answer
			fault *Fault
		)
		switch {
		case !s.authorized(r):
			a = errorAnswer(http.StatusUnauthorized, "Authentication failed. Confirm that the access token in the authorization header is valid.")
		case badJSON:
			a = errorAnswer(http.StatusBadRequest, "The request body has 1 error(s)", detail{Message: "invalid JSON"})
		default:
			if fs := s.faults[ep]; len(fs) > 0 {
				f := fs[0]
				s.faults[ep] = fs[1:]
				fault = &f
			}
			if fault == nil || fault.Accept {
				a = h(r, &s.requests[idx], body)
			}
		}
		s.mu.Unlock()

		if fault != nil && fault.Hang {
			select {
			case <-r.Context().Done():
			case <-s.closed:
			}
			s.finish(idx, 0, a.delivered)
			// Drop the connection: the client sees no answer at all.
			panic(http.ErrAbortHandler)
		}
		if fault != nil {
			delivered := a.delivered
			msg := fault.Message
			if msg == "" {
				msg = http.StatusText(fault.Status)
			}
			a = errorAnswer(fault.Status, msg)
			a.delivered = delivered
			if fault.RetryAfter > 0 {
				a.header = http.Header{"Retry-After": {strconv.Itoa(int((fault.RetryAfter + time.Second - 1) / time.Second))}}
			}
		}
		writeJSON(w, a)
		s.finish(idx, a.status, a.delivered)
	}
}

func (s *Server) finish(idx, status int, delivered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[idx].Done = true
	s.requests[idx].Status = status
	s.requests[idx].Delivered = delivered
	s.notify()
}

func (s *Server) authorized(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	if s.token == "" {
		return len(got) > len("Bearer ") && got[:len("Bearer ")] == "Bearer "
	}
	return got == "Bearer "+s.token
}

func writeJSON(w http.ResponseWriter, a answer) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	if a.raw != nil {
		w.WriteHeader(a.status)
		_, _ = w.Write(a.raw)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(a.body)
}

// requestID is LINE's X-Line-Request-Id. The caller holds mu.
func (s *Server) requestID() string {
	s.nextID++
	return fmt.Sprintf("fake-%08x", s.nextID)
}

// uuidRE is the form LINE requires of X-Line-Retry-Key.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *Server) push(_ *http.Request, rec *Request, b wire) answer {
	if rec.RetryKey != "" {
		if !uuidRE.MatchString(rec.RetryKey) {
			return errorAnswer(http.StatusBadRequest, "The value for the 'X-Line-Retry-Key' header is invalid")
		}
		if id, ok := s.accepted[rec.RetryKey]; ok {
			a := errorAnswer(http.StatusConflict, "The retry key is already accepted")
			a.header = http.Header{"X-Line-Accepted-Request-Id": {id}}
			return a
		}
	}
	if b.To == "" {
		return errorAnswer(http.StatusBadRequest, "The request body has 1 error(s)", detail{Message: "Must not be empty", Property: "to"})
	}
	if a, bad := checkMessages(b.Messages); bad {
		return a
	}
	id := s.requestID()
	if rec.RetryKey != "" {
		s.accepted[rec.RetryKey] = id
	}
	return s.sent(id, len(b.Messages))
}

func (s *Server) reply(_ *http.Request, _ *Request, b wire) answer {
	if b.ReplyToken == "" || s.usedReply[b.ReplyToken] {
		return errorAnswer(http.StatusBadRequest, "Invalid reply token")
	}
	if a, bad := checkMessages(b.Messages); bad {
		return a
	}
	s.usedReply[b.ReplyToken] = true
	return s.sent(s.requestID(), len(b.Messages))
}

// sent is LINE's success answer to a push or reply.
func (s *Server) sent(id string, n int) answer {
	msgs := make([]map[string]string, n)
	for i := range msgs {
		msgs[i] = map[string]string{"id": id + "-" + strconv.Itoa(i), "quoteToken": "q-" + id + "-" + strconv.Itoa(i)}
	}
	return answer{
		status:    http.StatusOK,
		body:      map[string]any{"sentMessages": msgs},
		header:    http.Header{"X-Line-Request-Id": {id}},
		delivered: true,
	}
}

// checkMessages applies LINE's basic rules: 1 to 5 messages, each typed,
// texts 1 to 5000 characters.
func checkMessages(ms []line.Message) (answer, bool) {
	if len(ms) < 1 || len(ms) > 5 {
		return errorAnswer(http.StatusBadRequest, "The request body has 1 error(s)", detail{Message: "Size must be between 1 and 5", Property: "messages"}), true
	}
	for i, m := range ms {
		prop := "messages[" + strconv.Itoa(i) + "]"
		typ, _ := m["type"].(string)
		if typ == "" {
			return errorAnswer(http.StatusBadRequest, "The request body has 1 error(s)", detail{Message: "Must be one of the following values: [text, image, ...]", Property: prop + ".type"}), true
		}
		if typ == "text" {
			text, _ := m["text"].(string)
			if n := utf8.RuneCountInString(text); n < 1 || n > 5000 {
				return errorAnswer(http.StatusBadRequest, "The request body has 1 error(s)", detail{Message: "Length must be between 1 and 5000", Property: prop + ".text"}), true
			}
		}
	}
	return answer{}, false
}

func (s *Server) profile(r *http.Request, _ *Request, _ wire) answer {
	p, ok := s.profiles[r.PathValue("userId")]
	if !ok {
		return errorAnswer(http.StatusNotFound, "Not found")
	}
	return answer{status: http.StatusOK, body: p}
}

func (s *Server) loading(_ *http.Request, _ *Request, b wire) answer {
	if b.ChatID == "" {
		return errorAnswer(http.StatusBadRequest, "The request body has 1 error(s)", detail{Message: "Must not be empty", Property: "chatId"})
	}
	if n := b.LoadingSeconds; n != nil && (*n < 5 || *n > 60 || *n%5 != 0) {
		return errorAnswer(http.StatusBadRequest, "The request body has 1 error(s)", detail{Message: "Must be a multiple of 5 between 5 and 60", Property: "loadingSeconds"})
	}
	return answer{status: http.StatusAccepted, body: map[string]any{}}
}

func (s *Server) content(r *http.Request, _ *Request, _ wire) answer {
	return serveContent(s.contents, r.PathValue("messageId"))
}

func (s *Server) preview(r *http.Request, _ *Request, _ wire) answer {
	return serveContent(s.previews, r.PathValue("messageId"))
}

func serveContent(from map[string]content, messageID string) answer {
	c, ok := from[messageID]
	if !ok {
		return errorAnswer(http.StatusNotFound, "Not found")
	}
	return answer{status: http.StatusOK, raw: c.data, header: http.Header{"Content-Type": {c.contentType}}}
}

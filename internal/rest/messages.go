package rest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	lc "livechat/gen/livechat"
	"livechat/internal/chat"
)

const (
	maxTempIDLen  = 100 // as the socket's temp_id
	maxQueryLen   = 200
	defaultSearch = 20
)

// historyPage is a page of older messages, oldest first.
type historyPage struct {
	Messages []lc.ChatMessageSchema `json:"messages"`
	HasMore  bool                   `json:"has_more"`
}

// history pages backwards through a conversation by seq: ?before_seq=N
// gives the messages before N, the latest when absent.
func (s *server) history(w http.ResponseWriter, r *http.Request) {
	id, err := lineUserIDParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	before, err := intQuery(r, "before_seq", 0, 1, 1<<62)
	if err != nil {
		writeError(w, err)
		return
	}
	limit, err := limitQuery(r, defaultPage)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	if _, err := s.Service.Customer(ctx, id); err != nil {
		s.fail(w, r, fmt.Errorf("history of %s: %w", id, err))
		return
	}
	msgs, more, err := s.Store.RecentMessages(ctx, id, before, limit)
	if err != nil {
		s.fail(w, r, fmt.Errorf("history of %s: %w", id, err))
		return
	}
	writeJSON(w, http.StatusOK, historyPage{Messages: s.Wire.Messages(msgs), HasMore: more})
}

// idempotencyKeyHeader names the send's idempotency key.
const idempotencyKeyHeader = "Idempotency-Key"

// idempotencyKey is the request's Idempotency-Key, "" without one. It is
// an identifier as temp_id is (it is stored as the message's temp_id):
// storable, at most maxTempIDLen characters, and given once, not empty.
func idempotencyKey(r *http.Request) (string, error) {
	vs, ok := r.Header[idempotencyKeyHeader]
	switch {
	case !ok:
		return "", nil
	case len(vs) != 1:
		return "", invalid(idempotencyKeyHeader, idempotencyKeyHeader+" must be given once")
	case vs[0] == "":
		return "", invalid(idempotencyKeyHeader, idempotencyKeyHeader+" must not be empty")
	}
	if err := identifier(idempotencyKeyHeader, vs[0]); err != nil {
		return "", err
	}
	if utf8.RuneCountInString(vs[0]) > maxTempIDLen {
		return "", invalid(idempotencyKeyHeader, fmt.Sprintf("%s must be at most %d characters", idempotencyKeyHeader, maxTempIDLen))
	}
	return vs[0], nil
}

// sendMessage is the REST fallback of send_message: the same service call,
// so the same checks, the same seq and the same new_message broadcast (to
// every socket in the room, as none of them sent it).
//
// It is idempotent per operator and conversation by temp_id, as the
// socket's send is: a temp_id already used answers 201 with the message
// stored under it, and stores and sends nothing. An Idempotency-Key header
// takes the place of the body's temp_id (stored and echoed as temp_id),
// and binds the text too: the key again with another text is 422
// idempotency_key_reused.
func (s *server) sendMessage(w http.ResponseWriter, r *http.Request) {
	id, err := lineUserIDParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req struct {
		Text   string `json:"text"`
		TempID string `json:"temp_id"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := identifier("temp_id", req.TempID); err != nil {
		writeError(w, err)
		return
	}
	if utf8.RuneCountInString(req.TempID) > maxTempIDLen {
		writeError(w, invalid("temp_id", fmt.Sprintf("temp_id must be at most %d characters", maxTempIDLen)))
		return
	}
	send := chat.SendRequest{Actor: actor(r), LineUserID: id, Text: req.Text, TempID: req.TempID}
	if key != "" {
		send.TempID, send.SameText = key, true
	}
	m, err := s.Service.SendMessage(r.Context(), send)
	if err != nil {
		s.fail(w, r, fmt.Errorf("send to %s: %w", id, restField(err)))
		return
	}
	writeJSON(w, http.StatusCreated, s.Wire.Message(m, send.TempID))
}

// restField renames the socket's payload.X fields (the service names them
// as the socket does) to the body's X.
func restField(err error) error {
	var ce *chat.Error
	if errors.As(err, &ce) && strings.HasPrefix(ce.Field, "payload.") {
		c := *ce
		c.Field = strings.TrimPrefix(c.Field, "payload.")
		return &c
	}
	return err
}

// searchResult is the search answer, newest first.
type searchResult struct {
	Items []searchItem `json:"items"`
}

// searchMessages finds messages containing q (case-insensitive; % and _ are
// literal), in one conversation or all.
func (s *server) searchMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// Free text: what no database stores (NUL, invalid UTF-8 from a
	// percent-encoded query) is dropped, as from a sent message.
	text := chat.StripUnstorable(q.Get("q"))
	if strings.TrimSpace(text) == "" {
		writeError(w, invalid("q", "q is required"))
		return
	}
	if utf8.RuneCountInString(text) > maxQueryLen {
		writeError(w, invalid("q", fmt.Sprintf("q must be at most %d characters", maxQueryLen)))
		return
	}
	lineUserID := q.Get("line_user_id")
	if lineUserID != "" && !chat.ValidLineUserID(lineUserID) {
		writeError(w, invalid("line_user_id", "line_user_id must be U followed by 32 lowercase hex digits"))
		return
	}
	limit, err := limitQuery(r, defaultSearch)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	msgs, err := s.Store.SearchMessages(ctx, text, lineUserID, limit)
	if err != nil {
		s.fail(w, r, fmt.Errorf("search messages: %w", err))
		return
	}
	// Hits cluster in few conversations; look each customer up once.
	names := map[string]string{}
	out := searchResult{Items: make([]searchItem, 0, len(msgs))}
	for _, m := range msgs {
		name, ok := names[m.LineUserID]
		if !ok {
			c, err := s.Store.Customer(ctx, m.LineUserID)
			if err != nil {
				s.fail(w, r, fmt.Errorf("search messages: %w", err))
				return
			}
			name = displayName(c)
			names[m.LineUserID] = name
		}
		out.Items = append(out.Items, searchItem{ChatMessageSchema: s.Wire.Message(m, ""), DisplayName: name})
	}
	writeJSON(w, http.StatusOK, out)
}

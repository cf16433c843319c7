package rest

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"livechat/internal/chat"
)

// historyOnOpen is how many messages the conversation detail carries, as
// many as the socket's join_room.
const historyOnOpen = 50

// conversationList is one inbox page and the queue counters.
type conversationList struct {
	Conversations []conversationItem `json:"conversations"`
	NextCursor    string             `json:"next_cursor,omitempty"`
	WaitingCount  int                `json:"waiting_count"`
	ActiveCount   int                `json:"active_count"`
}

// listConversations is the inbox: newest activity first, keyset paginated,
// with unread counts from the caller's read markers.
func (s *server) listConversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := q.Get("status")
	switch status {
	case "", string(chat.StatusWaiting), string(chat.StatusActive), string(chat.StatusClosed), string(chat.ModeBot):
	default:
		writeError(w, invalid("status", "status must be WAITING, ACTIVE, CLOSED or BOT"))
		return
	}
	limit, err := limitQuery(r, defaultPage)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	tag := q.Get("tag")
	if utf8.RuneCountInString(tag) > chat.MaxTagName || !chat.Storable(tag) {
		writeError(w, invalid("tag", fmt.Sprintf("tag must be a tag's name, at most %d characters", chat.MaxTagName)))
		return
	}
	page, err := s.Store.ListConversations(ctx, chat.ConversationFilter{
		Status: status, OperatorID: actor(r).ID, Cursor: q.Get("cursor"), Limit: limit, Tag: tag,
	})
	if errors.Is(err, chat.ErrInvalid) {
		// The status is checked above, so this is the opaque cursor.
		writeError(w, invalid("cursor", "cursor is not one this server issued"))
		return
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("list conversations: %w", err))
		return
	}
	// Only the open-session counts are used; "since" does not matter.
	stats, err := s.Store.SessionStats(ctx, s.Clock.Now())
	if err != nil {
		s.fail(w, r, fmt.Errorf("list conversations: %w", err))
		return
	}
	out := conversationList{
		Conversations: make([]conversationItem, 0, len(page.Items)),
		NextCursor:    page.NextCursor,
		WaitingCount:  stats.Waiting,
		ActiveCount:   stats.Active,
	}
	for _, c := range page.Items {
		out.Conversations = append(out.Conversations, conversationView(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// conversation is one conversation with its latest messages; opening it
// marks it read for the caller, as join_room does.
func (s *server) conversation(w http.ResponseWriter, r *http.Request) {
	id, err := lineUserIDParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	h, err := s.Service.Conversation(r.Context(), actor(r).ID, id, historyOnOpen)
	if err != nil {
		s.fail(w, r, fmt.Errorf("conversation %s: %w", id, err))
		return
	}
	tags, err := s.Store.ConversationTags(r.Context(), []string{id})
	if err != nil {
		s.fail(w, r, fmt.Errorf("conversation %s: %w", id, err))
		return
	}
	writeJSON(w, http.StatusOK, detailView(s.Wire, h, tags[id]))
}

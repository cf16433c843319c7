package rest

import (
	"errors"
	"fmt"
	"net/http"

	"livechat/internal/chat"
)

type tagList struct {
	Items []chat.Tag `json:"items"`
	Total int        `json:"total"`
}

// listTags lists the tags (any operator: they tag conversations).
func (s *server) listTags(w http.ResponseWriter, r *http.Request) {
	tags, err := s.Tags.ListTags(r.Context())
	if err != nil {
		s.fail(w, r, fmt.Errorf("list tags: %w", err))
		return
	}
	if tags == nil {
		tags = []chat.Tag{}
	}
	writeJSON(w, http.StatusOK, tagList{Items: tags, Total: len(tags)})
}

// createTag adds a tag (admins): {name, color?}.
func (s *server) createTag(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name  *string `json:"name"`
		Color string  `json:"color"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Name == nil {
		writeError(w, invalid("name", "name is required"))
		return
	}
	t, err := chat.CleanTag(*req.Name, req.Color)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.Tags.CreateTag(r.Context(), &t, s.Clock.Now()); err != nil {
		if errors.Is(err, chat.ErrConflict) {
			err = fmt.Errorf("%w (%w)", &chat.Error{Kind: chat.ErrConflict, Field: "name", Message: fmt.Sprintf("A tag is already named %q", t.Name)}, err)
		}
		s.fail(w, r, fmt.Errorf("create tag: %w", err))
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

// deleteTag deletes a tag, and takes it off every conversation (admins);
// every operator gets conversation_tagged for each that had it.
func (s *server) deleteTag(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.Service.DeleteTag(r.Context(), id); err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			err = fmt.Errorf("%w (%w)", chat.E(chat.ErrNotFound, "Tag %d not found", id), err)
		}
		s.fail(w, r, fmt.Errorf("delete tag %d: %w", id, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setConversationTags replaces a conversation's tags (any operator):
// {tag_ids: [...]}; every operator gets conversation_tagged.
func (s *server) setConversationTags(w http.ResponseWriter, r *http.Request) {
	luid, err := lineUserIDParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req struct {
		TagIDs *[]int64 `json:"tag_ids"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.TagIDs == nil {
		writeError(w, invalid("tag_ids", "tag_ids is required (an empty list removes every tag)"))
		return
	}
	tags, err := s.Service.SetConversationTags(r.Context(), actor(r), luid, *req.TagIDs)
	if errors.Is(err, chat.ErrNotFound) {
		writeError(w, fmt.Errorf("%w (%w)", chat.E(chat.ErrNotFound, "Conversation %s not found", luid), err))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"line_user_id": luid, "tags": tags})
}

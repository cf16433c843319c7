package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"livechat/internal/chat"
)

// CannedStore persists canned responses (saved replies the dashboard pastes
// into the message box); *store.DB implements it. Every method maps an
// unknown or deleted (inactive) id to chat.ErrNotFound, a shortcut already
// used by an active row to chat.ErrConflict, and a bad field to an
// *chat.Error of kind chat.ErrInvalid (the rules of chat.CannedPatch.Clean).
type CannedStore interface {
	// ListCannedResponses returns the active rows, of one category when
	// category is not empty, ordered by category, then shortcut.
	ListCannedResponses(ctx context.Context, category string) ([]chat.CannedResponse, error)
	// CreateCannedResponse inserts c as an active row and fills it in as
	// stored (ID, normalised fields, timestamps).
	CreateCannedResponse(ctx context.Context, c *chat.CannedResponse, now time.Time) error
	// UpdateCannedResponse applies the present fields of p and returns the row.
	UpdateCannedResponse(ctx context.Context, id int64, p chat.CannedPatch, now time.Time) (chat.CannedResponse, error)
	// DeleteCannedResponse soft-deletes a row, freeing its shortcut.
	DeleteCannedResponse(ctx context.Context, id int64, now time.Time) error
	// UseCannedResponse counts one use and returns the row.
	UseCannedResponse(ctx context.Context, id int64) (chat.CannedResponse, error)
}

// cannedJSON is a canned response on the wire. The shortcut carries its
// leading slash ("/greeting"); category is "" when there is none.
type cannedJSON struct {
	ID         int64     `json:"id"`
	Shortcut   string    `json:"shortcut"`
	Title      string    `json:"title"`
	Content    string    `json:"content"`
	Category   string    `json:"category"`
	UsageCount int64     `json:"usage_count"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func cannedView(c chat.CannedResponse) cannedJSON {
	return cannedJSON{
		ID:         c.ID,
		Shortcut:   c.Shortcut,
		Title:      c.Title,
		Content:    c.Content,
		Category:   c.Category,
		UsageCount: c.UsageCount,
		CreatedAt:  c.CreatedAt.UTC(),
		UpdatedAt:  c.UpdatedAt.UTC(),
	}
}

type cannedList struct {
	Items []cannedJSON `json:"items"`
	Total int          `json:"total"`
}

// cannedRequest is the body of a create or a partial update; a field left
// out (or null) is absent.
type cannedRequest struct {
	Shortcut *string `json:"shortcut"`
	Title    *string `json:"title"`
	Content  *string `json:"content"`
	Category *string `json:"category"`
}

func (q cannedRequest) patch() chat.CannedPatch {
	return chat.CannedPatch{Shortcut: q.Shortcut, Title: q.Title, Content: q.Content, Category: q.Category}
}

// listCanned lists the active canned responses, optionally of one
// ?category (any operator: agents use them in the picker).
func (s *server) listCanned(w http.ResponseWriter, r *http.Request) {
	category := r.URL.Query().Get("category")
	p, err := chat.CannedPatch{Category: &category}.Clean()
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.Canned.ListCannedResponses(r.Context(), *p.Category)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list canned responses: %w", err))
		return
	}
	out := cannedList{Items: make([]cannedJSON, 0, len(list)), Total: len(list)}
	for _, c := range list {
		out.Items = append(out.Items, cannedView(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// createCanned adds a canned response (admin only).
func (s *server) createCanned(w http.ResponseWriter, r *http.Request) {
	var req cannedRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"shortcut", req.Shortcut}, {"title", req.Title}, {"content", req.Content}} {
		if f.v == nil {
			writeError(w, invalid(f.name, f.name+" is required"))
			return
		}
	}
	p, err := req.patch().Clean()
	if err != nil {
		writeError(w, err)
		return
	}
	by := actor(r).ID
	c := chat.CannedResponse{Shortcut: *p.Shortcut, Title: *p.Title, Content: *p.Content, CreatedBy: &by}
	if p.Category != nil {
		c.Category = *p.Category
	}
	if err := s.Canned.CreateCannedResponse(r.Context(), &c, s.Clock.Now()); err != nil {
		s.fail(w, r, fmt.Errorf("create canned response: %w", cannedErr(0, c.Shortcut, err)))
		return
	}
	s.Log.InfoContext(r.Context(), "canned response created", "canned_id", c.ID, "shortcut", c.Shortcut, "by", by)
	writeJSON(w, http.StatusCreated, cannedView(c))
}

// updateCanned changes the given fields of an active canned response
// (admin only); an empty body changes nothing and returns the row.
func (s *server) updateCanned(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req cannedRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	p, err := req.patch().Clean()
	if err != nil {
		writeError(w, err)
		return
	}
	c, err := s.Canned.UpdateCannedResponse(r.Context(), id, p, s.Clock.Now())
	if err != nil {
		shortcut := ""
		if p.Shortcut != nil {
			shortcut = *p.Shortcut
		}
		s.fail(w, r, fmt.Errorf("update canned response %d: %w", id, cannedErr(id, shortcut, err)))
		return
	}
	s.Log.InfoContext(r.Context(), "canned response updated", "canned_id", id, "by", actor(r).ID)
	writeJSON(w, http.StatusOK, cannedView(c))
}

// deleteCanned soft-deletes a canned response (admin only); its shortcut
// becomes free for a new one.
func (s *server) deleteCanned(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.Canned.DeleteCannedResponse(r.Context(), id, s.Clock.Now()); err != nil {
		s.fail(w, r, fmt.Errorf("delete canned response %d: %w", id, cannedErr(id, "", err)))
		return
	}
	s.Log.InfoContext(r.Context(), "canned response deleted", "canned_id", id, "by", actor(r).ID)
	w.WriteHeader(http.StatusNoContent)
}

// useCanned counts one use of a canned response (any operator; the
// dashboard calls it when it pastes one) and returns the row.
func (s *server) useCanned(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	c, err := s.Canned.UseCannedResponse(r.Context(), id)
	if err != nil {
		s.fail(w, r, fmt.Errorf("use canned response %d: %w", id, cannedErr(id, "", err)))
		return
	}
	writeJSON(w, http.StatusOK, cannedView(c))
}

// cannedErr words the store's not-found (of the {id} row; id 0 on create)
// and conflict errors for the client; other errors pass through.
func cannedErr(id int64, shortcut string, err error) error {
	switch {
	case id > 0 && errors.Is(err, chat.ErrNotFound):
		return fmt.Errorf("%w (%w)", chat.E(chat.ErrNotFound, "Canned response %d not found", id), err)
	case errors.Is(err, chat.ErrConflict):
		return fmt.Errorf("%w (%w)", &chat.Error{Kind: chat.ErrConflict, Field: "shortcut",
			Message: fmt.Sprintf("Shortcut %s is already used by another canned response", shortcut)}, err)
	}
	return err
}

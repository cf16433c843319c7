package rest

import (
	"context"
	"net/http"
	"regexp"

	"livechat/internal/chat"
	"livechat/internal/errcode"
)

// PrivacyStore is the data subject's rights (Thailand's PDPA) in the store.
type PrivacyStore interface {
	ExportCustomer(ctx context.Context, lineUserID string) (chat.CustomerExport, error)
	EraseCustomer(ctx context.Context, lineUserID string) (chat.Erased, error)
}

var lineUserIDPattern = regexp.MustCompile(`^U[0-9a-f]{32}$`)

// customerID is the path's line_user_id, or a validation error naming it.
func customerID(r *http.Request) (string, error) {
	id := r.PathValue("line_user_id")
	if !lineUserIDPattern.MatchString(id) {
		return "", &errcode.Error{Code: errcode.ValidationError, Message: "line_user_id must be U and 32 lowercase hex digits", Field: "line_user_id"}
	}
	return id, nil
}

// exportCustomer answers everything stored of a customer.
func (s *server) exportCustomer(w http.ResponseWriter, r *http.Request) {
	id, err := customerID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	x, err := s.Privacy.ExportCustomer(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="customer-`+id+`.json"`)
	writeJSON(w, http.StatusOK, x)
}

// eraseCustomer deletes everything stored of a customer: 200 with the
// rows deleted by table; 409 while it has an open session.
func (s *server) eraseCustomer(w http.ResponseWriter, r *http.Request) {
	id, err := customerID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	erased, err := s.Privacy.EraseCustomer(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.Log.Info("customer erased", "line_user_id", id, "by", actor(r).ID)
	writeJSON(w, http.StatusOK, map[string]any{"line_user_id": id, "erased": erased})
}

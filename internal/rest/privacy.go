package rest

import (
	"context"
	"net/http"

	"livechat/internal/chat"
)

// PrivacyStore is the data subject's rights (Thailand's PDPA) in the store.
type PrivacyStore interface {
	ExportCustomer(ctx context.Context, lineUserID string) (chat.CustomerExport, error)
	EraseCustomer(ctx context.Context, lineUserID string) (chat.Erased, error)
}

// exportCustomer answers everything stored of a customer.
func (s *server) exportCustomer(w http.ResponseWriter, r *http.Request) {
	id, err := lineUserIDParam(r)
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
	id, err := lineUserIDParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	erased, err := s.Privacy.EraseCustomer(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.Log.InfoContext(r.Context(), "customer erased", "line_user_id", id, "by", actor(r).ID)
	writeJSON(w, http.StatusOK, map[string]any{"line_user_id": id, "erased": erased})
}

package rest

import (
	"fmt"
	"net/http"
	"strconv"

	"livechat/internal/chat"
)

// Page sizes for the list endpoints.
const (
	defaultPage = 50
	maxPage     = 100
)

// lineUserIDParam is the {line_user_id} path segment, checked for format
// before it reaches the store.
func lineUserIDParam(r *http.Request) (string, error) {
	id := r.PathValue("line_user_id")
	if !chat.ValidLineUserID(id) {
		return "", invalid("line_user_id", "line_user_id must be U followed by 32 lowercase hex digits")
	}
	return id, nil
}

// identifier refuses an id or key (a username, a temp_id, a time zone name)
// that holds what the databases cannot store, NUL or invalid UTF-8. Unlike
// free text it is not altered: a stripped id would name something else.
func identifier(field, v string) error {
	if !chat.Storable(v) {
		return invalid(field, field+" must be valid UTF-8 without NUL characters")
	}
	return nil
}

// idParam is the {id} path segment, a positive integer.
func idParam(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, invalid("id", "id must be a positive integer")
	}
	return id, nil
}

// intQuery reads an optional integer query parameter within [lo, hi].
func intQuery(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, invalid(name, fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi))
	}
	return n, nil
}

// limitQuery is the optional page size ?limit=1..maxPage.
func limitQuery(r *http.Request, def int) (int, error) {
	n, err := intQuery(r, "limit", int64(def), 1, maxPage)
	return int(n), err
}

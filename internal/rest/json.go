package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"livechat/internal/chat"
	"livechat/internal/errcode"
)

// maxBody bounds every JSON request body.
const maxBody = 64 << 10

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // tokens and customer data
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads exactly one JSON object into v, refusing unknown fields,
// trailing data and bodies over maxBody. Its errors are client errors with a
// readable message.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return jsonError(err)
		}
		return invalid("", "request body must hold a single JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var (
		tooBig  *http.MaxBytesError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return &withStatus{
			err:    &errcode.Error{Code: errcode.ValidationError, Message: fmt.Sprintf("request body must be at most %d KiB", maxBody>>10)},
			status: http.StatusRequestEntityTooLarge,
		}
	case errors.Is(err, io.EOF):
		return invalid("", "request body required: a JSON object")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "malformed JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return invalid("", "request body must be a JSON object")
		}
		return invalid(typeErr.Field, fmt.Sprintf("%s must be a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String())))
	}
	// encoding/json words an unknown field as: json: unknown field "name".
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return invalid(name, "unknown field "+name)
	}
	return invalid("", "malformed JSON")
}

// jsonKind names a Go kind as JSON does.
func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "number"
	case k == "bool":
		return "boolean"
	case k == "slice", k == "array":
		return "array"
	case k == "struct", k == "map":
		return "object"
	}
	return k
}

// invalid is a validation_error naming the offending field.
func invalid(field, message string) error {
	return &chat.Error{Kind: chat.ErrInvalid, Message: message, Field: field}
}

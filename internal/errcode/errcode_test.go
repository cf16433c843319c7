package errcode_test

import (
	"errors"
	"net/http"
	"testing"

	"sigs.k8s.io/yaml"

	"livechat/asyncapi"
	"livechat/internal/chat"
	"livechat/internal/errcode"
)

// TestInSpecIsTheSpecsEnum keeps the socket's allowed codes equal to the
// spec's ErrorCode enum.
func TestInSpecIsTheSpecsEnum(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				ErrorCode struct {
					Enum []string `json:"enum"`
				} `json:"ErrorCode"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := yaml.Unmarshal(asyncapi.YAML, &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas.ErrorCode.Enum
	if len(enum) < 12 {
		t.Fatalf("spec enum has %d codes", len(enum))
	}
	for _, c := range enum {
		if !errcode.InSpec(c) {
			t.Errorf("spec code %q not InSpec", c)
		}
	}
	for _, c := range []string{errcode.NotFound, errcode.Conflict, errcode.InvalidSignature, errcode.Unavailable, errcode.IdempotencyKeyReused} {
		if errcode.InSpec(c) {
			t.Errorf("HTTP-only code %q is InSpec", c)
		}
	}
}

func TestMapping(t *testing.T) {
	cases := []struct {
		err    error
		code   string
		status int
	}{
		{chat.ErrAlreadyClaimed, errcode.SessionAlreadyClaimed, http.StatusConflict},
		{chat.ErrSessionNotFound, errcode.SessionNotFound, http.StatusNotFound},
		{chat.E(chat.ErrForbidden, "no"), errcode.Forbidden, http.StatusForbidden},
		{chat.ErrTooLong, errcode.MessageTooLong, http.StatusBadRequest},
		{chat.ErrTokenExpired, errcode.AuthExpiredToken, http.StatusUnauthorized},
		{&errcode.Error{Code: errcode.NotFound}, errcode.NotFound, http.StatusNotFound},
		{chat.E(chat.ErrIdempotencyKeyReused, "again"), errcode.IdempotencyKeyReused, http.StatusUnprocessableEntity},
		{&errcode.Error{Code: errcode.IdempotencyKeyReused}, errcode.IdempotencyKeyReused, http.StatusUnprocessableEntity},
		{errors.New("disk on fire"), errcode.InternalError, http.StatusInternalServerError},
	}
	for _, tc := range cases {
		m := errcode.Of(tc.err)
		if m.Code != tc.code || m.Status != tc.status {
			t.Errorf("%v → %s %d, want %s %d", tc.err, m.Code, m.Status, tc.code, tc.status)
		}
	}
	if m := errcode.Of(errors.New("disk on fire")); !m.Internal || m.Message != "Internal error" {
		t.Errorf("internal errors must not leak: %+v", m)
	}
}

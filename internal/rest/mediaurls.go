package rest

import (
	"errors"
	"net/http"

	"livechat/internal/chat"
	"livechat/internal/mediaurl"
)

// signedOrBearer admits a request for media content with a bearer token,
// as every route, or without one with a signed URL (?exp&sig, the url and
// preview_url of a media message's payload) made for this message and
// variant and not expired: a browser's <img> or <video> sends no header.
// A request that carries a bearer token is judged by it alone.
func (s *server) signedOrBearer(next http.Handler) http.Handler {
	bearer := s.bearer(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if s.MediaURLs == nil || r.Header.Get("Authorization") != "" || !q.Has("sig") {
			bearer.ServeHTTP(w, r)
			return
		}
		id, err := idParam(r)
		if err != nil {
			writeError(w, err)
			return
		}
		variant, err := variantParam(r)
		if err != nil {
			writeError(w, err)
			return
		}
		switch err := s.MediaURLs.Verify(id, variant, q.Get("exp"), q.Get("sig")); {
		case errors.Is(err, mediaurl.ErrExpired):
			writeError(w, chat.E(chat.ErrForbidden, "This media link has expired; reload the conversation for a fresh one"))
		case err != nil:
			writeError(w, chat.E(chat.ErrForbidden, "This media link is not valid: its signature does not match"))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// variantParam is ?preview: absent for the content, 1 for LINE's preview.
func variantParam(r *http.Request) (mediaurl.Variant, error) {
	switch r.URL.Query().Get("preview") {
	case "":
		return mediaurl.Full, nil
	case "1":
		return mediaurl.Preview, nil
	}
	return 0, invalid("preview", "preview must be 1 or absent")
}

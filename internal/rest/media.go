package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode"

	"livechat/internal/chat"
	"livechat/internal/errcode"
	"livechat/internal/line"
	"livechat/internal/mediaurl"
)

// Content fetches what a customer sent (an image, file, video or audio) by
// its LINE message id, or LINE's preview of an image or video;
// *line.Client implements it. The string is the content type LINE gave.
// Errors: line.ErrNoToken when no channel token is configured, a
// *line.APIError for LINE's answers (404 once LINE no longer has the
// content), anything else for network failures.
type Content interface {
	Content(ctx context.Context, messageID string) (io.ReadCloser, string, error)
	Preview(ctx context.Context, messageID string) (io.ReadCloser, string, error)
}

// DefaultMediaMaxBytes bounds one streamed media body. The body is copied
// through in small chunks, never held in memory, so the bound only stops a
// runaway upstream; it is LINE's own maximum for a file a user sends
// (200 MB), so no real content is cut. A body that turns out larger is
// aborted mid-stream, and the client sees a truncated transfer, not a
// complete-looking file.
const DefaultMediaMaxBytes = 200 << 20

// Timeouts of a media stream. Neither bounds the whole transfer (a large
// video to a slow client may take minutes); each bounds a stall.
const (
	// mediaIdleTimeout is the longest wait for LINE: for its answer, and
	// then for each further chunk of the body.
	mediaIdleTimeout = 30 * time.Second
	// mediaWriteTimeout is the longest a chunk may take to reach the
	// client; it replaces the server's WriteTimeout for this response.
	mediaWriteTimeout = 30 * time.Second
	mediaChunk        = 32 << 10
)

// mediaTypes are the message types whose content LINE stores.
var mediaTypes = map[string]bool{"image": true, "file": true, "video": true, "audio": true}

// previewTypes are the media types LINE makes a preview of.
var previewTypes = map[string]bool{"image": true, "video": true}

// errMediaStalled cancels a fetch when LINE stops answering.
var errMediaStalled = errors.New("LINE stopped sending the content")

// mediaPayload is what the webhook stores about a media message
// (internal/webhook/content.go).
type mediaPayload struct {
	LineMessageID   string `json:"line_message_id"`
	FileName        string `json:"file_name"`
	ContentProvider string `json:"content_provider"`
}

// messageContent streams the content of a customer's media message from
// LINE, or with ?preview=1 LINE's preview of an image or video (any
// operator, or a signed URL: see signedOrBearer).
func (s *server) messageContent(w http.ResponseWriter, r *http.Request) {
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
	notFound := func(why string) {
		writeError(w, chat.E(chat.ErrNotFound, "Message %d has no customer media content%s", id, why))
	}
	m, err := s.Store.Message(r.Context(), id)
	if errors.Is(err, chat.ErrNotFound) {
		writeError(w, fmt.Errorf("%w (%w)", chat.E(chat.ErrNotFound, "Message %d not found", id), err))
		return
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("load message %d: %w", id, err))
		return
	}
	if m.Direction != chat.Incoming || !mediaTypes[m.MessageType] {
		notFound("")
		return
	}
	if m.UnsentAt != nil {
		notFound(" (the customer unsent it)")
		return
	}
	if variant == mediaurl.Preview && !previewTypes[m.MessageType] {
		notFound(" preview (LINE previews images and videos only)")
		return
	}
	var p mediaPayload
	if len(m.Payload) == 0 || json.Unmarshal(m.Payload, &p) != nil || strings.TrimSpace(p.LineMessageID) == "" {
		notFound("")
		return
	}
	if p.ContentProvider != "" && p.ContentProvider != "line" {
		// LINE keeps no copy of content that another service hosts.
		notFound(" stored by LINE (its content provider is " + p.ContentProvider + ")")
		return
	}

	// One watchdog bounds each wait for LINE: the answer, then every chunk.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	idle := time.AfterFunc(mediaIdleTimeout, func() { cancel(errMediaStalled) })
	defer idle.Stop()
	log := s.Log.With("message_id", id, "line_message_id", p.LineMessageID, "variant", variant.String())

	fetch := s.Media.Content
	if variant == mediaurl.Preview {
		fetch = s.Media.Preview
	}
	body, ctype, err := fetch(ctx, p.LineMessageID)
	idle.Stop()
	if err != nil {
		s.mediaError(w, r, log, id, context.Cause(ctx), err)
		return
	}
	defer body.Close()

	h := w.Header()
	h.Set("Content-Type", mediaType(ctype))
	h.Set("Content-Disposition", disposition(m.MessageType, p.FileName))
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	// The content is the customer's, not ours: never let it run as a page
	// of this origin, whatever type it claims.
	h.Set("Content-Security-Policy", "sandbox")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}

	limit := s.MediaMaxBytes
	if limit <= 0 {
		limit = DefaultMediaMaxBytes
	}
	rc := http.NewResponseController(w)
	// Per-chunk write deadlines replace the server's WriteTimeout; do not
	// leave the last one on the connection for its next request.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	buf := make([]byte, mediaChunk)
	var sent int64
	started := time.Now()
	for {
		idle.Reset(mediaIdleTimeout)
		n, rerr := body.Read(buf)
		idle.Stop()
		if n > 0 {
			if sent+int64(n) > limit {
				log.WarnContext(ctx, "media: content over the limit, aborted", "limit_bytes", limit, "sent_bytes", sent)
				s.abortMedia(w, sent, &errcode.Error{Code: errcode.Unavailable,
					Message: fmt.Sprintf("The content is larger than the limit of %d bytes", limit)})
				return
			}
			_ = rc.SetWriteDeadline(time.Now().Add(mediaWriteTimeout))
			_, werr := w.Write(buf[:n])
			if werr == nil {
				// Relay what LINE sent at once: a video starts playing
				// while the rest is on its way.
				werr = rc.Flush()
			}
			if werr != nil {
				log.DebugContext(ctx, "media: client went away", "sent_bytes", sent, "err", werr)
				return
			}
			sent += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			if r.Context().Err() != nil {
				log.DebugContext(ctx, "media: client went away", "sent_bytes", sent)
				return
			}
			log.WarnContext(ctx, "media: reading LINE content failed", "sent_bytes", sent, "err", rerr, "cause", context.Cause(ctx))
			s.abortMedia(w, sent, &errcode.Error{Code: errcode.Unavailable, Message: "LINE content could not be read"})
			return
		}
	}
	log.DebugContext(ctx, "media: streamed", "bytes", sent, "content_type", h.Get("Content-Type"), "took", time.Since(started))
}

// abortMedia ends a stream that went wrong: with a 502 while nothing was
// sent yet, else by dropping the connection, so that the client sees a
// failed transfer rather than a short file.
func (s *server) abortMedia(w http.ResponseWriter, sent int64, err error) {
	if sent == 0 {
		for _, k := range []string{"Content-Disposition", "Cache-Control", "Content-Security-Policy"} {
			w.Header().Del(k)
		}
		writeError(w, &withStatus{err: err, status: http.StatusBadGateway})
		return
	}
	panic(http.ErrAbortHandler)
}

// mediaError answers a failed fetch: LINE has no such content → 404, no
// channel token → 503, LINE failing or not answering → 502.
func (s *server) mediaError(w http.ResponseWriter, r *http.Request, log *slog.Logger, id int64, cause, err error) {
	var ae *line.APIError
	switch {
	case errors.Is(err, line.ErrNoToken):
		writeError(w, &errcode.Error{Code: errcode.Unavailable, Message: "LINE channel token not configured: customer media cannot be fetched"})
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		log.DebugContext(r.Context(), "media: LINE has no such content", "err", err)
		writeError(w, fmt.Errorf("%w (%w)", chat.E(chat.ErrNotFound, "The content of message %d is no longer available from LINE", id), err))
	case r.Context().Err() != nil:
		log.DebugContext(r.Context(), "media: client went away before LINE answered", "err", err)
	default:
		if errors.Is(cause, errMediaStalled) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		log.WarnContext(r.Context(), "media: fetching LINE content failed", "err", err)
		writeError(w, &withStatus{
			err:    &errcode.Error{Code: errcode.Unavailable, Message: "LINE did not deliver the content; try again later"},
			status: http.StatusBadGateway,
		})
	}
}

// mediaType is LINE's content type if it parses, else application/octet-stream.
func mediaType(ct string) string {
	t, params, err := mime.ParseMediaType(ct)
	if err != nil || t == "" {
		return "application/octet-stream"
	}
	return mime.FormatMediaType(t, params)
}

// disposition is "inline", with the customer's file name for a file.
func disposition(messageType, fileName string) string {
	if messageType != "file" {
		return "inline"
	}
	name := safeFileName(fileName)
	if name == "" {
		return "inline"
	}
	if d := mime.FormatMediaType("inline", map[string]string{"filename": name}); d != "" {
		return d
	}
	return "inline"
}

// safeFileName keeps the base name of a customer's file name, without
// control characters or path separators.
func safeFileName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '\\', r == unicode.ReplacementChar:
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(path.Base("/" + name))
	if name == "/" || name == "." || name == ".." {
		return ""
	}
	return name
}

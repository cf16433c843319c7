package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"livechat/internal/chat"
)

// What LINE documents of the fields we store or use (Messaging API
// reference, "Webhook Event Objects"). An event that breaks them is not
// LINE's, or not one we could store and read back: it is refused at the
// door, recorded as rejected, and never processed.
var (
	// webhookEventId is a ULID (Crockford's base32, 26 characters).
	ulidRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$`)
	// Event and message types are short camelCase words; types LINE adds
	// later are stored and left unhandled.
	typeRE = regexp.MustCompile(`^[A-Za-z]{1,32}$`)
	// Message ids are decimal.
	messageIDRE = regexp.MustCompile(`^[0-9]{1,32}$`)
	// Sticker package and sticker ids, and the sticker resource type.
	stickerIDRE = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)
)

// Bounds, in bytes. LINE's own limits are lower; these only keep what we
// store sane.
const (
	maxToken      = 256  // replyToken, quoteToken
	maxMode       = 16   // active, standby
	maxPostback   = 300  // LINE's postback data limit
	maxURL        = 2000 // content provider URLs
	maxName       = 1000 // file names, location titles and addresses
	maxFutureSkew = 24 * time.Hour
)

// earliest is before any LINE event: the app launched in June 2011. A
// timestamp before it is not milliseconds, or not LINE's.
var earliest = time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)

// errIgnored marks an event that is LINE's but not ours to process: group
// and room chats, and events without a user source.
var errIgnored = errors.New("not from a 1:1 chat")

// rejection is why an event is refused.
type rejection struct{ reason string }

func (r *rejection) Error() string { return r.reason }

func reject(format string, args ...any) error { return &rejection{fmt.Sprintf(format, args...)} }

// check decodes one event object and validates what we store and use of
// it, against now (timestamps may not lie in the future beyond clock
// skew). It returns the event, errIgnored for events of group and room
// chats, or a *rejection saying what is wrong.
func check(raw json.RawMessage, now time.Time) (event, error) {
	var e event
	if !utf8.Valid(raw) {
		return e, reject("the event is not valid UTF-8")
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return e, reject("the event is not a JSON object")
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, reject("the event is not a LINE event object: %s", jsonProblem(err))
	}
	if !typeRE.MatchString(e.Type) {
		return e, reject("type %s is not an event type", quote(e.Type))
	}
	if e.WebhookEventID != "" && !ulidRE.MatchString(e.WebhookEventID) {
		return e, reject("webhookEventId %s is not a ULID", quote(e.WebhookEventID))
	}
	if e.Timestamp == 0 {
		return e, reject("timestamp is missing")
	}
	if at := time.UnixMilli(e.Timestamp); e.Timestamp < earliest.UnixMilli() || at.After(now.Add(maxFutureSkew)) {
		return e, reject("timestamp %d is not a time in milliseconds since 2011 and at most %s ahead", e.Timestamp, maxFutureSkew)
	}
	if len(e.Mode) > maxMode || !printable(e.Mode) {
		return e, reject("mode %s is not a mode", quote(e.Mode))
	}
	if len(e.ReplyToken) > maxToken || !printable(e.ReplyToken) {
		return e, reject("replyToken is not a reply token")
	}
	if e.Source.Type != "user" {
		return e, errIgnored
	}
	if !chat.ValidLineUserID(e.Source.UserID) {
		return e, reject("source.userId %s is not a LINE user id", quote(e.Source.UserID))
	}
	switch e.Type {
	case "message":
		if e.Message == nil {
			return e, reject("a message event without a message")
		}
		return e, checkMessage(e.Message)
	case "unsend":
		if e.Unsend == nil || !messageIDRE.MatchString(e.Unsend.MessageID) {
			return e, reject("an unsend event without a LINE message id")
		}
	case "postback":
		if e.Postback == nil {
			return e, reject("a postback event without a postback")
		}
		if len(e.Postback.Data) > maxPostback {
			return e, reject("postback.data is longer than %d bytes", maxPostback)
		}
	}
	return e, nil
}

// checkMessage validates a message object. Free text (text, file names,
// titles, addresses) may hold anything; processing cleans it.
func checkMessage(m *message) error {
	if !messageIDRE.MatchString(m.ID) {
		return reject("message.id %s is not a LINE message id", quote(m.ID))
	}
	if !typeRE.MatchString(m.Type) {
		return reject("message.type %s is not a message type", quote(m.Type))
	}
	if len(m.QuoteToken) > maxToken || !printable(m.QuoteToken) {
		return reject("message.quoteToken is not a quote token")
	}
	switch {
	case len(m.FileName) > maxName, len(m.Title) > maxName, len(m.Address) > maxName:
		return reject("a message name, title or address is longer than %d bytes", maxName)
	case m.FileSize < 0, m.Duration < 0:
		return reject("message.fileSize and message.duration may not be negative")
	case !finite(m.Latitude) || math.Abs(m.Latitude) > 90 || !finite(m.Longitude) || math.Abs(m.Longitude) > 180:
		return reject("message.latitude and message.longitude are not coordinates")
	}
	if m.Type == "sticker" && (!stickerIDRE.MatchString(m.PackageID) || !stickerIDRE.MatchString(m.StickerID) ||
		(m.StickerResourceType != "" && !stickerIDRE.MatchString(m.StickerResourceType))) {
		return reject("message.packageId, stickerId and stickerResourceType must be ids")
	}
	if p := m.ContentProvider; p != nil {
		if p.Type != "" && p.Type != "line" && p.Type != "external" {
			return reject("message.contentProvider.type %s is not line or external", quote(p.Type))
		}
		for _, u := range []string{p.OriginalContentURL, p.PreviewImageURL} {
			if u != "" && !webURL(u) {
				return reject("message.contentProvider holds a URL that is not an http(s) URL of at most %d bytes", maxURL)
			}
		}
	}
	return nil
}

// webURL reports an absolute http(s) URL without control characters.
func webURL(s string) bool {
	if len(s) > maxURL || !printable(s) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// printable reports s without control characters (NUL included).
func printable(s string) bool {
	return !strings.ContainsFunc(s, unicode.IsControl)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// quote shows a refused value in a reason, bounded and escaped.
func quote(s string) string {
	if len(s) > 64 {
		s = truncate(s, 64) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// jsonProblem words a decoding error without echoing the input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be a JSON %s", te.Field, te.Type.Kind())
	}
	return "malformed JSON"
}

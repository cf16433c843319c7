// Package mediaurl signs and checks the URLs of customer media. A browser's
// <img> or <video> cannot send a bearer header, so the message payloads
// carry URLs to the content endpoint that authorise themselves: an
// HMAC-SHA256 over the message id, the variant (full or preview) and the
// expiry, with a key derived from the server's secret.
package mediaurl

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"time"

	"livechat/internal/clock"
)

// Variant is which content of a message a URL fetches.
type Variant int

const (
	Full    Variant = iota // the content itself
	Preview                // LINE's preview of an image or video
)

func (v Variant) String() string {
	if v == Preview {
		return "preview"
	}
	return "full"
}

// DefaultTTL is how long a URL stays valid at least (LIVECHAT_MEDIA_URL_TTL).
const DefaultTTL = 10 * time.Minute

// keyLabel derives the signing key from the server's secret, so that a
// signature is worth nothing to anything else that secret signs (tokens).
const keyLabel = "livechat media urls v1"

// Errors of Verify.
var (
	ErrBadSignature = errors.New("mediaurl: bad signature")
	ErrExpired      = errors.New("mediaurl: expired")
)

// Signer makes and checks signed media URLs. It is safe for concurrent use.
type Signer struct {
	key   []byte
	ttl   time.Duration
	clock clock.Clock
}

// New returns a signer keyed from secret; ttl <= 0 is DefaultTTL, and it is
// at least a second (expiries are whole seconds).
func New(secret []byte, ttl time.Duration, c clock.Clock) *Signer {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	ttl = max(ttl.Truncate(time.Second), time.Second)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(keyLabel))
	return &Signer{key: m.Sum(nil), ttl: ttl, clock: c}
}

// Path is the content endpoint of message id (relative: the dashboard is
// same-origin or proxied). The REST router serves it.
func Path(id int64) string {
	return "/api/v1/admin/live-chat/messages/" + strconv.FormatInt(id, 10) + "/content"
}

// URL is the signed URL of message id's content. The expiry is rounded up
// to a TTL boundary, one to two TTLs away: within one TTL window a message
// renders the same URL, so browsers can cache what it fetched.
func (s *Signer) URL(id int64, v Variant) string {
	ttl := int64(s.ttl / time.Second)
	exp := (s.clock.Now().Unix()/ttl + 2) * ttl
	q := url.Values{}
	if v == Preview {
		q.Set("preview", "1")
	}
	q.Set("exp", strconv.FormatInt(exp, 10))
	q.Set("sig", s.sign(id, v, exp))
	return Path(id) + "?" + q.Encode()
}

// Verify checks the exp and sig query parameters of a request for message
// id's content of variant v: ErrBadSignature when they were not made by
// this signer for that id and variant, ErrExpired when they were but the
// expiry has passed. The signature is compared in constant time.
func (s *Signer) Verify(id int64, v Variant, exp, sig string) error {
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != exp {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(sig), []byte(s.sign(id, v, n))) {
		return ErrBadSignature
	}
	if !s.clock.Now().Before(time.Unix(n, 0)) {
		return ErrExpired
	}
	return nil
}

func (s *Signer) sign(id int64, v Variant, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strconv.FormatInt(id, 10) + "\n" + v.String() + "\n" + strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

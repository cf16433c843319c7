package mediaurl_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"livechat/internal/clock"
	"livechat/internal/mediaurl"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// parse splits a signed URL into its path and query.
func parse(t *testing.T, raw string) (string, url.Values) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.IsAbs() || u.Host != "" {
		t.Fatalf("%s is not a relative URL", raw)
	}
	return u.Path, u.Query()
}

func TestSignedURLs(t *testing.T) {
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start.Add(4 * time.Minute))
	s := mediaurl.New(secret, 10*time.Minute, clk)

	full, preview := s.URL(42, mediaurl.Full), s.URL(42, mediaurl.Preview)
	path, q := parse(t, full)
	if path != "/api/v1/admin/live-chat/messages/42/content" || path != mediaurl.Path(42) || q.Has("preview") {
		t.Fatalf("full URL %s", full)
	}
	ppath, pq := parse(t, preview)
	if ppath != path || pq.Get("preview") != "1" || pq.Get("sig") == q.Get("sig") {
		t.Fatalf("preview URL %s (full %s)", preview, full)
	}
	// The expiry is rounded up to a TTL boundary, one to two TTLs ahead.
	if want := strconv.FormatInt(start.Add(20*time.Minute).Unix(), 10); q.Get("exp") != want {
		t.Fatalf("exp %s, want %s (03:20)", q.Get("exp"), want)
	}
	if err := s.Verify(42, mediaurl.Full, q.Get("exp"), q.Get("sig")); err != nil {
		t.Fatalf("full: %v", err)
	}
	if err := s.Verify(42, mediaurl.Preview, pq.Get("exp"), pq.Get("sig")); err != nil {
		t.Fatalf("preview: %v", err)
	}

	// Within one TTL window a message renders the same URL.
	clk.Advance(5*time.Minute + 59*time.Second) // 03:09:59
	if again := s.URL(42, mediaurl.Full); again != full {
		t.Fatalf("URL changed within the window: %s, then %s", full, again)
	}
	clk.Advance(time.Second) // 03:10: the next window
	if next := s.URL(42, mediaurl.Full); next == full {
		t.Fatal("URL unchanged in the next window")
	}

	// Anything changed is a bad signature.
	bad := []struct {
		name     string
		id       int64
		v        mediaurl.Variant
		exp, sig string
	}{
		{"other message", 43, mediaurl.Full, q.Get("exp"), q.Get("sig")},
		{"other variant", 42, mediaurl.Preview, q.Get("exp"), q.Get("sig")},
		{"later expiry", 42, mediaurl.Full, strconv.FormatInt(start.Add(24*time.Hour).Unix(), 10), q.Get("sig")},
		{"padded expiry", 42, mediaurl.Full, "0" + q.Get("exp"), q.Get("sig")},
		{"flipped signature", 42, mediaurl.Full, q.Get("exp"), flip(q.Get("sig"))},
		{"short signature", 42, mediaurl.Full, q.Get("exp"), q.Get("sig")[:20]},
		{"no signature", 42, mediaurl.Full, q.Get("exp"), ""},
		{"no expiry", 42, mediaurl.Full, "", q.Get("sig")},
		{"negative expiry", 42, mediaurl.Full, "-1", q.Get("sig")},
	}
	for _, b := range bad {
		if err := s.Verify(b.id, b.v, b.exp, b.sig); !errors.Is(err, mediaurl.ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", b.name, err)
		}
	}
	// A signer with another secret, or the bare secret as the key (what a
	// token signs with), made none of these.
	if err := mediaurl.New([]byte("another secret, at least 32 bytes"), 10*time.Minute, clk).Verify(42, mediaurl.Full, q.Get("exp"), q.Get("sig")); !errors.Is(err, mediaurl.ErrBadSignature) {
		t.Errorf("another secret: %v, want ErrBadSignature", err)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("42\nfull\n" + q.Get("exp")))
	if bare := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); bare == q.Get("sig") {
		t.Error("the signature is keyed with the bare secret, not a derived key")
	}

	// Expired at the expiry, not a moment before.
	clk.Advance(9*time.Minute + 59*time.Second) // 03:19:59
	if err := s.Verify(42, mediaurl.Full, q.Get("exp"), q.Get("sig")); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	clk.Advance(time.Second) // 03:20
	if err := s.Verify(42, mediaurl.Full, q.Get("exp"), q.Get("sig")); !errors.Is(err, mediaurl.ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}
}

// flip changes the signature's first character.
func flip(sig string) string {
	if strings.HasPrefix(sig, "A") {
		return "B" + sig[1:]
	}
	return "A" + sig[1:]
}

func TestTTLDefaultsAndWholeSeconds(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000_200, 0)) // a multiple of 600 s
	for _, c := range []struct {
		ttl  time.Duration
		want int64 // seconds from now to the expiry
	}{
		{0, 2 * 600},                 // DefaultTTL
		{1500 * time.Millisecond, 2}, // whole seconds
		{time.Millisecond, 2},        // at least a second
	} {
		_, q := parse(t, mediaurl.New(secret, c.ttl, clk).URL(1, mediaurl.Full))
		if got := q.Get("exp"); got != strconv.FormatInt(1_000_000_200+c.want, 10) {
			t.Errorf("ttl %v: exp %s, want now+%d", c.ttl, got, c.want)
		}
	}
}

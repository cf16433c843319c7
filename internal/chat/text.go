package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTextLen is the longest message, in characters (not bytes).
const MaxTextLen = 5000

// Storable reports whether s can be stored as text by every database the
// store supports: Postgres refuses NUL and invalid UTF-8 (SQLite would store
// them, so the two would disagree). Identifiers that fail it are refused
// with a validation error naming the field; free text is stripped instead
// (StripUnstorable, CleanText, CleanLine).
func Storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// StripUnstorable drops what Storable refuses, NUL and invalid UTF-8, and
// keeps everything else as given.
func StripUnstorable(s string) string {
	if Storable(s) {
		return s
	}
	return strip(s, func(r rune) bool { return r == 0 })
}

// CleanText prepares an operator's text for LINE, which shows text as is:
// it drops control characters other than newline and tab (NUL among them)
// and invalid UTF-8, trims, and keeps everything else as typed (no HTML
// escaping, newlines preserved). The result must be 1 to MaxTextLen
// characters.
func CleanText(s string) (string, error) {
	s = strings.TrimSpace(strip(s, func(r rune) bool {
		return r != '\n' && r != '\t' && unicode.IsControl(r)
	}))
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return "", &Error{Kind: ErrInvalid, Message: "text must not be empty", Field: "payload.text"}
	}
	if n > MaxTextLen {
		return "", &Error{Kind: ErrTooLong, Message: "text must be at most 5000 characters", Field: "payload.text"}
	}
	return s, nil
}

// CleanLine prepares one line of free text (a name, a title, a reason): it
// drops every control character, newlines and NUL included, and invalid
// UTF-8, and trims.
func CleanLine(s string) string {
	return strings.TrimSpace(strip(s, unicode.IsControl))
}

// strip drops the runes drop reports and the bytes that are not UTF-8.
func strip(s string, drop func(rune) bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !(r == utf8.RuneError && size == 1) && !drop(r) {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

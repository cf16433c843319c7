package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTextLen is the longest message, in characters (not bytes).
const MaxTextLen = 5000

// CleanText prepares an operator's text for LINE, which shows text as is:
// it drops control characters other than newline and tab, trims, and keeps
// everything else as typed (no HTML escaping, newlines preserved). The
// result must be 1 to MaxTextLen characters.
func CleanText(s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return "", &Error{Kind: ErrInvalid, Message: "text must not be empty", Field: "payload.text"}
	}
	if n > MaxTextLen {
		return "", &Error{Kind: ErrTooLong, Message: "text must be at most 5000 characters", Field: "payload.text"}
	}
	return s, nil
}

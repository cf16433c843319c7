package chat

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of a canned response's fields, in characters.
const (
	MaxCannedTitleLen    = 100
	MaxCannedCategoryLen = 50
	MaxCannedShortcutLen = 30 // without the leading slash
)

// shortcutRE is the accepted input form: an optional slash, then 1 to 30
// lowercase letters, digits, underscores or hyphens.
var shortcutRE = regexp.MustCompile(`^/?[a-z0-9_-]{1,30}$`)

// CannedResponse is a saved reply an operator picks by shortcut and pastes
// into the message box. Shortcut is kept in its canonical form with the
// leading slash ("/greeting"), as the original dashboard shows it; input
// without the slash is accepted and gets one. Among active rows a shortcut
// is unique; a deleted (inactive) row frees its shortcut.
type CannedResponse struct {
	ID         int64
	Shortcut   string
	Title      string
	Content    string
	Category   string // "" when uncategorised
	UsageCount int64
	Active     bool
	CreatedBy  *int64 // the admin who created it, when known
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// CannedPatch is the input of a create or a partial update: a nil field is
// absent (a create needs Shortcut, Title and Content).
type CannedPatch struct {
	Shortcut *string
	Title    *string
	Content  *string
	Category *string
}

// Empty reports whether the patch changes nothing.
func (p CannedPatch) Empty() bool {
	return p.Shortcut == nil && p.Title == nil && p.Content == nil && p.Category == nil
}

// Clean validates the present fields and returns them normalised: the
// shortcut gets its leading slash; title and category lose control
// characters and surrounding space; content is cleaned like an operator's
// message (CleanText), since it is sent as one. A bad field is an *Error of
// kind ErrInvalid naming the field.
func (p CannedPatch) Clean() (CannedPatch, error) {
	var out CannedPatch
	if p.Shortcut != nil {
		s := *p.Shortcut
		if !shortcutRE.MatchString(s) {
			return CannedPatch{}, &Error{Kind: ErrInvalid, Field: "shortcut",
				Message: "shortcut must be 1 to 30 lowercase letters, digits, underscores or hyphens, optionally after a slash"}
		}
		s = "/" + strings.TrimPrefix(s, "/")
		out.Shortcut = &s
	}
	if p.Title != nil {
		s := CleanLine(*p.Title)
		if n := utf8.RuneCountInString(s); n < 1 || n > MaxCannedTitleLen {
			return CannedPatch{}, &Error{Kind: ErrInvalid, Field: "title",
				Message: fmt.Sprintf("title must be 1 to %d characters", MaxCannedTitleLen)}
		}
		out.Title = &s
	}
	if p.Content != nil {
		s, err := CleanText(*p.Content)
		if err != nil {
			return CannedPatch{}, &Error{Kind: ErrInvalid, Field: "content",
				Message: fmt.Sprintf("content must be 1 to %d characters", MaxTextLen)}
		}
		out.Content = &s
	}
	if p.Category != nil {
		s := CleanLine(*p.Category)
		if utf8.RuneCountInString(s) > MaxCannedCategoryLen {
			return CannedPatch{}, &Error{Kind: ErrInvalid, Field: "category",
				Message: fmt.Sprintf("category must be at most %d characters", MaxCannedCategoryLen)}
		}
		out.Category = &s
	}
	return out, nil
}

package chat

import (
	"regexp"
	"time"
)

// ChatMode says who answers a customer: the bot or a human operator.
type ChatMode string

const (
	ModeBot   ChatMode = "BOT"
	ModeHuman ChatMode = "HUMAN"
)

// lineUserID is the LINE user id format the spec fixes.
var lineUserID = regexp.MustCompile(`^U[0-9a-f]{32}$`)

// ValidLineUserID reports whether s is a LINE user id.
func ValidLineUserID(s string) bool { return lineUserID.MatchString(s) }

// Customer is a LINE user who writes to the Official Account. A customer is a
// conversation: its messages carry a gap-free per-customer seq.
type Customer struct {
	ID            int64
	LineUserID    string
	DisplayName   string
	PictureURL    string
	ChatMode      ChatMode
	FriendStatus  string
	LastSeq       int64
	LastMessageAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Name is the display name, or the original's fallback "LINE User" when
// LINE gave none.
func (c Customer) Name() string {
	if c.DisplayName == "" {
		return "LINE User"
	}
	return c.DisplayName
}

package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"livechat/internal/chat"
)

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 8

// HashPassword returns the bcrypt hash of a password of at least
// MinPasswordLen characters (bcrypt ignores bytes past 72, so longer is refused).
func HashPassword(pw string) (string, error) {
	if len([]rune(pw)) < MinPasswordLen {
		return "", fmt.Errorf("password must be at least %d characters: %w", MinPasswordLen, chat.ErrInvalid)
	}
	if len(pw) > 72 {
		return "", fmt.Errorf("password must be at most 72 bytes: %w", chat.ErrInvalid)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches hash.
func CheckPassword(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

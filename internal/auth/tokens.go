// Package auth issues and verifies operator access tokens (JWT, HS256),
// manages the signing secret and hashes passwords.
package auth

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"livechat/internal/chat"
	"livechat/internal/clock"
)

const (
	Issuer   = "livechat"
	Audience = "livechat-operators"
)

// Tokens signs and verifies access tokens with one secret.
type Tokens struct {
	secret []byte
	clock  clock.Clock
}

// NewTokens uses secret for HS256.
func NewTokens(secret []byte, c clock.Clock) *Tokens { return &Tokens{secret: secret, clock: c} }

// Claims is what a verified token says.
type Claims struct {
	OperatorID int64
	ExpiresAt  time.Time
}

// Issue returns a signed token for the operator, valid for ttl.
func (t *Tokens) Issue(operatorID int64, ttl time.Duration) (string, time.Time, error) {
	now := t.clock.Now().UTC().Truncate(time.Second)
	exp := now.Add(ttl)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   strconv.FormatInt(operatorID, 10),
		Issuer:    Issuer,
		Audience:  jwt.ClaimStrings{Audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	})
	s, err := tok.SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign: %w", err)
	}
	return s, exp, nil
}

// Verify checks the signature (HS256 only), exp, iss and aud, and returns the
// operator id. Errors wrap chat.ErrTokenMissing, chat.ErrTokenExpired or
// chat.ErrTokenInvalid.
func (t *Tokens) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, chat.ErrTokenMissing
	}
	var rc jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &rc, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.clock.Now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, fmt.Errorf("auth: %w", chat.ErrTokenExpired)
	case err != nil:
		return Claims{}, fmt.Errorf("auth: %w: %v", chat.ErrTokenInvalid, err)
	}
	id, err := strconv.ParseInt(rc.Subject, 10, 64)
	if err != nil || id <= 0 {
		return Claims{}, fmt.Errorf("auth: %w: bad subject", chat.ErrTokenInvalid)
	}
	return Claims{OperatorID: id, ExpiresAt: rc.ExpiresAt.Time}, nil
}

package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"livechat/internal/auth"
	"livechat/internal/chat"
	"livechat/internal/clock"
)

func TestConcurrentSecretCreationAgrees(t *testing.T) {
	dir := t.TempDir()
	const n = 16
	secrets := make([][]byte, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { secrets[i], created[i], errs[i] = auth.LoadOrCreateSecret("", dir) })
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if string(secrets[i]) != string(secrets[0]) || len(secrets[i]) < 32 {
			t.Fatalf("call %d got another secret", i)
		}
		if created[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d calls claim to have created the secret", winners)
	}
	info, err := os.Stat(filepath.Join(dir, auth.SecretFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %v %v", info, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".jwt-secret-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestTokens(t *testing.T) {
	c := clock.NewFake(time.Unix(1_800_000_000, 0))
	tk := auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), c)
	tok, exp, err := tk.Issue(7, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := tk.Verify(tok)
	if err != nil || claims.OperatorID != 7 || !claims.ExpiresAt.Equal(exp) {
		t.Fatalf("verify: %+v %v", claims, err)
	}
	other := auth.NewTokens([]byte("another-secret-another-secret-xx"), c)
	if _, err := other.Verify(tok); !errors.Is(err, chat.ErrTokenInvalid) {
		t.Fatalf("foreign signature: %v", err)
	}
	if _, err := tk.Verify(""); !errors.Is(err, chat.ErrTokenMissing) {
		t.Fatalf("empty: %v", err)
	}
	// "alg: none" and a tampered payload are refused.
	if _, err := tk.Verify("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI3IiwiaXNzIjoibGl2ZWNoYXQiLCJhdWQiOiJsaXZlY2hhdC1vcGVyYXRvcnMiLCJleHAiOjQxMDI0NDQ4MDB9."); !errors.Is(err, chat.ErrTokenInvalid) {
		t.Fatalf("alg none: %v", err)
	}
	c.Advance(time.Hour)
	if _, err := tk.Verify(tok); !errors.Is(err, chat.ErrTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
}

func TestPasswords(t *testing.T) {
	if _, err := auth.HashPassword("short"); !errors.Is(err, chat.ErrInvalid) {
		t.Fatalf("short password: %v", err)
	}
	h, err := auth.HashPassword("a-long-password")
	if err != nil {
		t.Fatal(err)
	}
	if !auth.CheckPassword(h, "a-long-password") || auth.CheckPassword(h, "a-long-passworD") {
		t.Fatal("check password")
	}
}

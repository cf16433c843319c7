package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretFile is the generated secret's name inside the data dir.
const SecretFile = "jwt-secret"

// LoadOrCreateSecret returns configured when set. Otherwise it reads
// <dataDir>/jwt-secret, creating it (mode 0600, 32 random bytes, hex) when
// missing; created reports that, so the caller can say so.
func LoadOrCreateSecret(configured, dataDir string) (secret []byte, created bool, err error) {
	if configured != "" {
		return []byte(configured), false, nil
	}
	path := filepath.Join(dataDir, SecretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, false, fmt.Errorf("auth: %s holds a secret shorter than 32 characters", path)
		}
		return []byte(s), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("auth: read secret: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("auth: create data dir: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, fmt.Errorf("auth: random: %w", err)
	}
	s := hex.EncodeToString(raw)
	// Write a complete file aside, then link it into place: the link fails
	// if another command got there first, and nobody ever reads a partial
	// file.
	tmp, err := os.CreateTemp(dataDir, ".jwt-secret-*")
	if err != nil {
		return nil, false, fmt.Errorf("auth: create secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("auth: create secret: %w", err)
	}
	if _, err := tmp.WriteString(s + "\n"); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("auth: write secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("auth: write secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return LoadOrCreateSecret("", dataDir)
	} else if err != nil {
		return nil, false, fmt.Errorf("auth: create secret: %w", err)
	}
	return []byte(s), true, nil
}

package storage

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/faxbridge/faxbridge"
)

// secretSize is the length of a generated URL-signing key: the HMAC-SHA256
// block of entropy, and the minimum NewLocal accepts.
const secretSize = 32

// LoadOrCreateSecret returns the URL-signing key kept at path, creating it
// with 32 random bytes (mode 0600) the first time. Keeping the key across
// restarts keeps URLs already handed to the provider valid. Creation is
// atomic: the file appears complete or not at all, and when two processes
// race, both end up with the winner's key.
func LoadOrCreateSecret(path string) ([]byte, error) {
	b, err := readSecret(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}

	key := make([]byte, secretSize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".secret-*")
	if err != nil {
		return nil, fmt.Errorf("create secret %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write secret %s: %w", path, err)
	}
	// Link, unlike rename, refuses to replace a file another process created
	// meanwhile, so nobody's key is swapped under them.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readSecret(path)
		}
		return nil, fmt.Errorf("create secret %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("create secret %s: %w", path, err)
	}
	return key, nil
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", path, err)
	}
	if len(b) < secretSize {
		return nil, faxbridge.WrapError(faxbridge.EInvalid,
			fmt.Errorf("secret %s has %d bytes", path, len(b)),
			"the URL signing secret must be at least %d bytes", secretSize)
	}
	return b, nil
}

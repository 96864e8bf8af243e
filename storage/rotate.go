package storage

import (
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/faxbridge/faxbridge"
)

var errURLTooLong = faxbridge.Errorf(faxbridge.EInvalid, "a document URL may be valid for at most 7 days")

// MaxURLAge is the longest lifetime of a document URL, as for S3's presigned
// URLs. It bounds how long a retired signing key is honoured.
const MaxURLAge = 7 * 24 * time.Hour

// RetiredSecret is a URL-signing key replaced by a rotation. URLs it signed
// are still served until they expire; since none can outlive MaxURLAge, it
// is honoured only for URLs expiring by RetiredAt + MaxURLAge, so that a
// leaked old key cannot sign new URLs that last.
type RetiredSecret struct {
	Key       []byte
	RetiredAt time.Time
}

// retiredPath is where RotateSecret keeps the previous key of path.
func retiredPath(path string) string { return path + ".old" }

// RotateSecret replaces the URL-signing key at path with a new random one
// and keeps the old one beside it (path + ".old", its modification time the
// moment of retirement) for LoadRetiredSecret. Only the latest retired key
// is kept: a second rotation within MaxURLAge cuts off URLs of the first.
// The running daemon picks the new key up when it starts again.
func RotateSecret(path string) error {
	old, err := readSecret(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := writeAtomic(dir, retiredPath(path), old); err != nil {
		return err
	}
	key := make([]byte, secretSize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate secret: %w", err)
	}
	return writeAtomic(dir, path, key)
}

// writeAtomic replaces path with b (mode 0600) so that readers see the old
// or the new content, never a part, and syncs it.
func writeAtomic(dir, path string, b []byte) error {
	f, err := os.CreateTemp(dir, ".secret-*")
	if err != nil {
		return fmt.Errorf("write secret %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write secret %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write secret %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write secret %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write secret %s: %w", path, err)
	}
	return syncDir(dir)
}

// LoadRetiredSecret returns the key retired by the last RotateSecret of
// path, or none when there is none or it is past honouring.
func LoadRetiredSecret(path string) ([]RetiredSecret, error) {
	p := retiredPath(path)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", p, err)
	}
	if time.Since(fi.ModTime()) > MaxURLAge {
		return nil, nil
	}
	b, err := readSecret(p)
	if err != nil {
		return nil, err
	}
	return []RetiredSecret{{Key: b, RetiredAt: fi.ModTime()}}, nil
}

// signedByRetired reports whether sig is key's signature under a retired
// key that still vouches for a URL expiring at exp.
func (l *Local) signedByRetired(key, exp string, expUnix int64, sig []byte) bool {
	for _, r := range l.retired {
		if time.Unix(expUnix, 0).After(r.RetiredAt.Add(MaxURLAge)) {
			continue
		}
		if hmac.Equal(sig, mac(r.Key, key, exp)) {
			return true
		}
	}
	return false
}

package storage

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// After a rotation, URLs signed with the old key are served until they
// expire; the old key cannot sign a URL that outlives MaxURLAge from its
// retirement; new URLs are signed with the new key only.
func TestRotatedKeyHonouredUntilItsURLsExpire(t *testing.T) {
	l, _, now := testLocal(t)
	ctx := context.Background()
	body := []byte("%PDF-1.4 rotated")
	put(t, l, "doc.pdf", body)
	oldURL, err := l.URL(ctx, "doc.pdf", 5*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	oldKey := l.secret
	// Rotate: a new key signs, the old one is retired now.
	l.secret = bytes.Repeat([]byte{9}, 32)
	l.retired = []RetiredSecret{{Key: oldKey, RetiredAt: *now}}

	if resp, _ := fetch(t, "GET", oldURL); resp.StatusCode != 200 {
		t.Errorf("URL signed before the rotation: %d, want 200", resp.StatusCode)
	}
	newURL, _ := l.URL(ctx, "doc.pdf", time.Hour)
	if resp, _ := fetch(t, "GET", newURL); resp.StatusCode != 200 {
		t.Errorf("URL signed after the rotation: %d", resp.StatusCode)
	}
	if sig := query(t, newURL).Get("sig"); sig == l.signWith(oldKey, "doc.pdf", query(t, newURL).Get("expires")) {
		t.Error("new URLs are still signed with the retired key")
	}

	// Someone holding the old key forges a URL that would last a year.
	forged := forge(t, l, oldKey, "doc.pdf", now.Add(365*24*time.Hour))
	if resp, _ := fetch(t, "GET", forged); resp.StatusCode != 403 {
		t.Errorf("old key signing a URL beyond its honour: %d, want 403", resp.StatusCode)
	}
	// The old URL expires as it always would.
	*now = now.Add(5*time.Hour + time.Second)
	if resp, _ := fetch(t, "GET", oldURL); resp.StatusCode != 403 {
		t.Errorf("old URL after its expiry: %d, want 403", resp.StatusCode)
	}
	// Without the retired key, old URLs are refused.
	l.retired = nil
	*now = now.Add(-5 * time.Hour)
	if resp, _ := fetch(t, "GET", oldURL); resp.StatusCode != 403 {
		t.Errorf("old URL without the retired key: %d, want 403", resp.StatusCode)
	}
	if _, err := l.URL(ctx, "doc.pdf", MaxURLAge+time.Second); err == nil {
		t.Error("a URL longer than MaxURLAge was signed")
	}
}

func (l *Local) signWith(key []byte, k, exp string) string {
	saved := l.secret
	l.secret = key
	defer func() { l.secret = saved }()
	return l.sign(k, exp)
}

func forge(t *testing.T, l *Local, key []byte, k string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return l.base + l.prefix + k + "?expires=" + e + "&sig=" + l.signWith(key, k, e)
}

func query(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

func TestRotateSecretFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "media.key")
	first, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := LoadRetiredSecret(path); err != nil || r != nil {
		t.Fatalf("before any rotation: %v %v", r, err)
	}
	before := time.Now()
	if err := RotateSecret(path); err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, second) {
		t.Error("rotation kept the key")
	}
	r, err := LoadRetiredSecret(path)
	if err != nil || len(r) != 1 || !bytes.Equal(r[0].Key, first) || r[0].RetiredAt.Before(before.Add(-time.Second)) {
		t.Fatalf("retired = %+v, %v", r, err)
	}
	for _, p := range []string{path, path + ".old"} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p, fi.Mode(), err)
		}
	}
	// A key retired longer ago than any URL lives is no longer loaded.
	old := time.Now().Add(-MaxURLAge - time.Hour)
	os.Chtimes(path+".old", old, old)
	if r, err := LoadRetiredSecret(path); err != nil || r != nil {
		t.Errorf("stale retired key loaded: %v %v", r, err)
	}
}

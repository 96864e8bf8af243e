package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
)

var _ faxbridge.BlobStore = (*Local)(nil)

// tempPrefix starts with a dot so a half-written file can never match a
// valid key and be served.
const tempPrefix = ".put-"

// LocalConfig configures documents on local disk served by faxbridge itself.
type LocalConfig struct {
	Dir       string // where documents live; created (0700) if missing
	PublicURL string // base URL of faxbridge's HTTP server as the provider sees it, e.g. "https://fax.example.com"; a path in it must be stripped by the proxy in front, since Handler expects Prefix at the root
	Secret    []byte // HMAC key for signed URLs, at least 32 bytes (see LoadOrCreateSecret)
	Prefix    string // URL path prefix, default "/media/"
	// Retired keys (see RotateSecret) still verify the URLs they signed.
	Retired []RetiredSecret
}

// Local stores documents as files in one directory and serves them through
// Handler at URLs signed with an HMAC and an expiry time, for deployments
// without an S3 bucket. The provider must be able to reach PublicURL.
type Local struct {
	dir    string
	base   string // PublicURL without a trailing slash
	prefix string
	secret []byte
	now    func() time.Time // tests replace it to move time without sleeping

	retired []RetiredSecret // verify only, never sign
}

// NewLocal checks the configuration and creates Dir if needed.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Dir == "" {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "local storage needs a directory")
	}
	if len(cfg.Secret) < 32 {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "local storage URL secret must be at least 32 bytes")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "local storage public URL must be an absolute http or https URL")
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "/media/"
	}
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "local storage URL prefix must start and end with a slash")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, unavailable(fmt.Errorf("create %s: %w", cfg.Dir, err), "document storage is unavailable")
	}
	return &Local{
		dir:     cfg.Dir,
		base:    strings.TrimSuffix(cfg.PublicURL, "/"),
		prefix:  prefix,
		secret:  append([]byte(nil), cfg.Secret...),
		now:     time.Now,
		retired: cfg.Retired,
	}, nil
}

// Put writes the document to a temporary file and renames it into place,
// syncing file and directory, so that once Put returns the document survives
// a crash and a reader never sees a partial file. contentType is ignored:
// everything is served as PDF.
//
// When r is an *os.File at its start on the same file system (the spooled
// document of a message), Put links that file into place instead of copying
// it: the caller must not write to it afterwards. The same checks apply
// (key, size, context) and the same syncs, of the file and the directory.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if f, ok := r.(*os.File); ok {
		if linked, err := l.link(ctx, key, f, size); linked {
			return err
		}
	}
	f, err := os.CreateTemp(l.dir, tempPrefix+"*")
	if err != nil {
		return unavailable(fmt.Errorf("put %s: %w", key, err), "document storage is unavailable")
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()

	src := &source{ctx: ctx, r: r}
	n, err := io.Copy(f, src)
	if err != nil {
		if ctx.Err() != nil {
			return unavailable(fmt.Errorf("put %s: %w", key, err), "document storage is unavailable")
		}
		if src.err != nil {
			// The reader's failure keeps its own code: a size limit or a
			// broken spool is not a storage fault.
			return fmt.Errorf("put %s: read document: %w", key, src.err)
		}
		return writeError(key, err)
	}
	if size >= 0 && n != size {
		return faxbridge.WrapError(faxbridge.EInternal,
			fmt.Errorf("put %s: got %d bytes, want %d", key, n, size), "document storage failed")
	}
	if err := f.Sync(); err != nil {
		return writeError(key, err)
	}
	if err := f.Close(); err != nil {
		return writeError(key, err)
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, key)); err != nil {
		return writeError(key, err)
	}
	done = true
	if err := syncDir(l.dir); err != nil {
		return writeError(key, err)
	}
	return nil
}

// link puts the file f under key as a hard link, without copying its bytes,
// and syncs it and the directory. It reports linked false, having changed
// nothing, when f cannot be linked (not a regular file, not read from its
// start, a size other than size, another file system, key already taken):
// Put then copies.
func (l *Local) link(ctx context.Context, key string, f *os.File, size int64) (linked bool, err error) {
	if err := ctx.Err(); err != nil {
		return true, unavailable(fmt.Errorf("put %s: %w", key, err), "document storage is unavailable")
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || (size >= 0 && st.Size() != size) {
		return false, nil
	}
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != 0 {
		return false, nil
	}
	dst := filepath.Join(l.dir, key)
	if err := os.Link(f.Name(), dst); err != nil {
		return false, nil
	}
	// f.Name() is a path: make sure it still named the open file.
	if got, err := os.Stat(dst); err != nil || !os.SameFile(got, st) {
		if err := os.Remove(dst); err != nil {
			return true, writeError(key, err)
		}
		return false, nil
	}
	// The bytes were written before the link: syncing the file now makes
	// them durable together with the new name (on ext4 one journal commit
	// carries both), which the directory sync then confirms.
	if err := f.Sync(); err != nil {
		_ = os.Remove(dst)
		return true, writeError(key, err)
	}
	if err := syncDir(l.dir); err != nil {
		return true, writeError(key, err)
	}
	return true, nil
}

// writeError marks a failed disk write as temporary: a full disk or a
// read-only mount is for the operator to fix, and the sender to retry.
func writeError(key string, err error) error {
	return unavailable(fmt.Errorf("put %s: %w", key, err), "document storage is unavailable")
}

// URL signs key with an expiry time, rounded up to whole seconds.
func (l *Local) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	if ttl > MaxURLAge {
		return "", fmt.Errorf("document URL lifetime %v: %w", ttl, errURLTooLong)
	}
	exp := strconv.FormatInt(l.now().Add(ceilSeconds(ttl)).Unix(), 10)
	// The secret-derived signature is the only thing that makes the URL
	// unguessable, so key and expiry are both under it.
	return l.base + l.prefix + key + "?expires=" + exp + "&sig=" + l.sign(key, exp), nil
}

func (l *Local) sign(key, expires string) string {
	return hex.EncodeToString(mac(l.secret, key, expires))
}

func mac(secret []byte, key, expires string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(key + "\n" + expires))
	return m.Sum(nil)
}

// Delete removes the document; a missing document is not an error.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(l.dir, key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return unavailable(fmt.Errorf("delete %s: %w", key, err), "document storage is unavailable")
	}
	return nil
}

// List returns the keys of documents last written before `before`;
// temporary files of uploads in progress are never keys.
func (l *Local) List(ctx context.Context, before time.Time) ([]string, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list %s: %w", l.dir, err), "document storage is unavailable")
	}
	var keys []string
	for _, e := range entries {
		if !e.Type().IsRegular() || checkKey(e.Name()) != nil {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			keys = append(keys, e.Name())
		}
	}
	return keys, nil
}

// Ping checks that the directory is still there and writable.
func (l *Local) Ping(ctx context.Context) error {
	f, err := os.CreateTemp(l.dir, tempPrefix+"ping-*")
	if err != nil {
		return unavailable(fmt.Errorf("ping %s: %w", l.dir, err), "document storage is unavailable")
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return unavailable(fmt.Errorf("ping %s: %w", l.dir, err), "document storage is unavailable")
	}
	return nil
}

// Handler serves GET and HEAD for {Prefix}{key}?expires=..&sig=.. . Mount it
// at the prefix without stripping it. The signature is checked before the
// file is looked up, so an unsigned request cannot learn which keys exist.
func (l *Local) Handler() http.Handler {
	return http.HandlerFunc(l.serve)
}

func (l *Local) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, l.prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !l.authorized(key, r.URL.Query()) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if !validKey(key) {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(l.dir, key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	h.Set("Content-Type", pdfType)
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// authorized checks the signature in constant time, then the expiry.
func (l *Local) authorized(key string, q url.Values) bool {
	exp, sig := q.Get("expires"), q.Get("sig")
	got, err := hex.DecodeString(sig)
	if err != nil || exp == "" {
		return false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return false
	}
	if !hmac.Equal(got, mac(l.secret, key, exp)) && !l.signedByRetired(key, exp, t, got) {
		return false
	}
	return l.now().Unix() <= t
}

// source wraps the caller's reader to stop a copy when the context ends, so
// a cancelled transaction does not keep writing a large document, and to
// tell read failures from write failures.
type source struct {
	ctx context.Context
	r   io.Reader
	err error // the last read failure other than io.EOF
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

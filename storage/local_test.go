package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
)

// testLocal returns a Local served by an httptest server whose URL is the
// store's PublicURL, and a settable clock.
func testLocal(t *testing.T) (*Local, *httptest.Server, *time.Time) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	secret := bytes.Repeat([]byte{7}, 32)
	l, err := NewLocal(LocalConfig{
		Dir:       filepath.Join(t.TempDir(), "docs"),
		PublicURL: "http://" + srv.Listener.Addr().String() + "/",
		Secret:    secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { return now }
	mux := http.NewServeMux()
	mux.Handle("/media/", l.Handler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return l, srv, &now
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, s faxbridge.BlobStore, key string, body []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(body), int64(len(body)), pdfType); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func fetch(t *testing.T, method, u string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A provider must get the document itself, never a redirect.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestLocalPutURLFetch(t *testing.T) {
	l, srv, _ := testLocal(t)
	doc := append([]byte("%PDF-1.4\n"), randomBytes(t, 300_000)...)
	put(t, l, "doc1", doc)

	u, err := l.URL(context.Background(), "doc1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, srv.URL+"/media/doc1?expires=") {
		t.Fatalf("URL = %q, want it under %s/media/", u, srv.URL)
	}
	resp, body := fetch(t, http.MethodGet, u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET status %d, body %q", resp.StatusCode, body)
	}
	if !bytes.Equal(body, doc) {
		t.Fatalf("GET returned %d bytes that differ from the %d stored", len(body), len(doc))
	}
	for k, want := range map[string]string{
		"Content-Type":           "application/pdf",
		"Content-Length":         strconv.Itoa(len(doc)),
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	resp, body = fetch(t, http.MethodHead, u)
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("HEAD status %d with %d body bytes", resp.StatusCode, len(body))
	}
	if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(doc)) {
		t.Errorf("HEAD Content-Length = %q, want %d", got, len(doc))
	}
	if got := resp.Header.Get("Content-Type"); got != pdfType {
		t.Errorf("HEAD Content-Type = %q", got)
	}
}

// Even content that sniffs as something else is served as a PDF.
func TestLocalAlwaysPDF(t *testing.T) {
	l, _, _ := testLocal(t)
	put(t, l, "html", []byte("<html><script>alert(1)</script></html>"))
	u, err := l.URL(context.Background(), "html", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := fetch(t, http.MethodGet, u)
	if got := resp.Header.Get("Content-Type"); got != pdfType {
		t.Fatalf("Content-Type = %q, want %q", got, pdfType)
	}
}

func TestLocalRefused(t *testing.T) {
	l, srv, _ := testLocal(t)
	put(t, l, "doc1", []byte("%PDF-1.4 one"))
	put(t, l, "doc2", []byte("%PDF-1.4 two"))
	good, err := l.URL(context.Background(), "doc1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	exp, sig := q.Get("expires"), q.Get("sig")
	flip := func(s string) string { // change the last hex digit
		last := s[len(s)-1]
		c := byte('0')
		if last == '0' {
			c = '1'
		}
		return s[:len(s)-1] + string(c)
	}
	expN, _ := strconv.ParseInt(exp, 10, 64)

	tests := []struct {
		name string
		url  string
	}{
		{"other key", srv.URL + "/media/doc2?expires=" + exp + "&sig=" + sig},
		{"later expiry", srv.URL + "/media/doc1?expires=" + strconv.FormatInt(expN+86400, 10) + "&sig=" + sig},
		{"padded expiry", srv.URL + "/media/doc1?expires=0" + exp + "&sig=" + sig},
		{"tampered sig", srv.URL + "/media/doc1?expires=" + exp + "&sig=" + flip(sig)},
		{"short sig", srv.URL + "/media/doc1?expires=" + exp + "&sig=" + sig[:32]},
		{"not hex sig", srv.URL + "/media/doc1?expires=" + exp + "&sig=zz" + sig[2:]},
		{"no sig", srv.URL + "/media/doc1?expires=" + exp},
		{"no expiry", srv.URL + "/media/doc1?sig=" + sig},
		{"no query", srv.URL + "/media/doc1"},
		{"unknown key unsigned", srv.URL + "/media/nosuch?expires=" + exp + "&sig=" + sig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := fetch(t, http.MethodGet, tt.url)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
			if bytes.Contains(body, []byte("PDF")) || len(body) > 20 {
				t.Fatalf("403 body %q says too much", body)
			}
		})
	}
	// The untouched URL still works, so the refusals above are the tampering.
	if resp, _ := fetch(t, http.MethodGet, good); resp.StatusCode != http.StatusOK {
		t.Fatalf("good URL: status %d", resp.StatusCode)
	}
}

func TestLocalExpiry(t *testing.T) {
	l, _, now := testLocal(t)
	put(t, l, "doc1", []byte("%PDF-1.4"))
	u, err := l.URL(context.Background(), "doc1", 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		after time.Duration
		want  int
	}{
		{0, http.StatusOK},
		{90 * time.Second, http.StatusOK}, // valid for at least the ttl
		{91 * time.Second, http.StatusForbidden},
		{time.Hour, http.StatusForbidden},
	} {
		*now = time.Unix(1_700_000_000, 0).Add(tt.after)
		if resp, _ := fetch(t, http.MethodGet, u); resp.StatusCode != tt.want {
			t.Errorf("%v after signing: status %d, want %d", tt.after, resp.StatusCode, tt.want)
		}
	}
}

func TestLocalSubSecondTTL(t *testing.T) {
	l, _, _ := testLocal(t)
	u, err := l.URL(context.Background(), "doc1", 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := url.Parse(u)
	if got, want := p.Query().Get("expires"), strconv.FormatInt(1_700_000_002, 10); got != want {
		t.Fatalf("expires = %s, want %s (rounded up)", got, want)
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := l.URL(context.Background(), "doc1", ttl); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("URL with ttl %v: %v, want invalid", ttl, err)
		}
	}
}

func TestLocalNotFoundAndMethods(t *testing.T) {
	l, _, _ := testLocal(t)
	u, err := l.URL(context.Background(), "missing", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := fetch(t, http.MethodGet, u); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("signed URL to a missing key: status %d, want 404", resp.StatusCode)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		resp, _ := fetch(t, m, u)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", m, resp.StatusCode)
		}
		if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("%s: Allow = %q", m, got)
		}
	}
}

func TestLocalDelete(t *testing.T) {
	l, _, _ := testLocal(t)
	put(t, l, "doc1", []byte("%PDF-1.4"))
	u, err := l.URL(context.Background(), "doc1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(context.Background(), "doc1"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := fetch(t, http.MethodGet, u); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after Delete: status %d, want 404", resp.StatusCode)
	}
	if err := l.Delete(context.Background(), "doc1"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestLocalBadKeys(t *testing.T) {
	l, _, _ := testLocal(t)
	outside := filepath.Join(filepath.Dir(l.dir), "victim")
	if err := os.WriteFile(outside, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := []string{"", "../victim", "..", ".", "a/b", "/etc/passwd", ".hidden", "-x", "Upper",
		"a b", "a\x00b", "a\\b", "é", strings.Repeat("a", 201), tempPrefix + "x"}
	ctx := context.Background()
	for _, k := range keys {
		if err := l.Put(ctx, k, strings.NewReader("x"), 1, pdfType); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("Put(%q) = %v, want invalid", k, err)
		}
		if _, err := l.URL(ctx, k, time.Hour); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("URL(%q) = %v, want invalid", k, err)
		}
		if err := l.Delete(ctx, k); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("Delete(%q) = %v, want invalid", k, err)
		}
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "keep" {
		t.Fatalf("file outside the store changed: %q, %v", b, err)
	}
	for _, k := range []string{"a", "0", "abc.pdf", "a-b_c.d", faxbridge.NewID()} {
		if !validKey(k) {
			t.Errorf("validKey(%q) = false", k)
		}
	}
}

// A request for a path that escapes the prefix, even correctly signed, is
// never served from outside the directory.
func TestLocalHandlerTraversal(t *testing.T) {
	l, srv, _ := testLocal(t)
	if err := os.WriteFile(filepath.Join(filepath.Dir(l.dir), "victim"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	exp := strconv.FormatInt(l.now().Add(time.Hour).Unix(), 10)
	for _, key := range []string{"../victim", "..%2fvictim", "%2e%2e/victim"} {
		// Signed over the key the handler will see, so the signature check
		// passes and the key check is what refuses.
		decoded, err := url.PathUnescape(key)
		if err != nil {
			t.Fatal(err)
		}
		raw := srv.URL + "/media/" + key + "?expires=" + exp + "&sig=" + l.sign(decoded, exp)
		req, err := http.NewRequest(http.MethodGet, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		l.Handler().ServeHTTP(w, req) // directly: no mux path cleaning to help
		if w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "secret") {
			t.Errorf("%s: status %d, body %q; want 404", key, w.Code, w.Body.String())
		}
	}
}

func TestLocalPutDurable(t *testing.T) {
	l, _, _ := testLocal(t)
	ctx := context.Background()
	put(t, l, "a", []byte("first"))
	put(t, l, "a", []byte("second")) // replacing keeps one file
	// Unknown size.
	if err := l.Put(ctx, "b", strings.NewReader("unknown size"), -1, pdfType); err != nil {
		t.Fatal(err)
	}
	// A short body, a failing reader and a cancelled context leave nothing behind.
	if err := l.Put(ctx, "c", strings.NewReader("short"), 10, pdfType); err == nil {
		t.Error("Put with a short body succeeded")
	}
	readErr := faxbridge.Errorf(faxbridge.ETooLarge, "too big")
	err := l.Put(ctx, "d", io.MultiReader(strings.NewReader("x"), errReader{readErr}), -1, pdfType)
	if !errors.Is(err, readErr) || faxbridge.ErrorCode(err) != faxbridge.ETooLarge {
		t.Errorf("Put with a failing reader = %v, want the reader's error", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Put(cctx, "e", strings.NewReader("x"), 1, pdfType); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("Put with a cancelled context = %v, want unavailable", err)
	}
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "a,b" {
		t.Fatalf("directory holds %v, want [a b]", names)
	}
	if b, _ := os.ReadFile(filepath.Join(l.dir, "a")); string(b) != "second" {
		t.Fatalf("a = %q", b)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestNewLocalConfig(t *testing.T) {
	dir := t.TempDir()
	secret := bytes.Repeat([]byte{1}, 32)
	tests := []struct {
		name string
		cfg  LocalConfig
		ok   bool
	}{
		{"ok", LocalConfig{Dir: dir, PublicURL: "https://fax.example.com", Secret: secret}, true},
		{"ok prefix", LocalConfig{Dir: dir, PublicURL: "https://fax.example.com/", Secret: secret, Prefix: "/docs/"}, true},
		{"no dir", LocalConfig{PublicURL: "https://fax.example.com", Secret: secret}, false},
		{"short secret", LocalConfig{Dir: dir, PublicURL: "https://fax.example.com", Secret: secret[:31]}, false},
		{"relative URL", LocalConfig{Dir: dir, PublicURL: "fax.example.com", Secret: secret}, false},
		{"ftp URL", LocalConfig{Dir: dir, PublicURL: "ftp://fax.example.com", Secret: secret}, false},
		{"URL with query", LocalConfig{Dir: dir, PublicURL: "https://fax.example.com/?a=b", Secret: secret}, false},
		{"prefix without slash", LocalConfig{Dir: dir, PublicURL: "https://fax.example.com", Secret: secret, Prefix: "media"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLocal(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewLocal: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && faxbridge.ErrorCode(err) != faxbridge.EInvalid {
				t.Fatalf("code %s, want invalid", faxbridge.ErrorCode(err))
			}
			if err != nil {
				return
			}
			u, err := l.URL(context.Background(), "k", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			prefix := tt.cfg.Prefix
			if prefix == "" {
				prefix = "/media/"
			}
			if want := "https://fax.example.com" + prefix + "k?expires="; !strings.HasPrefix(u, want) {
				t.Fatalf("URL %q does not start with %q", u, want)
			}
		})
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "media.key")
	first, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 32 {
		t.Fatalf("secret has %d bytes", len(first))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	second, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("second call made a new secret")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the secret", len(entries))
	}

	other, err := LoadOrCreateSecret(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, other) {
		t.Fatal("two new secrets are equal")
	}

	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSecret(short); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
		t.Fatalf("short secret: %v, want invalid", err)
	}
	if _, err := LoadOrCreateSecret(filepath.Join(t.TempDir(), "no", "such", "dir", "k")); err == nil {
		t.Fatal("secret in a missing directory: no error")
	}
}

// patternReader yields n bytes without holding them, like a spool file would,
// so the benchmark measures the store and not the source.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = byte(i)
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// BenchmarkLocalPut shows that B/op stays flat as the document grows.
func BenchmarkLocalPut(b *testing.B) {
	l, err := NewLocal(LocalConfig{Dir: b.TempDir(), PublicURL: "http://127.0.0.1", Secret: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int64{1 << 20, 10 << 20} {
		b.Run(strconv.FormatInt(size>>20, 10)+"MB", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Put(context.Background(), "bench", &patternReader{size}, size, pdfType); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLocalPutFile: a spooled file on the same file system is linked into
// place, not copied; a file read from elsewhere than its start, of another
// size, or under a key already taken is copied (or refused) as any reader.
func TestLocalPutFile(t *testing.T) {
	l, _, _ := testLocal(t)
	ctx := context.Background()
	// The spool beside the documents, as state_dir lays them out.
	spool := filepath.Join(filepath.Dir(l.dir), "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	body := randomBytes(t, 70_000)
	src := filepath.Join(spool, "part.pdf")
	if err := os.WriteFile(src, body, 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		t.Helper()
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	same := func(key string) bool {
		t.Helper()
		a, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.Stat(filepath.Join(l.dir, key))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(l.dir, key)); !bytes.Equal(got, body) {
			t.Errorf("%s holds other bytes", key)
		}
		return os.SameFile(a, b)
	}

	if err := l.Put(ctx, "linked", open(), int64(len(body)), pdfType); err != nil {
		t.Fatal(err)
	}
	if !same("linked") {
		t.Error("the spooled file was copied, not linked")
	}
	if err := l.Put(ctx, "unknown-size", open(), -1, pdfType); err != nil {
		t.Fatal(err)
	}
	if !same("unknown-size") {
		t.Error("a file of unknown size was copied, not linked")
	}
	// Removing the spool's name keeps the document.
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(l.dir, "linked")); !bytes.Equal(got, body) {
		t.Fatal("the document went with the spool's name")
	}
	if err := os.WriteFile(src, body, 0o600); err != nil {
		t.Fatal(err)
	}

	// Read from elsewhere than its start: what is left is copied.
	f := open()
	if _, err := f.Seek(10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "offset", f, int64(len(body)-10), pdfType); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(l.dir, "offset")); !bytes.Equal(got, body[10:]) {
		t.Error("a file read from an offset was not stored from there")
	}
	// Another size than promised: refused, nothing stored.
	if err := l.Put(ctx, "short", open(), int64(len(body)+1), pdfType); faxbridge.ErrorCode(err) != faxbridge.EInternal {
		t.Errorf("Put of a file of another size = %v, want internal", err)
	}
	if _, err := os.Stat(filepath.Join(l.dir, "short")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused file was stored")
	}
	// A key already taken is replaced, as with any reader.
	put(t, l, "taken", []byte("old"))
	if err := l.Put(ctx, "taken", open(), int64(len(body)), pdfType); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(l.dir, "taken")); !bytes.Equal(got, body) {
		t.Error("a taken key was not replaced")
	}
	// A cancelled context stores nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Put(cctx, "cancelled", open(), int64(len(body)), pdfType); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("Put with a cancelled context = %v, want unavailable", err)
	}
	if _, err := os.Stat(filepath.Join(l.dir, "cancelled")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a cancelled Put stored its file")
	}
}

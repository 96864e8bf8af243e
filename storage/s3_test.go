package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/minio/minio-go/v7"

	"github.com/faxbridge/faxbridge/internal/testenv"
)

// The integration tests need a real S3 server (MinIO or another); fakes
// accept forged and expired URLs, which is exactly what must be tested.
const (
	envEndpoint  = "FAXBRIDGE_TEST_S3_ENDPOINT" // host:port
	envAccessKey = "FAXBRIDGE_TEST_S3_ACCESS_KEY"
	envSecretKey = "FAXBRIDGE_TEST_S3_SECRET_KEY"
)

func s3Env(t testing.TB) S3Config {
	t.Helper()
	cfg := S3Config{
		Endpoint:  os.Getenv(envEndpoint),
		AccessKey: os.Getenv(envAccessKey),
		SecretKey: os.Getenv(envSecretKey),
		Region:    "us-east-1",
		Prefix:    "faxbridge/",
	}
	if cfg.Endpoint == "" || cfg.AccessKey == "" || cfg.SecretKey == "" {
		// No server named: start a real MinIO for this test (testenv skips,
		// or fails under FAXBRIDGE_REQUIRE_REAL, without its binary).
		m := testenv.MinIO(t)
		cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = m.Endpoint, m.AccessKey, m.SecretKey
	}
	cfg.Bucket = "faxbridge-test-" + strings.ToLower(faxbridge.NewID()[:12])
	return cfg
}

// testS3 creates a fresh bucket and removes it with its objects afterwards.
func testS3(t testing.TB) *S3 {
	t.Helper()
	cfg := s3Env(t)
	cfg.CreateBucket = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	t.Cleanup(func() { dropBucket(t, s) })
	return s
}

func dropBucket(t testing.TB, s *S3) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Errorf("list %s: %v", s.bucket, obj.Err)
			return
		}
		if err := s.client.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
			t.Errorf("remove %s: %v", obj.Key, err)
		}
	}
	if err := s.client.RemoveBucket(ctx, s.bucket); err != nil {
		t.Errorf("remove bucket %s: %v", s.bucket, err)
	}
}

// document returns n reproducible pseudo-random bytes starting like a PDF.
func document(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	copy(b, "%PDF-1.7\n")
	return b
}

// plain hides io.ReaderAt and io.Seeker, so minio-go must stream the body as
// it would from a pipe.
type plain struct{ io.Reader }

func TestS3PutURLFetch(t *testing.T) {
	s := testS3(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		n     int
		size  func(n int) int64
		plain bool
	}{
		{"known size", 6 << 20, func(n int) int64 { return int64(n) }, true},
		{"known size ReaderAt", 6 << 20, func(n int) int64 { return int64(n) }, false},
		{"unknown size", 6 << 20, func(int) int64 { return -1 }, true},
		{"unknown size two parts", 20 << 20, func(int) int64 { return -1 }, true},
		{"known size two parts", 20 << 20, func(n int) int64 { return int64(n) }, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := document(tt.n, uint64(i))
			key := faxbridge.NewID()
			var r io.Reader = bytes.NewReader(doc)
			if tt.plain {
				r = plain{r}
			}
			if err := s.Put(ctx, key, r, tt.size(tt.n), "application/pdf"); err != nil {
				t.Fatalf("Put: %v", err)
			}
			info, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if info.ContentType != "application/pdf" || info.Size != int64(tt.n) {
				t.Fatalf("stored object: type %q, %d bytes; want application/pdf, %d", info.ContentType, info.Size, tt.n)
			}
			u, err := s.URL(ctx, key, time.Hour)
			if err != nil {
				t.Fatalf("URL: %v", err)
			}
			resp, body := fetch(t, http.MethodGet, u)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET status %d: %.300s", resp.StatusCode, body)
			}
			if !bytes.Equal(body, doc) {
				t.Fatalf("GET returned %d bytes that differ from the %d stored", len(body), len(doc))
			}
			if got := resp.Header.Get("Content-Type"); got != pdfType {
				t.Errorf("Content-Type = %q", got)
			}
			if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(tt.n) {
				t.Errorf("Content-Length = %q, want %d", got, tt.n)
			}
		})
	}
}

// The presigned URL forces application/pdf even when the object was stored
// with another type.
func TestS3URLForcesPDF(t *testing.T) {
	s := testS3(t)
	ctx := context.Background()
	key := faxbridge.NewID()
	if err := s.Put(ctx, key, strings.NewReader("%PDF-1.4"), 8, "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	u, err := s.URL(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := fetch(t, http.MethodGet, u)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != pdfType {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestS3TamperedURL(t *testing.T) {
	s := testS3(t)
	ctx := context.Background()
	key, other := faxbridge.NewID(), faxbridge.NewID()
	put(t, s, key, []byte("%PDF-1.4 one"))
	put(t, s, other, []byte("%PDF-1.4 two"))
	good, err := s.URL(ctx, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(u *url.URL, q url.Values)) string {
		u, err := url.Parse(good)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		f(u, q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	tests := map[string]string{
		"other key": edit(func(u *url.URL, _ url.Values) { u.Path = strings.Replace(u.Path, key, other, 1) }),
		"longer expiry": edit(func(_ *url.URL, q url.Values) {
			q.Set("X-Amz-Expires", "604800")
		}),
		"tampered signature": edit(func(_ *url.URL, q url.Values) {
			sig := []byte(q.Get("X-Amz-Signature"))
			sig[0] ^= 1
			q.Set("X-Amz-Signature", string(sig))
		}),
		"other content type": edit(func(_ *url.URL, q url.Values) { q.Set("response-content-type", "text/html") }),
		"anonymous": edit(func(_ *url.URL, q url.Values) {
			for k := range q {
				q.Del(k)
			}
		}),
	}
	for name, u := range tests {
		t.Run(name, func(t *testing.T) {
			if resp, body := fetch(t, http.MethodGet, u); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %.300s", resp.StatusCode, body)
			}
		})
	}
	// The untouched URL still works, so the refusals above are the tampering.
	if resp, _ := fetch(t, http.MethodGet, good); resp.StatusCode != http.StatusOK {
		t.Fatalf("good URL: status %d", resp.StatusCode)
	}
}

func TestS3ExpiredURL(t *testing.T) {
	s := testS3(t)
	ctx := context.Background()
	key := faxbridge.NewID()
	put(t, s, key, []byte("%PDF-1.4"))
	u, err := s.URL(ctx, key, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Presigning always uses the real clock, so expiry needs real time to
	// pass: poll, bounded, until the server refuses the URL as expired.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := fetch(t, http.MethodGet, u)
		if resp.StatusCode == http.StatusForbidden {
			if !bytes.Contains(bytes.ToLower(body), []byte("expired")) {
				t.Fatalf("refused, but not as expired: %.300s", body)
			}
			return
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d before expiry: %.300s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatal("a URL presigned for 1s still works after 5s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestS3Delete(t *testing.T) {
	s := testS3(t)
	ctx := context.Background()
	key := faxbridge.NewID()
	put(t, s, key, []byte("%PDF-1.4"))
	u, err := s.URL(ctx, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if resp, _ := fetch(t, http.MethodGet, u); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("after Delete: status %d, want 404 or 403", resp.StatusCode)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete of a deleted key: %v", err)
	}
	if err := s.Delete(ctx, faxbridge.NewID()); err != nil {
		t.Fatalf("Delete of a key never stored: %v", err)
	}
}

func TestS3Bucket(t *testing.T) {
	cfg := s3Env(t)
	ctx := context.Background()

	// Missing bucket, not asked to create it: a clear, retryable refusal.
	_, err := NewS3(ctx, cfg)
	if faxbridge.ErrorCode(err) != faxbridge.EUnavailable || !strings.Contains(faxbridge.ErrorMessage(err), "bucket does not exist") {
		t.Fatalf("NewS3 on a missing bucket: %v", err)
	}
	if strings.Contains(faxbridge.ErrorMessage(err), cfg.Bucket) {
		t.Errorf("message names the bucket: %q", faxbridge.ErrorMessage(err))
	}
	// A store whose bucket vanished reports it on every call.
	ghost, err := newS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ghost.Put(ctx, "k", strings.NewReader("x"), 1, pdfType); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("Put into a missing bucket: %v", err)
	}
	if err := ghost.Ping(ctx); faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
		t.Errorf("Ping of a missing bucket: %v", err)
	}

	cfg.CreateBucket = true
	s, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatalf("NewS3 creating the bucket: %v", err)
	}
	t.Cleanup(func() { dropBucket(t, s) })
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// Starting again finds the bucket there.
	if _, err := NewS3(ctx, cfg); err != nil {
		t.Fatalf("NewS3 on an existing bucket: %v", err)
	}

	bad := cfg
	bad.SecretKey = "not-the-secret-key"
	_, err = NewS3(ctx, bad)
	if faxbridge.ErrorCode(err) != faxbridge.EUnauthorized {
		t.Fatalf("NewS3 with a wrong secret key: %v, want unauthorized", err)
	}
	if strings.Contains(err.Error(), bad.SecretKey) {
		t.Fatalf("error reveals the secret: %v", err)
	}
}

// unreachable returns an address nothing listens on.
func unreachable(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestS3Unreachable(t *testing.T) {
	cfg := S3Config{Endpoint: unreachable(t), Bucket: "faxes", Region: "us-east-1", AccessKey: "ak", SecretKey: "sk-secret"}
	// Cancelled in Cleanup, not deferred: the parallel subtests run after
	// this function returns, and a cancelled context would pass them for the
	// wrong reason.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	s, err := newS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Each call spends a moment in minio-go's retries: run them side by side.
	for name, call := range map[string]func() error{
		"NewS3":            func() error { _, err := NewS3(ctx, cfg); return err },
		"Put known size":   func() error { return s.Put(ctx, "k", strings.NewReader("%PDF"), 4, pdfType) },
		"Put unknown size": func() error { return s.Put(ctx, "k", strings.NewReader("%PDF"), -1, pdfType) },
		"Delete":           func() error { return s.Delete(ctx, "k") },
		"Ping":             func() error { return s.Ping(ctx) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := call()
			if ctx.Err() != nil {
				t.Fatalf("the test's deadline passed: %v", err)
			}
			if faxbridge.ErrorCode(err) != faxbridge.EUnavailable {
				t.Errorf("%v, want unavailable", err)
			}
			if msg := faxbridge.ErrorMessage(err); msg != "document storage is unavailable" {
				t.Errorf("message %q", msg)
			}
		})
	}
}

// With the region configured, presigning is local: the URL's shape can be
// checked without a server.
func TestNewS3Config(t *testing.T) {
	for _, cfg := range []S3Config{
		{Bucket: "faxes"},
		{Endpoint: "s3.example.com"},
		{Endpoint: "s3.example.com", Bucket: "b"},
		{Endpoint: "s3.example.com", Bucket: "Bad_Name"},
		{Endpoint: "https://s3.example.com", Bucket: "faxes"},
	} {
		if _, err := NewS3(context.Background(), cfg); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("NewS3(%+v): %v, want invalid", cfg, err)
		}
	}
}

func TestS3URLParams(t *testing.T) {
	s, err := newS3(S3Config{Endpoint: "s3.example.com", UseSSL: true, Bucket: "faxes", Region: "eu-west-1",
		AccessKey: "ak", SecretKey: "SECRETKEY123", Prefix: "fb/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tt := range []struct {
		ttl     time.Duration
		expires string
	}{
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{time.Millisecond, "1"},
		{time.Hour, "3600"},
		{7 * 24 * time.Hour, "604800"},
		{30 * 24 * time.Hour, "604800"},
	} {
		raw, err := s.URL(ctx, "doc1", tt.ttl)
		if err != nil {
			t.Fatalf("URL(%v): %v", tt.ttl, err)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		// minio-go picks virtual-host or path style; either way the
		// prefixed key ends the path.
		if u.Scheme != "https" || !strings.HasSuffix(u.Host+u.Path, "faxes.s3.example.com/fb/doc1") &&
			u.Host+u.Path != "s3.example.com/faxes/fb/doc1" {
			t.Errorf("URL %s: wrong place", raw)
		}
		if got := q.Get("X-Amz-Expires"); got != tt.expires {
			t.Errorf("ttl %v: X-Amz-Expires = %s, want %s", tt.ttl, got, tt.expires)
		}
		if got := q.Get("response-content-type"); got != pdfType {
			t.Errorf("response-content-type = %q", got)
		}
		if q.Get("X-Amz-Signature") == "" || strings.Contains(raw, "SECRETKEY123") {
			t.Errorf("URL %s: no signature, or the secret in it", raw)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Minute} {
		if _, err := s.URL(ctx, "doc1", ttl); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("URL with ttl %v: %v, want invalid", ttl, err)
		}
	}
	for _, key := range []string{"../x", "a/b", "", "A"} {
		if _, err := s.URL(ctx, key, time.Hour); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("URL(%q): %v, want invalid", key, err)
		}
		if err := s.Put(ctx, key, strings.NewReader("x"), 1, pdfType); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("Put(%q): %v, want invalid", key, err)
		}
		if err := s.Delete(ctx, key); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
			t.Errorf("Delete(%q): %v, want invalid", key, err)
		}
	}
}

func TestS3Error(t *testing.T) {
	resp := func(code string, status int) error {
		return fmt.Errorf("upload k: %w", minio.ErrorResponse{Code: code, StatusCode: status, Key: "k", BucketName: "b"})
	}
	tests := []struct {
		name string
		err  error
		want faxbridge.Code
	}{
		{"nil", nil, ""},
		{"no such bucket", resp(minio.NoSuchBucket, 404), faxbridge.EUnavailable},
		{"no such key", resp(minio.NoSuchKey, 404), faxbridge.ENotFound},
		{"access denied", resp(minio.AccessDenied, 403), faxbridge.EUnauthorized},
		{"bad access key", resp("InvalidAccessKeyId", 403), faxbridge.EUnauthorized},
		{"bad signature", resp("SignatureDoesNotMatch", 403), faxbridge.EUnauthorized},
		{"unknown 403", resp("", 403), faxbridge.EUnauthorized},
		{"slow down", resp("SlowDown", 503), faxbridge.EUnavailable},
		{"slow down without status", resp("SlowDown", 0), faxbridge.EUnavailable},
		{"internal error", resp("InternalError", 500), faxbridge.EUnavailable},
		{"bad gateway", resp("", 502), faxbridge.EUnavailable},
		{"too many requests", resp("", 429), faxbridge.EUnavailable},
		{"bad request", resp("InvalidArgument", 400), faxbridge.EInternal},
		{"connection refused", &url.Error{Op: "Put", URL: "http://x", Err: errors.New("connection refused")}, faxbridge.EUnavailable},
		{"dns", fmt.Errorf("x: %w", &net.DNSError{Err: "no such host", Name: "x"}), faxbridge.EUnavailable},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), faxbridge.EUnavailable},
		{"canceled", context.Canceled, faxbridge.EUnavailable},
		{"domain error kept", faxbridge.Errorf(faxbridge.ETooLarge, "too big"), faxbridge.ETooLarge},
		{"other", errors.New("boom"), faxbridge.EInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s3Error(tt.err)
			if got := faxbridge.ErrorCode(err); got != tt.want {
				t.Fatalf("code %q, want %q (%v)", got, tt.want, err)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("cause lost: %v", err)
			}
			if msg := faxbridge.ErrorMessage(err); strings.Contains(msg, "k:") || strings.Contains(msg, "http://") {
				t.Errorf("message %q carries internal detail", msg)
			}
		})
	}
}

// BenchmarkS3Put uploads 10 MB documents; B/op stays near one part buffer
// for unknown sizes and far below the document for known sizes.
func BenchmarkS3Put(b *testing.B) {
	s := testS3(b)
	const size = 10 << 20
	for _, known := range []bool{true, false} {
		name := "10MB/known"
		n := int64(size)
		if !known {
			name, n = "10MB/unknown", -1
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Put(context.Background(), "bench", &patternReader{size}, n, pdfType); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

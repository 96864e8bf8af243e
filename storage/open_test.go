package storage

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/faxbridge/faxbridge"
)

// checkOpen is the Open contract both stores share: the bytes put come back
// whole, a missing key is ENotFound, a bad key is refused.
func checkOpen(t *testing.T, s faxbridge.BlobStore) {
	t.Helper()
	ctx := context.Background()
	body := randomBytes(t, 300<<10)
	key := faxbridge.NewID()
	put(t, s, key, body)
	rc, err := s.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Open read %d bytes (%v), want the %d put", len(got), err, len(body))
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, key); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Fatalf("Open of a deleted key: %v, want not found", err)
	}
	if _, err := s.Open(ctx, "../etc/passwd"); err == nil || faxbridge.ErrorCode(err) == faxbridge.ENotFound {
		t.Fatalf("Open of a bad key: %v, want a refusal", err)
	}
}

func TestLocalOpen(t *testing.T) {
	l, _, _ := testLocal(t)
	checkOpen(t, l)
}

func TestS3Open(t *testing.T) {
	checkOpen(t, testS3(t))
}

package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/minio/minio-go/v7"

	"github.com/faxbridge/faxbridge"
)

// Open reads a document back from the directory.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(l.dir, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, faxbridge.WrapError(faxbridge.ENotFound, err, "document not found")
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("open %s: %w", key, err), "document storage is unavailable")
	}
	return f, nil
}

// Open reads a document back from the bucket. It asks for the object's
// metadata first: minio-go's GetObject is lazy, and a missing object would
// otherwise surface only at the first Read, after a caller has started to
// answer.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error(fmt.Errorf("open %s: %w", key, err))
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s3Error(fmt.Errorf("open %s: %w", key, err))
	}
	return obj, nil
}

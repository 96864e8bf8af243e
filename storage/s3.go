package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

const (
	// s3PartSize bounds the memory of one upload. minio-go sizes its part
	// buffer for the largest possible object when the size is unknown (about
	// half a gigabyte per upload); fax documents are a few megabytes, so one
	// 16 MiB part (S3's minimum is 5 MiB) almost always holds a whole document.
	s3PartSize = 16 << 20
	// s3MaxTTL is the longest lifetime SigV4 allows a presigned URL.
	s3MaxTTL = 7 * 24 * time.Hour
	// s3Retries keeps minio-go's own retries short: the worker retries a
	// failed step with its own backoff, and a store that stays down for
	// several seconds should surface as unavailable, not hang the caller.
	s3Retries = 3
)

var _ faxbridge.BlobStore = (*S3)(nil)

// S3Config configures an S3-compatible bucket.
type S3Config struct {
	Endpoint     string // host:port, no scheme
	UseSSL       bool
	Bucket       string
	Region       string // "" lets the client discover it (one extra request per bucket)
	AccessKey    string
	SecretKey    string
	Prefix       string // key prefix inside the bucket, e.g. "faxbridge/"
	CreateBucket bool   // create the bucket if missing (for one-box setups and tests)
}

// S3 stores documents in an S3-compatible bucket and hands out presigned GET
// URLs, so the provider fetches documents straight from the bucket.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// NewS3 connects to the bucket and checks that it exists, creating it when
// cfg.CreateBucket is set, so a misconfiguration shows at startup rather
// than at the first fax.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	s, err := newS3(cfg)
	if err != nil {
		return nil, err
	}
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return nil, s3Error(fmt.Errorf("check bucket %s: %w", s.bucket, err))
	}
	if ok {
		return s, nil
	}
	if !cfg.CreateBucket {
		return nil, missingBucket(fmt.Errorf("bucket %s does not exist", s.bucket))
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: cfg.Region})
	if err != nil {
		// Another instance starting at the same time may have won the race.
		if code := minio.ToErrorResponse(unwrapResponse(err)).Code; code == "BucketAlreadyOwnedByYou" {
			return s, nil
		}
		return nil, s3Error(fmt.Errorf("create bucket %s: %w", s.bucket, err))
	}
	return s, nil
}

// newS3 builds the client without touching the network.
func newS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, faxbridge.Errorf(faxbridge.EInvalid, "S3 storage needs an endpoint and a bucket")
	}
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "invalid S3 bucket name")
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     cfg.UseSSL,
		Region:     cfg.Region,
		MaxRetries: s3Retries,
	})
	if err != nil {
		return nil, faxbridge.WrapError(faxbridge.EInvalid, err, "invalid S3 endpoint")
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

// Put streams the document into the bucket. With a known size minio-go sends
// it as it reads; with size -1 it buffers at most one part.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if contentType == "" {
		contentType = pdfType
	}
	opts := minio.PutObjectOptions{ContentType: contentType, PartSize: s3PartSize}
	if _, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, r, size, opts); err != nil {
		return s3Error(fmt.Errorf("upload %s: %w", key, err))
	}
	return nil
}

// URL presigns a GET for ttl, rounded up to whole seconds and capped at the
// seven days SigV4 allows. The response is forced to application/pdf whatever
// the object was stored with. No request is made when Region is configured.
func (s *S3) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	ttl = min(ceilSeconds(ttl), s3MaxTTL)
	params := url.Values{"response-content-type": {pdfType}}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.prefix+key, ttl, params)
	if err != nil {
		return "", s3Error(fmt.Errorf("presign %s: %w", key, err))
	}
	return u.String(), nil
}

// Delete removes the object; a missing object is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(unwrapResponse(err)).Code == minio.NoSuchKey {
		return nil
	}
	if err != nil {
		return s3Error(fmt.Errorf("delete %s: %w", key, err))
	}
	return nil
}

// List returns the keys under the prefix last modified before `before`.
func (s *S3) List(ctx context.Context, before time.Time) ([]string, error) {
	var keys []string
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, s3Error(fmt.Errorf("list: %w", obj.Err))
		}
		key := strings.TrimPrefix(obj.Key, s.prefix)
		if obj.LastModified.Before(before) && checkKey(key) == nil {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// Ping reports whether the bucket is reachable with our credentials, for
// readiness checks.
func (s *S3) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s3Error(fmt.Errorf("check bucket %s: %w", s.bucket, err))
	}
	if !ok {
		return missingBucket(fmt.Errorf("bucket %s does not exist", s.bucket))
	}
	return nil
}

func missingBucket(err error) error {
	return unavailable(err, "document storage bucket does not exist; check the storage configuration")
}

// unwrapResponse finds minio-go's ErrorResponse in a wrapped chain, because
// minio.ToErrorResponse only looks at the error itself.
func unwrapResponse(err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp
	}
	return err
}

// s3Error translates a minio-go error into a domain error. Messages name no
// bucket, key or credential; the cause stays in Err for the logs.
func s3Error(err error) error {
	if err == nil {
		return nil
	}
	var fe *faxbridge.Error
	if errors.As(err, &fe) {
		return err
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case minio.NoSuchBucket:
			return missingBucket(err)
		case minio.NoSuchKey:
			return faxbridge.WrapError(faxbridge.ENotFound, err, "document not found")
		case minio.AccessDenied, "InvalidAccessKeyId", "SignatureDoesNotMatch",
			"InvalidToken", "ExpiredToken", "AccountProblem":
			return faxbridge.WrapError(faxbridge.EUnauthorized, err, "document storage refused our credentials")
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
			"XMinioServerNotInitialized", "XMinioStorageFull", "XMinioReadQuorum", "XMinioWriteQuorum":
			return unavailable(err, "document storage is unavailable")
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return faxbridge.WrapError(faxbridge.EUnauthorized, err, "document storage refused our credentials")
		case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests:
			return unavailable(err, "document storage is unavailable")
		}
		return faxbridge.WrapError(faxbridge.EInternal, err, "document storage failed")
	}
	// Network trouble of any kind, and our own deadlines running out while
	// waiting on the store, are worth retrying later.
	var nerr net.Error
	var uerr *url.Error
	if errors.As(err, &nerr) || errors.As(err, &uerr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return unavailable(err, "document storage is unavailable")
	}
	return faxbridge.WrapError(faxbridge.EInternal, err, "document storage failed")
}

package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-dev/cairn/blobstore"
)

// PutObject stores data under key unless the key holds an object.
func (s *Store) PutObject(ctx context.Context, key string, data []byte) error {
	if err := blobstore.CheckKey("put", key); err != nil {
		return err
	}
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	if err := s.putObject(ctx, s.objectKey(key), data); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	return nil
}

func (s *Store) putObject(ctx context.Context, full string, data []byte) error {
	if s.noCondPut.Load() || len(data) == 0 {
		// Without If-None-Match a HEAD is the check; it narrows the race
		// between two writers of one key to the time between the HEAD and
		// the PUT (a key has one writer, under its lock, anyway).
		// versitygw v1.8.0 ignores If-None-Match on about 1 in 12 puts of
		// an empty object (25 of 300 here; never on 300 non-empty ones),
		// so empty objects get the HEAD too.
		switch _, err := s.stat(ctx, "put", full); {
		case err == nil:
			return blobstore.ErrExists
		case !errors.Is(err, blobstore.ErrNotFound):
			return err
		}
	}
	err := s.do(ctx, "put", func(ctx context.Context, retried bool) error {
		// Content-MD5 whatever UnsignedPayload says (and over https, where
		// minio-go sends no body hash): an object, unlike a pack, is not
		// verified by its name, so a body damaged in transit would be
		// stored and found only later, as log damage. The server refuses
		// it instead (BadDigest).
		opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true,
			DisableContentSha256: s.cfg.UnsignedPayload, SendContentMd5: true}
		cond := !s.noCondPut.Load()
		if cond {
			opts.SetMatchETagExcept("*")
		}
		_, err := s.core.Client.PutObject(ctx, s.cfg.Bucket, full, bytes.NewReader(data), int64(len(data)), opts)
		switch {
		case err == nil:
			return nil
		case status(err) == http.StatusPreconditionFailed && retried:
			// Perhaps our own earlier attempt, whose response was lost.
			got, gerr := s.getAll(ctx, full)
			if gerr == nil && bytes.Equal(got, data) {
				return nil
			}
			return blobstore.ErrExists
		case status(err) == http.StatusPreconditionFailed:
			return blobstore.ErrExists
		case cond && status(err) == http.StatusNotImplemented:
			s.noCondPut.Store(true)
			return errRetryNow
		}
		return err
	})
	if errors.Is(err, errRetryNow) {
		return s.putObject(ctx, full, data)
	}
	return err
}

// GetObject reads an object.
func (s *Store) GetObject(ctx context.Context, key string) ([]byte, error) {
	if err := blobstore.CheckKey("get", key); err != nil {
		return nil, err
	}
	if err := s.checkOpen(); err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	var b []byte
	err := s.do(ctx, "get", func(ctx context.Context, _ bool) error {
		var err error
		b, err = s.getAll(ctx, s.objectKey(key))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	return b, nil
}

// getAll is one GET of a whole object.
func (s *Store) getAll(ctx context.Context, full string) ([]byte, error) {
	body, info, _, err := s.core.GetObject(ctx, s.cfg.Bucket, full, minio.GetObjectOptions{})
	if err != nil {
		if isNotFound(err) {
			return nil, s.notFound(ctx, err)
		}
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != info.Size {
		return nil, fmt.Errorf("response cut short at %d of %d bytes: %w", len(b), info.Size, io.ErrUnexpectedEOF)
	}
	// An object was read, so the bucket exists: a later 404 is a missing
	// key without a HEAD of the bucket (opening a repository reads
	// cairn.repo, then looks for the next log record, which is missing).
	s.bucketOK.Store(true)
	return b, nil
}

// ListObjects lists the keys under prefix in ascending order (S3 lists in
// byte order, which is key order for ValidKey's alphabet). Keys that are
// not valid object keys (packs/, local/, strays) are skipped.
func (s *Store) ListObjects(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	return s.ListObjectsDated(ctx, prefix, func(key string, size int64, _ time.Time) error { return fn(key, size) })
}

// ListObjectsDated is ListObjects with each object's Last-Modified, the
// server's clock.
func (s *Store) ListObjectsDated(ctx context.Context, prefix string, fn func(key string, size int64, modified time.Time) error) error {
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("list objects %s: %w", prefix, err)
	}
	var cbErr error
	err := s.list(ctx, s.prefix+prefix, func(full string, size int64, modified time.Time) error {
		key := full[len(s.prefix):]
		if !blobstore.ValidKey(key) {
			return nil
		}
		cbErr = fn(key, size, modified)
		return cbErr
	})
	if cbErr != nil {
		return cbErr
	}
	if err != nil {
		return fmt.Errorf("list objects %s: %w", prefix, err)
	}
	return nil
}

// ErrStop, returned by the function ListAfter calls, ends the listing
// without an error.
var ErrStop = errors.New("s3store: stop listing")

// ListAfter lists the object keys that sort after start, across the
// repository's prefixes, in key order, until fn returns ErrStop or the
// keys run out; page is how many keys one request asks for (0: the
// server's 1000). It lets one LIST answer for neighbouring prefixes
// (gc/, keys/: the plans a snapshot reads, and whether the key file that
// opened the repository is still there): a page that reaches past what
// fn wants is one request. fn sees every key, packs/ and strays too
// (blobstore.ValidKey tells objects), so that it can stop at the first
// key past what it wants instead of paging through every pack.
func (s *Store) ListAfter(ctx context.Context, start string, page int, fn func(key string, size int64) error) error {
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("list objects after %s: %w", start, err)
	}
	after := s.prefix + start
	var fnErr error
	err := s.do(ctx, "list", func(actx context.Context, _ bool) error {
		lctx, cancel := context.WithCancel(actx)
		defer cancel() // stops minio-go's listing goroutine once fn has enough
		for obj := range s.core.Client.ListObjects(lctx, s.cfg.Bucket, minio.ListObjectsOptions{
			Prefix: s.prefix, Recursive: true, StartAfter: after, MaxKeys: page,
		}) {
			if obj.Err != nil {
				return obj.Err
			}
			if !strings.HasPrefix(obj.Key, s.prefix) || obj.Key <= after {
				continue
			}
			after = obj.Key
			if err := fn(obj.Key[len(s.prefix):], obj.Size); err != nil {
				fnErr = err
				return nil
			}
		}
		return nil
	})
	if errors.Is(fnErr, ErrStop) {
		return nil
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("list objects after %s: %w", start, err)
	}
	return nil
}

// DeleteObject removes an object; a missing one is ErrNotFound.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	if err := blobstore.CheckKey("delete", key); err != nil {
		return err
	}
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	if err := s.remove(ctx, s.objectKey(key)); err != nil {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	return nil
}

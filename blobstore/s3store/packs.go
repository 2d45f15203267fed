package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cairn-dev/cairn/blobstore"
)

func checkName(verb, name string) error {
	if !blobstore.ValidName(name) {
		return fmt.Errorf("%s pack %q: %w", verb, name, blobstore.ErrInvalidName)
	}
	return nil
}

// Create starts an upload buffered in a temporary file.
func (s *Store) Create(ctx context.Context) (blobstore.Upload, error) {
	if err := s.checkOpen(); err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	f, err := os.CreateTemp(s.cfg.TmpDir, "s3upload-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	return &upload{s: s, f: f}, nil
}

// upload is a pack on its way to one PUT.
type upload struct {
	s         *Store
	f         *os.File
	n         int64
	committed bool
	aborted   bool
}

func (u *upload) Write(p []byte) (int, error) {
	if u.committed || u.aborted {
		return 0, errors.New("write upload: upload already finished")
	}
	n, err := u.f.Write(p)
	u.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write upload: %w", err)
	}
	return n, nil
}

// Commit PUTs the pack in one request and returns once the server has
// stored it. A pack that exists already with the same size is kept:
// names are content hashes.
func (u *upload) Commit(ctx context.Context, name string) error {
	if err := checkName("commit", name); err != nil {
		return err
	}
	if u.committed || u.aborted {
		return fmt.Errorf("commit pack %s: upload already finished", name)
	}
	if err := u.s.checkOpen(); err != nil {
		return fmt.Errorf("commit pack %s: %w", name, err)
	}
	select {
	case u.s.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("commit pack %s: %w", name, ctx.Err())
	}
	err := u.s.putPack(ctx, name, u.f, u.n)
	<-u.s.slots
	if err != nil {
		return fmt.Errorf("commit pack %s: %w", name, err)
	}
	u.committed = true
	u.f.Close()
	os.Remove(u.f.Name())
	return nil
}

// putPack sends size bytes of f as pack name. If-None-Match keeps an
// existing pack; a 412 then checks that it has our size.
func (s *Store) putPack(ctx context.Context, name string, f io.ReaderAt, size int64) error {
	return s.putPackOnce(ctx, name, f, size, false)
}

// putPackOnce is putPack; replaced says a damaged object under the name
// was removed already, so a second one is an error.
func (s *Store) putPackOnce(ctx context.Context, name string, f io.ReaderAt, size int64, replaced bool) error {
	key := s.packKey(name)
	exists := false
	err := s.do(ctx, "put", func(ctx context.Context, _ bool) error {
		opts := minio.PutObjectOptions{
			ContentType: "application/octet-stream",
			// One PUT per pack: never split into a multipart upload.
			DisableMultipart: true,
			// Over plain http minio-go signs the body (SHA-256 per
			// 64 KiB chunk, checked by the server) unless told not to.
			DisableContentSha256: s.cfg.UnsignedPayload,
		}
		cond := !s.noCondPut.Load()
		if cond {
			opts.SetMatchETagExcept("*")
		}
		_, err := s.core.Client.PutObject(ctx, s.cfg.Bucket, key, io.NewSectionReader(f, 0, size), size, opts)
		switch {
		case err == nil:
			return nil
		case status(err) == http.StatusPreconditionFailed:
			exists = true
			return nil
		case cond && status(err) == http.StatusNotImplemented:
			s.noCondPut.Store(true)
			return errRetryNow
		}
		return err
	})
	if errors.Is(err, errRetryNow) {
		return s.putPackOnce(ctx, name, f, size, replaced)
	}
	if err != nil || !exists {
		return err
	}
	got, err := s.stat(ctx, "put", key)
	if err != nil {
		return err
	}
	if got != size {
		// A pack's name is the hash of its bytes, so one of another size
		// under it is damage: what a server kept of a PUT whose client
		// was killed (versitygw does, with an unsigned body). Replace it.
		if replaced {
			return fmt.Errorf("exists with %d bytes, upload has %d", got, size)
		}
		if err := s.remove(ctx, key); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("replace a pack of %d bytes with one of %d: %w", got, size, err)
		}
		return s.putPackOnce(ctx, name, f, size, true)
	}
	return nil
}

// errRetryNow makes a put start over without the conditional header.
var errRetryNow = errors.New("s3store: server lacks If-None-Match; retrying without")

// Abort removes the temporary file; after Commit there is nothing to do.
func (u *upload) Abort() error {
	if u.committed || u.aborted {
		return nil
	}
	u.aborted = true
	u.f.Close()
	if err := os.Remove(u.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("abort upload: %w", err)
	}
	return nil
}

// Stat HEADs a pack.
func (s *Store) Stat(ctx context.Context, name string) (int64, error) {
	if err := checkName("stat", name); err != nil {
		return 0, err
	}
	if err := s.checkOpen(); err != nil {
		return 0, fmt.Errorf("stat pack %s: %w", name, err)
	}
	size, err := s.stat(ctx, "stat", s.packKey(name))
	if err != nil {
		return 0, fmt.Errorf("stat pack %s: %w", name, err)
	}
	return size, nil
}

// List lists <prefix>/packs/. Keys that are not <ab>/<name>.pack in the
// fan-out directory their name picks are skipped, as Local skips stray
// files.
func (s *Store) List(ctx context.Context, fn func(name string, size int64) error) error {
	return s.ListDated(ctx, func(name string, size int64, _ time.Time) error { return fn(name, size) })
}

// ListDated is List with each pack's Last-Modified, the server's clock
// (blobstore.DatedLister): gc keeps an unrecorded pack younger than its
// grace period, which without a date it could only keep for ever.
func (s *Store) ListDated(ctx context.Context, fn func(name string, size int64, committed time.Time) error) error {
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	base := s.prefix + "packs/"
	var cbErr error
	err := s.list(ctx, base, func(key string, size int64, modified time.Time) error {
		rest := strings.TrimPrefix(key, base)
		dir, file, ok := strings.Cut(rest, "/")
		name, isPack := strings.CutSuffix(file, ".pack")
		if !ok || !isPack || !blobstore.ValidName(name) || name[:2] != dir {
			return nil
		}
		cbErr = fn(name, size, modified)
		return cbErr
	})
	if cbErr != nil {
		return cbErr
	}
	if err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	return nil
}

// Delete removes a pack; a missing one is ErrNotFound.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := checkName("delete", name); err != nil {
		return err
	}
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("delete pack %s: %w", name, err)
	}
	if s.cache != nil {
		s.cache.drop(name)
	}
	if err := s.remove(ctx, s.packKey(name)); err != nil {
		return fmt.Errorf("delete pack %s: %w", name, err)
	}
	return nil
}

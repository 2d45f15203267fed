// Package s3store keeps a repository's packs and objects in a bucket of an
// S3-compatible server, through github.com/minio/minio-go/v7 (what restic
// and kopia use):
//
//	<prefix>/packs/ab/<64 hex>.pack   the packs (blobstore.Store)
//	<prefix>/<key>                    everything else (blobstore.Objects)
//
// # Requests
//
// Every pack is one PUT, never a multipart upload: packs seal just over
// 16 MiB, which minio-go's default 16 MiB part size would split into two
// parts and three extra requests. An upload is buffered in a temporary
// file (page cache, not the heap) and PUT by Commit, which returns once
// the server has acknowledged it: a committed pack is durable. At most
// Config.Uploads PUTs are in flight; a Commit beyond that waits for a
// slot, which bounds what a fast producer can queue.
//
// Failed requests are retried (Config.Attempts tries, exponential backoff
// with jitter, never past the caller's context) when the failure may be
// transient: 5xx, 429, 408, a timeout, a reset or refused connection, a
// body cut short. minio-go's own retries are off, so these are the only
// ones and tests can count them.
//
// PutObject sends If-None-Match: * so that a server refuses to overwrite
// a log record (412, ErrExists). Correctness never depends on it: every
// key is written by one writer, under its lock. A server that answers 501
// to the header gets a HEAD before each put instead. A 412 on a retry may
// be the server refusing our own earlier attempt whose response was lost;
// the object is then read back and compared, and only a different object
// is ErrExists.
//
// Deleting a missing object succeeds on S3, so DeleteObject and Delete
// HEAD first to report ErrNotFound as the Store contract says.
//
// # Reads
//
// ReadAt is a ranged GET. Reads of one pack that follow each other
// (a restore reading a file's chunks, check reading every blob) are
// coalesced by a small read-ahead cache: a read that starts within 256 KiB
// after the end of the previous read of the same pack fetches more than it
// was asked for (256 KiB the first time, doubling up to Config.ReadAhead),
// and the neighbouring reads that follow are served from memory. A read
// of an unrelated place fetches exactly its range, so a one-file restore
// downloads what it needs and no more.
package s3store

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairn-dev/cairn/blobstore"
)

var (
	_ blobstore.Store       = (*Store)(nil)
	_ blobstore.Objects     = (*Store)(nil)
	_ blobstore.DatedLister = (*Store)(nil)
)

var (
	// ErrClosed reports a call on a Store after Close.
	ErrClosed = errors.New("s3store: store is closed")
	// ErrNoBucket reports a bucket that does not exist. It is never
	// ErrNotFound: a mistyped bucket must not make every pack look lost
	// (check would record them missing).
	ErrNoBucket = errors.New("s3store: no such bucket")
	// ErrNoCredentials reports that neither the environment nor the
	// shared files hold S3 credentials.
	ErrNoCredentials = errors.New("s3store: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to ~/.aws/credentials")
)

// Defaults of Config's zero fields.
const (
	DefaultUploads        = 4
	DefaultAttempts       = 5
	DefaultBackoff        = 100 * time.Millisecond
	DefaultReadAhead      = 4 << 20
	DefaultAttemptTimeout = 5 * time.Minute
	maxBackoff            = 5 * time.Second
	readCacheBytes        = 16 << 20
)

// Config says where a Store keeps its data and how it talks to the server.
type Config struct {
	// Endpoint is the server's URL: "http://127.0.0.1:7070" or
	// "https://s3.example.com". Empty means AWS (https://s3.amazonaws.com).
	// Requests use path-style addressing (endpoint/bucket/key), which every
	// S3-compatible server understands.
	Endpoint string
	// Bucket holds the repository; it must exist.
	Bucket string
	// Prefix is the repository's key prefix in the bucket, without
	// leading or trailing "/"; empty is the bucket's root.
	Prefix string
	// Region is the bucket's region; empty means $AWS_REGION, then
	// $AWS_DEFAULT_REGION, then us-east-1 (asking the server would cost a
	// request at every start).
	Region string
	// Creds signs requests; nil means the AWS conventions: the
	// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
	// AWS_SESSION_TOKEN), then the shared files ~/.aws/credentials and
	// ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE).
	Creds *credentials.Credentials
	// WrapTransport, if set, wraps the HTTP transport (tests count
	// requests or inject network faults there).
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// TmpDir holds uploads until they are PUT; empty means os.TempDir().
	TmpDir string
	// Uploads is the most PUTs of packs in flight at once (DefaultUploads).
	Uploads int
	// Attempts is how many times a request is tried (DefaultAttempts).
	Attempts int
	// Backoff is the wait before the first retry; it doubles, with
	// jitter, up to 5 s (DefaultBackoff).
	Backoff time.Duration
	// AttemptTimeout bounds one try of a request (DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// ReadAhead is the most a coalesced read fetches (DefaultReadAhead);
	// negative turns coalescing off.
	ReadAhead int
	// UnsignedPayload skips the SHA-256 of every PUT body that minio-go
	// computes (and the server checks) over plain http; over https it is
	// always skipped, TLS protecting the body. On loopback it raised PUTs
	// of 16 MiB packs to versitygw from 61-71 to 113-162 MiB/s (one at a
	// time, a loaded machine; TestMeasureThroughput). For
	// trusted networks only: packs are checked on read (their names are
	// hashes), but a body changed in transit is then found only by a
	// restore or check. Objects (log records, checkpoints, key files,
	// cairn.repo) always carry a Content-MD5, which the server checks.
	UnsignedPayload bool
}

// Store is a blobstore.Store and blobstore.Objects in an S3 bucket. It is
// safe for concurrent use.
type Store struct {
	cfg    Config
	core   *minio.Core
	prefix string // cfg.Prefix + "/", or "" at the bucket's root
	slots  chan struct{}
	cache  *readCache

	// noCondPut is set once the server refused If-None-Match (501).
	noCondPut atomic.Bool
	closed    atomic.Bool
	// bucketOK is set once the bucket is known to exist: a HEAD of a
	// missing key and of a key in a missing bucket both answer a bare
	// 404, so the first 404 asks about the bucket.
	bucketOK atomic.Bool

	mu       sync.Mutex
	attempts map[string]int // retries by operation, for tests

	listPage int // keys per LIST request; 0 is the server's (1000)
}

// New opens the repository at cfg's bucket and prefix. It sends no
// request: a wrong endpoint or missing bucket shows at the first call.
func New(cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3store: no bucket")
	}
	if err := checkPrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	u, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	secure := u.Scheme == "https"
	if cfg.Region == "" {
		cfg.Region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
	}
	if cfg.Creds == nil {
		cfg.Creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
		})
		// The chain falls back to anonymous requests, which a repository's
		// bucket refuses with a bare "Access Denied": say what is missing.
		if v, err := cfg.Creds.Get(); err != nil || v.SignerType.IsAnonymous() {
			return nil, ErrNoCredentials
		}
	}
	if cfg.TmpDir == "" {
		cfg.TmpDir = os.TempDir()
	}
	if cfg.Uploads <= 0 {
		cfg.Uploads = DefaultUploads
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.ReadAhead == 0 {
		cfg.ReadAhead = DefaultReadAhead
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	tr.ResponseHeaderTimeout = 2 * time.Minute
	var rt http.RoundTripper = tr
	if cfg.WrapTransport != nil {
		rt = cfg.WrapTransport(rt)
	}
	core, err := minio.NewCore(u.Host, &minio.Options{
		Creds:        cfg.Creds,
		Secure:       secure,
		Transport:    rt,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1, // ours, in do: bounded, counted, honouring ctx
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	s := &Store{cfg: cfg, core: core, slots: make(chan struct{}, cfg.Uploads), attempts: map[string]int{}}
	if cfg.Prefix != "" {
		s.prefix = cfg.Prefix + "/"
	}
	if cfg.ReadAhead > 0 {
		s.cache = newReadCache(readCacheBytes, cfg.ReadAhead)
	}
	return s, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// Bucket and Prefix say where the repository is.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// Prefix is the repository's key prefix ("" at the bucket's root).
func (s *Store) Prefix() string { return s.cfg.Prefix }

// Retries returns how many requests of op ("put", "get", ...) were tried
// again after a transient failure.
func (s *Store) Retries(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[op]
}

// Close refuses later calls. Nothing is buffered: a Commit that returned
// nil is already on the server.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// packKey is where pack name lives.
func (s *Store) packKey(name string) string {
	return s.prefix + "packs/" + name[:2] + "/" + name + ".pack"
}

// objectKey is where object key lives.
func (s *Store) objectKey(key string) string { return s.prefix + key }

// do runs one request with retries: fn gets a context bounded by the
// attempt timeout and is called again, after a backoff, while its error is
// transient and attempts remain. retried tells fn that an earlier attempt
// may have reached the server.
func (s *Store) do(ctx context.Context, op string, fn func(ctx context.Context, retried bool) error) error {
	wait := s.cfg.Backoff
	var err error
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		if attempt > 0 {
			s.mu.Lock()
			s.attempts[op]++
			s.mu.Unlock()
			// Full jitter between wait/2 and wait spreads the retries of
			// many uploads that failed together.
			d := wait/2 + rand.N(wait/2+1)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return errors.Join(err, ctx.Err())
			case <-t.C:
			}
			wait = min(2*wait, maxBackoff)
		}
		actx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
		err = fn(actx, attempt > 0)
		cancel()
		if err == nil || !transient(ctx, err) {
			return err
		}
	}
	return err
}

// transient reports whether err may go away if the request is tried
// again. ctx is the caller's: once it is done nothing is retried.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true // the attempt's own timeout, not the caller's
	}
	resp := minio.ToErrorResponse(err)
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	switch resp.Code {
	case "RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed":
		return true
	case "BadDigest", "XAmzContentSHA256Mismatch":
		// The body was damaged on its way: the server refused it, and the
		// next attempt sends it again from memory.
		return true
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var (
		unknownCA x509.UnknownAuthorityError
		badHost   x509.HostnameError
		badCert   x509.CertificateInvalidError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &badHost) || errors.As(err, &badCert) {
		return false // a certificate does not mend by trying again
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return true // the request did not complete: transport trouble
	}
	return strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}

// status is the HTTP status of a failed request, 0 if there was none.
func status(err error) int { return minio.ToErrorResponse(err).StatusCode }

func isNotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey" || r.Code == "NotFound" || r.Code == "NoSuchBucket"
}

// notFound turns a 404 into ErrNotFound once the bucket is known to
// exist, or into ErrNoBucket.
func (s *Store) notFound(ctx context.Context, err error) error {
	if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
		return fmt.Errorf("%s: %w", s.cfg.Bucket, ErrNoBucket)
	}
	if s.bucketOK.Load() {
		return blobstore.ErrNotFound
	}
	ok, berr := s.core.BucketExists(ctx, s.cfg.Bucket)
	switch {
	case berr != nil:
		return berr
	case !ok:
		return fmt.Errorf("%s: %w", s.cfg.Bucket, ErrNoBucket)
	}
	s.bucketOK.Store(true)
	return blobstore.ErrNotFound
}

// stat is a HEAD of key: its size, or ErrNotFound.
func (s *Store) stat(ctx context.Context, op, key string) (int64, error) {
	var size int64
	err := s.do(ctx, op, func(ctx context.Context, _ bool) error {
		info, err := s.core.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
		if err != nil {
			if isNotFound(err) {
				return s.notFound(ctx, err)
			}
			return err
		}
		size = info.Size
		return nil
	})
	return size, err
}

// remove HEADs key (ErrNotFound if missing: S3 would say nothing) and
// deletes it.
func (s *Store) remove(ctx context.Context, key string) error {
	if _, err := s.stat(ctx, "delete", key); err != nil {
		return err
	}
	return s.do(ctx, "delete", func(ctx context.Context, _ bool) error {
		return s.core.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{})
	})
}

// list calls fn for every key under full (a complete key prefix) in
// ascending order, paging and retrying a failed page from the last key
// seen.
func (s *Store) list(ctx context.Context, full string, fn func(key string, size int64, modified time.Time) error) error {
	after := ""
	var fnErr error
	err := s.do(ctx, "list", func(actx context.Context, _ bool) error {
		lctx, cancel := context.WithCancel(actx)
		defer cancel() // stops minio-go's listing goroutine if fn fails
		for obj := range s.core.Client.ListObjects(lctx, s.cfg.Bucket, minio.ListObjectsOptions{
			Prefix: full, Recursive: true, StartAfter: after, MaxKeys: s.listPage,
		}) {
			if obj.Err != nil {
				return obj.Err
			}
			if !strings.HasPrefix(obj.Key, full) || (after != "" && obj.Key <= after) {
				continue
			}
			if err := fn(obj.Key, obj.Size, obj.LastModified); err != nil {
				fnErr = err
				return nil
			}
			after = obj.Key
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

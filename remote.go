package cairn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/s3store"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/keys"
)

// A remote-primary repository is s3://bucket/prefix: cairn.repo, keys/,
// packs/, log/ and checkpoints/ are objects under the prefix, and what is
// this installation's own (local/: catalog.db, tmp/, locks, writer id) is
// $XDG_CACHE_HOME/cairn/<repository id>/. The catalog there is a cache:
// when it is missing (a new machine, a cleared cache) Open rebuilds it from
// the log and says so.

// ErrRemoteNeedsKey refuses to create a repository in a bucket, or a
// replica of one, that nothing but a local key would open: a bucket must
// never hold a readable key, and local/ never leaves this machine.
var ErrRemoteNeedsKey = errors.New("a repository in a bucket needs a password or key file")

// IsRemote reports whether location names a repository in an S3 bucket
// (s3://bucket/prefix) rather than a directory.
func IsRemote(location string) bool { return s3store.IsURL(location) }

// Remote reports whether the repository lives in an S3 bucket (Dir is then
// its s3:// address and LocalDir the cache holding its catalog).
func (r *Repo) Remote() bool { return r.remote }

// LocalDir is this installation's own directory of the repository: REPO/local,
// or $XDG_CACHE_HOME/cairn/<id> for a repository in a bucket.
func (r *Repo) LocalDir() string { return r.localDir }

// s3Transport wraps the HTTP transport of every S3 store Open makes; tests
// count requests there (export_test.go).
var s3Transport func(http.RoundTripper) http.RoundTripper

// s3Config parses an s3:// location for the endpoint given (else
// $CAIRN_S3_ENDPOINT, else AWS). Plain http is for loopback only, unless
// $CAIRN_S3_ALLOW_HTTP=1 says the network is trusted: credentials never
// travel, but every object's contents would, sealed yet unauthenticated
// in transit.
func s3Config(location, endpoint, tmpDir string) (s3store.Config, error) {
	if endpoint == "" {
		endpoint = os.Getenv("CAIRN_S3_ENDPOINT")
	}
	cfg, err := s3store.ParseURL(location, endpoint)
	if err != nil {
		return cfg, err
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil {
			return cfg, fmt.Errorf("s3 endpoint %q: %v", endpoint, err)
		}
		if u.Scheme == "http" {
			if !loopback(u.Hostname()) && os.Getenv("CAIRN_S3_ALLOW_HTTP") != "1" {
				return cfg, fmt.Errorf("s3 endpoint %s: plain http is allowed on loopback only (use https, or set CAIRN_S3_ALLOW_HTTP=1 on a trusted network)", endpoint)
			}
			// s3store.Config.UnsignedPayload stays off, even on loopback,
			// where it would nearly double upload speed: without the
			// signed body, versitygw keeps what it received of a PUT
			// whose client was killed under the object's final name (a
			// pack of 6-12 MiB instead of 16 in 2 of 5 runs of
			// TestKillReplicate; 0 of 5 signed).
		}
	}
	cfg.TmpDir = tmpDir
	cfg.WrapTransport = s3Transport
	return cfg, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// remoteCacheRoot is $XDG_CACHE_HOME/cairn (~/.cache/cairn).
func remoteCacheRoot() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory for a remote repository's catalog: %w (set XDG_CACHE_HOME)", err)
	}
	return filepath.Join(d, "cairn"), nil
}

// openRemote is Open of a repository in a bucket: from this machine's
// copy of cairn.repo and the key files when it is fresh, and once more
// from the bucket when what failed may come from the copy being out of
// date (remotecache.go).
func openRemote(ctx context.Context, location string, opts Options) (*Repo, error) {
	opts.location = location
	opts.AskPassword = askOnce(opts.AskPassword)
	r, err := remoteRepo(ctx, location, opts, !opts.Recheck)
	if err != nil {
		return nil, err
	}
	err = r.openFormat2(ctx, opts)
	if err == nil {
		return r, nil
	}
	r.store.Close()
	if r.remoteState == nil || !staleState(err) {
		return nil, err
	}
	if r, err = remoteRepo(ctx, location, opts, false); err != nil {
		return nil, err
	}
	if err := r.openFormat2(ctx, opts); err != nil {
		r.store.Close()
		return nil, err
	}
	return r, nil
}

// remoteRepo sets up the Repo of the repository at an s3:// location,
// without its catalog: the store (packs and objects), cairn.repo read,
// the local directory in the cache. With opts.Create an empty prefix
// becomes a new repository, protected by the password or key file opts
// give (there must be one).
//
// With useCopy, cairn.repo comes from this machine's copy when that is
// fresh (remotecache.go), and so will the key files.
func remoteRepo(ctx context.Context, location string, opts Options, useCopy bool) (*Repo, error) {
	if opts.Store != nil {
		return nil, fmt.Errorf("repository %s: Options.Store is for a directory's repository; an s3:// one makes its own", location)
	}
	cfg, err := s3Config(location, opts.S3Endpoint, "")
	if err != nil {
		return nil, err
	}
	probe, err := s3store.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", location, err)
	}
	defer probe.Close()
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	root, err := remoteCacheRoot()
	if err != nil {
		return nil, err
	}
	statePath := remoteStatePath(root, cfg)
	var state *remoteState
	var rf repoFile
	var params chunker.Params
	var repoBytes []byte
	if useCopy {
		if state = loadRemoteState(statePath, location, cfg, now()); state != nil {
			if rf, params, err = parseRepoFile(location, state.Repo); err != nil {
				state = nil
			}
		}
	}
	if state == nil {
		repoBytes, err = probe.GetObject(ctx, repoFileName)
		if err == nil {
			rf, params, err = parseRepoFile(location, repoBytes)
		} else {
			err = fmt.Errorf("repository %s: %w", location, err)
		}
	}
	if errors.Is(err, blobstore.ErrNotFound) {
		if !opts.Create {
			return nil, fmt.Errorf("%w at %s", ErrNoRepository, location)
		}
		if opts.ReadOnly {
			return nil, fmt.Errorf("repository %s: %w: cannot create a repository read-only", location, ErrReadOnly)
		}
		if err := createRemote(ctx, location, probe, opts, now()); err != nil {
			return nil, err
		}
		if repoBytes, err = probe.GetObject(ctx, repoFileName); err == nil {
			rf, params, err = parseRepoFile(location, repoBytes)
		} else {
			err = fmt.Errorf("repository %s: %w", location, err)
		}
	}
	if err != nil {
		return nil, err
	}
	r := &Repo{Dir: location, Params: params, id: rf.ID, remote: true, localDir: filepath.Join(root, rf.ID),
		now: now, waiting: opts.Waiting, notify: opts.Notify,
		remoteState: state, statePath: statePath, s3Endpoint: cfg.Endpoint, repoBytes: repoBytes}
	if r.notify == nil {
		r.notify = func(string) {}
	}
	if err := os.MkdirAll(r.tmpDir(), 0o700); err != nil {
		return nil, fmt.Errorf("repository %s: create its local directory: %w", location, err)
	}
	cfg.TmpDir = r.tmpDir()
	st, err := s3store.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", location, err)
	}
	r.objects, r.store = st, st
	r.readOnly = opts.ReadOnly || !writable(r.localDir)
	return r, nil
}

// createRemote lays out a new repository under an empty prefix: key files
// for the secrets opts give, this installation's writer id in the cache,
// then cairn.repo, written last and create-only.
func createRemote(ctx context.Context, location string, st *s3store.Store, opts Options, now time.Time) error {
	secrets, err := opts.secrets()
	if err != nil {
		return err
	}
	if len(secrets) == 0 {
		return fmt.Errorf("create repository %s: %w (no bucket may hold a readable key)", location, ErrRemoteNeedsKey)
	}
	if err := refuseNonEmpty(ctx, location, st); err != nil {
		return err
	}
	id, err := randomID(16)
	if err != nil {
		return err
	}
	root, err := remoteCacheRoot()
	if err != nil {
		return err
	}
	local := filepath.Join(root, id)
	m, err := keys.NewMaster()
	if err != nil {
		return err
	}
	defer clear(m[:])
	rf, err := newRepoFile(id, now)
	if err != nil {
		return err
	}
	if err := storeNewMaster(ctx, st, local, m, opts); err != nil {
		return fmt.Errorf("create repository %s: %w", location, err)
	}
	if _, err := writerID(ctx, st, local, false, nil); err != nil {
		return fmt.Errorf("create repository %s: %w", location, err)
	}
	if err := st.PutObject(ctx, repoFileName, append(rf, '\n')); err != nil && !errors.Is(err, blobstore.ErrExists) {
		return fmt.Errorf("create repository %s: %w", location, err)
	}
	return nil
}

// refuseNonEmpty refuses to create a repository under a prefix that holds
// objects already: someone else's data, or another tool's.
func refuseNonEmpty(ctx context.Context, location string, st *s3store.Store) error {
	errFound := errors.New("found")
	var first string
	err := st.ListObjects(ctx, "", func(key string, _ int64) error { first = key; return errFound })
	if err == nil {
		err = st.List(ctx, func(name string, _ int64) error { first = "packs/" + name; return errFound })
	}
	switch {
	case errors.Is(err, errFound):
		return fmt.Errorf("%s: %w (it holds %s but no %s)", location, ErrNotRepository, first, repoFileName)
	case err != nil:
		return fmt.Errorf("repository %s: %w", location, err)
	}
	return nil
}

// skipDirs are the directories a snapshot or restore of a source must
// never touch: the repository's directory, and its local directory when
// that is elsewhere (the cache of a remote repository).
func (r *Repo) skipDirs() []string {
	if r.remote {
		return []string{r.localDir}
	}
	return []string{r.Dir}
}

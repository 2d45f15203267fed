// Package cairn takes frequent, cheap, deduplicated snapshots of a
// directory into a local repository, keeps their history in a SQLite
// catalog anyone can query, and restores any file in one call.
//
// A repository is a directory holding cairn.repo (what it is), packs/
// (immutable pack files of compressed chunks), log/ and checkpoints/ (the
// sealed metadata log every catalog change is first written to) and local/
// (this installation's own: catalog.db, a view the log can rebuild, scratch
// space, locks). Open creates one on first use. docs/design.md describes
// the layout.
package cairn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/keys"
	"github.com/cairn-dev/cairn/metalog"
)

// RepositoryFormat is the version of the repository layout this cairn
// writes (meta key "repository_format"). A repository with a higher one is refused.
// It is not the catalog's schema version (PRAGMA user_version, advanced by
// migrations) nor the pack format (the version in a pack's magic, see
// blobstore/doc.go).
const RepositoryFormat = 2

var (
	// ErrNoRepository means the directory holds no repository and the
	// command does not create one.
	ErrNoRepository = errors.New("no cairn repository")
	// ErrNotRepository means the directory holds something else.
	ErrNotRepository = errors.New("not a cairn repository")
	// ErrTooNew means a newer cairn wrote the repository.
	ErrTooNew = errors.New("repository written by a newer cairn")
	// ErrReadOnly refuses a write to a repository opened read-only.
	ErrReadOnly = errors.New("repository is read-only")
)

// Repo is an open repository. Its methods are the whole public API: an
// application (and the cairn command) never reaches the catalog or the
// packs underneath.
type Repo struct {
	// Dir is the repository's directory, absolute, or its s3://bucket/prefix
	// address (Remote; LocalDir is then its cache).
	Dir string
	// Params are the chunker parameters the repository was created with.
	Params chunker.Params

	db       *catalog.DB
	store    blobstore.Store
	now      func() time.Time
	waiting  func(msg string)
	notify   func(msg string)
	readOnly bool

	// Format 2 (all zero in a format-1 repository, except localDir).
	keys            *keys.Set         // derived from the master key
	id              string            // repository id, from cairn.repo
	localDir        string            // REPO/local; REPO itself in format 1
	objects         blobstore.Objects // cairn.repo, keys/, log/, checkpoints/
	log             *metalog.Log      // this installation's log; nil in format 1
	appendedRecords atomic.Int64      // log records this process wrote (journal.go)
	remote          bool              // in an S3 bucket: Dir is s3://..., localDir is in the cache (remote.go)
	keyring         *keyring          // what unlocked it, for the key methods (unlock.go); nil in format 1

	// A repository in a bucket (remotecache.go): the copy of cairn.repo
	// and the key files Open used (nil: it read the bucket), where the
	// copy is kept, and what is written there after reading the bucket.
	remoteState *remoteState
	keysChecked atomic.Int64 // when keys/ last held the key file that opened it (unix ns; 0: not since Open from the copy; confirmKeys)
	statePath   string
	s3Endpoint  string
	repoBytes   []byte

	codecOnce sync.Once
	packCodec *blobstore.Codec
}

// Options choose how Open opens a repository. The zero value opens an
// existing local repository for reading and writing. What a repository
// may need later to be opened (a password or key file for an encrypted
// one, a remote store's address) joins here.
type Options struct {
	// Create makes a new repository when the directory is missing or
	// empty. A directory holding anything else is refused untouched.
	Create bool
	// ReadOnly opens the catalog read-only, creating nothing in the
	// directory; every command that writes fails with ErrReadOnly. A
	// repository this process may not write is opened read-only anyway.
	ReadOnly bool
	// Store holds the packs; nil means the directory's own packs/. Tests
	// pass an in-memory or fault-injecting store here; a remote store
	// will come the same way. The Repo closes it.
	Store blobstore.Store
	// Now is the clock for timestamps and retention; nil is time.Now.
	Now func() time.Time
	// Waiting is told, in a sentence, when a call waits for another
	// process's lock; nil says nothing.
	Waiting func(msg string)

	// Password opens a repository protected by a password; at create, it
	// protects the new repository (a key file in keys/ instead of
	// local/key). PasswordFile names a file holding it (one trailing
	// newline is dropped). KeyFile names a raw key file (at least 32
	// random bytes), which works the same way with HKDF instead of
	// argon2id. Several may be given: at create each makes a key file; to
	// open, each is tried.
	Password     []byte
	PasswordFile string
	KeyFile      string
	// AskPassword is called, with the repository's name, when a
	// repository needs a password and none of the above gives one (the
	// command prompts on a terminal); nil means ErrPasswordRequired.
	AskPassword func(repo string) ([]byte, error)
	// S3Endpoint is the S3 server of an s3://bucket/prefix location
	// ("http://127.0.0.1:7070"); empty means $CAIRN_S3_ENDPOINT, else
	// AWS. Plain http is refused except on loopback. Credentials follow
	// the AWS conventions (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
	// else ~/.aws/credentials).
	S3Endpoint string
	// Recheck makes Open of a repository in a bucket read cairn.repo and
	// the key files from the bucket, not from this machine's copy of them
	// (RecheckInterval): for cairn init, which must not take a repository
	// deleted since for one that is there.
	Recheck bool
	// LocalDir is this installation's own directory of a local
	// repository (catalog, scratch, locks, writer id); "" is REPO/local,
	// or $CAIRN_LOCAL_DIR when set. A second installation sharing the
	// directory (a mount on another host) needs a LocalDir of its own.
	LocalDir string
	// CatchUp says when Open reads the other writers' logs (writers.go);
	// the zero value, CatchUpDue, every CatchUpInterval (Repo.CatchUp
	// reads them on demand).
	CatchUp CatchUpMode
	// location is the s3:// address Open was given, for messages (the
	// local directory of such a repository is in the cache).
	location string
	// Notify is told, in a sentence, what Open repaired by itself: a
	// catalog rebuilt from the log, records of an interrupted command
	// applied. nil says nothing.
	Notify func(msg string)
}

// DefaultDir is the repository used without --repo: $CAIRN_REPO, else
// $XDG_DATA_HOME/cairn, else ~/.local/share/cairn.
func DefaultDir() (string, error) {
	if d := os.Getenv("CAIRN_REPO"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "cairn"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the default repository: %w", err)
	}
	return filepath.Join(home, ".local", "share", "cairn"), nil
}

const catalogName = "catalog.db"

// Open opens the repository in dir. With opts.Create, a missing or empty
// directory becomes a new repository (format 2); a directory holding
// anything else is refused and left untouched. A format-1 repository
// (catalog.db at the top) opens as it always has, without a log.
//
// dir may also be s3://bucket/prefix (IsRemote): the repository is then in
// that bucket, its local directory (catalog.db, scratch, locks) in
// $XDG_CACHE_HOME/cairn/<repository id>/, and a password or key file is
// required to create or open it.
func Open(ctx context.Context, dir string, opts Options) (*Repo, error) {
	create := opts.Create
	if create && opts.ReadOnly {
		return nil, fmt.Errorf("repository %s: %w: cannot create a repository read-only", dir, ErrReadOnly)
	}
	if IsRemote(dir) {
		return openRemote(ctx, dir, opts)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", dir, err)
	}
	lay, err := checkLayout(abs, create)
	if err != nil {
		return nil, err
	}
	r := &Repo{Dir: abs, localDir: abs, now: opts.Now, waiting: opts.Waiting, notify: opts.Notify}
	if r.now == nil {
		r.now = time.Now
	}
	if r.notify == nil {
		r.notify = func(string) {}
	}
	if lay == layoutNew {
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, fmt.Errorf("create repository %s: %w", abs, err)
		}
		if err := createFormat2(ctx, abs, opts, r.now()); err != nil {
			return nil, err
		}
		lay = layoutFormat2
	}
	// Without write permission (read-only media, another user's
	// repository) the catalog is opened read-only, creating nothing beside
	// it, so that every command that only reads still works.
	if lay == layoutFormat2 {
		r.localDir = opts.localDirOf(abs)
		r.readOnly = opts.ReadOnly || !writable(abs) || !writable(r.localDir)
		if err := r.openFormat2(ctx, opts); err != nil {
			return nil, err
		}
	} else {
		r.readOnly = opts.ReadOnly || !writable(abs)
		if err := checkCatalogLost(abs); err != nil {
			return nil, err
		}
		if r.db, err = openCatalog(ctx, abs, r.catalogPath(), r.readOnly, false); err != nil {
			return nil, err
		}
		if err := r.loadMeta(ctx, chunker.Default, 1); err != nil {
			r.db.Close()
			return nil, err
		}
	}
	r.store = opts.Store
	if r.store == nil {
		if r.store, err = blobstore.NewLocal(filepath.Join(abs, "packs"), r.tmpDir()); err != nil {
			r.db.Close()
			return nil, fmt.Errorf("open packs of %s: %w", abs, err)
		}
	}
	return r, nil
}

// openCatalog opens the catalog file at path, turning the catalog's
// refusals into the repository's.
func openCatalog(ctx context.Context, dir, path string, readOnly, create bool) (*catalog.DB, error) {
	var db *catalog.DB
	var err error
	if readOnly {
		db, err = catalog.OpenReadOnly(ctx, path)
	} else {
		db, err = catalog.Open(ctx, path, create)
	}
	if err != nil {
		return nil, catalogError(dir, err)
	}
	return db, nil
}

// catalogError turns the catalog's refusals into the repository's.
func catalogError(dir string, err error) error {
	{
		if errors.Is(err, catalog.ErrNotCatalog) {
			// The catalog's sentinel would only repeat what ours says.
			why := strings.TrimSuffix(err.Error(), ": "+catalog.ErrNotCatalog.Error())
			return fmt.Errorf("%s: %w: %s", dir, ErrNotRepository, why)
		}
		if errors.Is(err, catalog.ErrTooNew) {
			return fmt.Errorf("%s: %w: %v", dir, ErrTooNew, err)
		}
		if errors.Is(err, catalog.ErrNeedsUpgrade) {
			return fmt.Errorf("%s: %w", dir, err)
		}
		return err
	}
}

// checkCatalogLost refuses a repository whose catalog.db has lost its
// contents (truncated to less than a SQLite header, which SQLite would
// take for a new, empty database) while packs/ still holds data: starting
// a fresh catalog there would make every pack an orphan for gc to delete.
func checkCatalogLost(dir string) error {
	cat := filepath.Join(dir, catalogName)
	fi, err := os.Stat(cat)
	if err != nil || fi.Size() >= 100 {
		return nil
	}
	if wal, err := os.Stat(cat + "-wal"); err == nil && wal.Size() > 0 {
		return nil // SQLite recovers the database from its WAL
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "packs", "*", "*.pack"))
	if len(packs) == 0 {
		return nil
	}
	held := fmt.Sprintf("%d packs", len(packs))
	if len(packs) == 1 {
		held = "1 pack"
	}
	return fmt.Errorf("%s: the catalog is damaged: %s has %d bytes but packs/ holds %s; refusing to start a new catalog over them (restore %s from a copy)",
		dir, catalogName, fi.Size(), held, catalogName)
}

// loadMeta reads (or, for a new repository, records) the format version and
// chunker parameters, which never change under an existing repository.
func (r *Repo) loadMeta(ctx context.Context, params chunker.Params, format int) error {
	meta, err := r.db.InitMeta(ctx, map[string]string{
		"repository_format": strconv.Itoa(format),
		"chunker":           params.String(),
		"created":           r.now().UTC().Format(time.RFC3339),
	})
	if err != nil {
		return err
	}
	stored, err := strconv.Atoi(meta["repository_format"])
	if err != nil {
		return fmt.Errorf("%s: %w: bad repository format %q", r.Dir, ErrNotRepository, meta["repository_format"])
	}
	if stored > RepositoryFormat {
		return fmt.Errorf("%s: %w (repository format %d, this cairn knows up to %d); upgrade cairn", r.Dir, ErrTooNew, stored, RepositoryFormat)
	}
	if r.Params, err = chunker.ParseParams(meta["chunker"]); err != nil {
		return fmt.Errorf("%s: %w: %v", r.Dir, ErrNotRepository, err)
	}
	return nil
}

// Close releases the repository. In a format-2 repository it first writes
// a checkpoint of the log when enough records have accumulated since the
// last one: after the command's work and outside its locks.
func (r *Repo) Close() error {
	r.checkpointIfDue(context.Background())
	if r.remote && r.db != nil && !r.readOnly {
		if applied, err := r.db.AppliedSeq(context.Background()); err == nil {
			r.clearMarks(applied)
		}
	}
	return errors.Join(r.store.Close(), r.db.Close())
}

// catalogPath is catalog.db: under local/ in format 2, at the top in format 1.
func (r *Repo) catalogPath() string { return filepath.Join(r.localDir, catalogName) }

// tmpDir is the scratch directory, on the repository's filesystem.
func (r *Repo) tmpDir() string { return filepath.Join(r.localDir, "tmp") }

// CatalogPath is the catalog file (REPO/local/catalog.db; REPO/catalog.db
// in a format-1 repository): for copying it, or reading it with sqlite3.
func (r *Repo) CatalogPath() string { return r.catalogPath() }

// writable reports whether this process may write the repository in dir:
// create files there and change its catalog. access(2) answers for the
// process's own ids, root included, and says EROFS on read-only media.
func writable(dir string) bool {
	const wOK = 2
	if err := syscall.Access(dir, wOK); err != nil {
		return errors.Is(err, syscall.ENOENT) // to be created: that may fail on its own
	}
	err := syscall.Access(filepath.Join(dir, catalogName), wOK)
	return err == nil || errors.Is(err, syscall.ENOENT)
}

// ReadOnly reports whether the repository was opened read-only because
// this process may not write it; commands that write then fail with
// ErrReadOnly.
func (r *Repo) ReadOnly() bool { return r.readOnly }

func (r *Repo) errReadOnly() error {
	return fmt.Errorf("%s: %w (no write permission, or read-only media)", r.Dir, ErrReadOnly)
}

// lockRepo takes the repository-wide lock.
func (r *Repo) lockRepo(ctx context.Context, kind repolock.Kind) (*repolock.Lock, error) {
	if r.readOnly && kind == repolock.Exclusive {
		return nil, r.errReadOnly()
	}
	l, err := repolock.Acquire(ctx, filepath.Join(r.localDir, "lock"), kind, "repository lock", r.waiting)
	if err != nil || r.keys != nil {
		return l, err
	}
	// Opened as format 1: cairn upgrade may have switched the directory
	// to format 2 while this waited, and if it was killed before it
	// retired the old catalog, what this command wrote to that catalog
	// would be lost to every later one.
	if _, serr := os.Stat(filepath.Join(r.Dir, repoFileName)); serr == nil {
		l.Release()
		return nil, fmt.Errorf("%s: %w", r.Dir, errUpgradedMeanwhile)
	}
	return l, nil
}

// errUpgradedMeanwhile refuses a command that opened the repository as
// format 1 once cairn upgrade has made it format 2.
var errUpgradedMeanwhile = errors.New(upgradeRetired)

// lockForSource takes what writing one source's history needs: the
// repository lock shared (gc waits) and the source's own lock (another
// snapshot or import of it waits). release frees both.
func (r *Repo) lockForSource(ctx context.Context, root string) (release func(), err error) {
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, err
	}
	sl, err := r.lockSource(ctx, root)
	if err != nil {
		rl.Release()
		return nil, err
	}
	// The process we waited for may have appended its record and died
	// before applying it: this view of the catalog, read at open, would
	// then lack the source's newest snapshot, and a snapshot compared
	// against it would conflict at commit. (A catch-up costs a GET and a
	// LIST of the log, so an uncontended lock skips it: then the view
	// read at open is current.)
	if sl.Waited {
		if err := r.catchUpLocked(ctx); err != nil {
			sl.Release()
			rl.Release()
			return nil, err
		}
	}
	return func() { sl.Release(); rl.Release() }, nil
}

// lockSource serialises everything that writes one source's history.
func (r *Repo) lockSource(ctx context.Context, source string) (*repolock.Lock, error) {
	if r.readOnly {
		return nil, r.errReadOnly()
	}
	dir := filepath.Join(r.localDir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	name := blobstore.Sum([]byte(source)).String()[:16] + ".lock"
	return repolock.Acquire(ctx, filepath.Join(dir, name), repolock.Exclusive, "lock on source "+source, r.waiting)
}

// codec is the format of the repository's packs, which every reader and
// writer of packs is handed: nil (format 1) without keys, otherwise sealed
// blobs and footers bound to the repository id, keyed chunk ids and a
// keyed gear table (blobstore.Codec).
func (r *Repo) codec() *blobstore.Codec {
	r.codecOnce.Do(func() {
		if r.keys == nil {
			return
		}
		c, err := blobstore.NewCodec(r.keys, r.id)
		if err != nil {
			// Keys without an id: a bug in Open, and writing format 1
			// instead would leave the data in the clear.
			panic("cairn: format-2 repository without an id: " + err.Error())
		}
		r.packCodec = c
	})
	return r.packCodec
}

// localDirOf is the local directory of the local repository at abs.
func (o Options) localDirOf(abs string) string {
	dir := o.LocalDir
	if dir == "" {
		dir = os.Getenv("CAIRN_LOCAL_DIR")
	}
	if dir == "" {
		return filepath.Join(abs, localName)
	}
	if d, err := filepath.Abs(dir); err == nil {
		return d
	}
	return dir
}

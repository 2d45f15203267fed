// Package cairn takes frequent, cheap, deduplicated snapshots of a
// directory into a local repository, keeps their history in a SQLite
// catalog anyone can query, and restores any file in one call.
//
// A repository is a directory holding catalog.db (the only mutable
// metadata), packs/ (immutable pack files of compressed chunks) and tmp/.
// Open creates one on first use.
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
	"syscall"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/keys"
)

// RepositoryFormat is the version of the repository layout this cairn
// writes (meta key "repository_format"). A repository with a higher one is refused.
// It is not the catalog's schema version (PRAGMA user_version, advanced by
// migrations) nor the pack format (the version in a pack's magic, see
// blobstore/doc.go).
const RepositoryFormat = 1

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
	// Dir is the repository's directory, absolute.
	Dir string
	// Params are the chunker parameters the repository was created with.
	Params chunker.Params

	db       *catalog.DB
	store    blobstore.Store
	now      func() time.Time
	waiting  func(msg string)
	readOnly bool

	// Format 2: the keys derived from the master key and the repository
	// id (nil and "" in a format-1 repository). The logrepo branch sets
	// them at Open; until then only tests do (SetKeysForTest).
	keys *keys.Set
	id   string

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
// directory becomes a new repository; a directory holding anything else is
// refused and left untouched.
func Open(ctx context.Context, dir string, opts Options) (*Repo, error) {
	create := opts.Create
	if create && opts.ReadOnly {
		return nil, fmt.Errorf("repository %s: %w: cannot create a repository read-only", dir, ErrReadOnly)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", dir, err)
	}
	if err := checkLayout(abs, create); err != nil {
		return nil, err
	}
	if err := checkCatalogLost(abs); err != nil {
		return nil, err
	}
	if create {
		// packs/ and tmp/ are made by blobstore.NewLocal below, once the
		// catalog is known to be ours: a directory holding another
		// program's catalog.db is left untouched.
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, fmt.Errorf("create repository %s: %w", abs, err)
		}
	}
	// Without write permission (read-only media, another user's
	// repository) the catalog is opened read-only, creating nothing beside
	// it, so that every command that only reads still works.
	readOnly := opts.ReadOnly || !writable(abs)
	var db *catalog.DB
	if readOnly {
		db, err = catalog.OpenReadOnly(ctx, filepath.Join(abs, catalogName))
	} else {
		db, err = catalog.Open(ctx, filepath.Join(abs, catalogName), create)
	}
	if err != nil {
		if errors.Is(err, catalog.ErrNotCatalog) {
			// The catalog's sentinel would only repeat what ours says.
			why := strings.TrimSuffix(err.Error(), ": "+catalog.ErrNotCatalog.Error())
			return nil, fmt.Errorf("%s: %w: %s", abs, ErrNotRepository, why)
		}
		if errors.Is(err, catalog.ErrTooNew) {
			return nil, fmt.Errorf("%s: %w: %v", abs, ErrTooNew, err)
		}
		if errors.Is(err, catalog.ErrNeedsUpgrade) {
			return nil, fmt.Errorf("%s: %w", abs, err)
		}
		return nil, err
	}
	r := &Repo{Dir: abs, db: db, now: opts.Now, waiting: opts.Waiting, readOnly: readOnly}
	if r.now == nil {
		r.now = time.Now
	}
	if err := r.loadMeta(ctx); err != nil {
		db.Close()
		return nil, err
	}
	r.store = opts.Store
	if r.store == nil {
		if r.store, err = blobstore.NewLocal(filepath.Join(abs, "packs"), filepath.Join(abs, "tmp")); err != nil {
			db.Close()
			return nil, fmt.Errorf("open packs of %s: %w", abs, err)
		}
	}
	return r, nil
}

func checkLayout(dir string, create bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		if create {
			return nil
		}
		return fmt.Errorf("%w at %s", ErrNoRepository, dir)
	}
	if err != nil {
		return fmt.Errorf("repository %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.Name() == catalogName {
			return nil
		}
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s: %w (it has files but no %s)", dir, ErrNotRepository, catalogName)
	}
	if !create {
		return fmt.Errorf("%w at %s", ErrNoRepository, dir)
	}
	return nil
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
func (r *Repo) loadMeta(ctx context.Context) error {
	meta, err := r.db.InitMeta(ctx, map[string]string{
		"repository_format": strconv.Itoa(RepositoryFormat),
		"chunker":           chunker.Default.String(),
		"created":           r.now().UTC().Format(time.RFC3339),
	})
	if err != nil {
		return err
	}
	format, err := strconv.Atoi(meta["repository_format"])
	if err != nil {
		return fmt.Errorf("%s: %w: bad repository format %q", r.Dir, ErrNotRepository, meta["repository_format"])
	}
	if format > RepositoryFormat {
		return fmt.Errorf("%s: %w (repository format %d, this cairn knows up to %d); upgrade cairn", r.Dir, ErrTooNew, format, RepositoryFormat)
	}
	if r.Params, err = chunker.ParseParams(meta["chunker"]); err != nil {
		return fmt.Errorf("%s: %w: %v", r.Dir, ErrNotRepository, err)
	}
	return nil
}

// Close releases the repository.
func (r *Repo) Close() error {
	return errors.Join(r.store.Close(), r.db.Close())
}

func (r *Repo) tmpDir() string { return filepath.Join(r.Dir, "tmp") }

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
	return repolock.Acquire(ctx, filepath.Join(r.Dir, "lock"), kind, "repository lock", r.waiting)
}

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
	return func() { sl.Release(); rl.Release() }, nil
}

// lockSource serialises everything that writes one source's history.
func (r *Repo) lockSource(ctx context.Context, source string) (*repolock.Lock, error) {
	if r.readOnly {
		return nil, r.errReadOnly()
	}
	dir := filepath.Join(r.Dir, "locks")
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

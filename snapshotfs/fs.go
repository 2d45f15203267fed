package snapshotfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

var (
	// ErrOutside reports a symbolic link whose target lies outside the
	// snapshot: an absolute path elsewhere, or ".." above the root.
	ErrOutside = errors.New("snapshotfs: symbolic link leads outside the snapshot")
	// ErrLinkLoop reports a path that goes through too many symbolic links.
	ErrLinkLoop = errors.New("snapshotfs: too many levels of symbolic links")
	// ErrIsDir reports a Read of a directory.
	ErrIsDir = errors.New("snapshotfs: is a directory")
)

// maxLinks is the number of symbolic links one lookup may follow, as
// Linux's MAXSYMLINKS.
const maxLinks = 40

var (
	_ fs.FS         = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
	_ fs.ReadLinkFS = (*FS)(nil)
)

// FS is a read-only view of one snapshot. It is safe for concurrent use;
// the files it opens are not, except ReadAt, as io.ReaderAt requires.
type FS struct {
	ctx    context.Context
	db     *catalog.DB
	chunks *blobstore.Reader
	snap   catalog.Snapshot
	root   *catalog.Version // the source's root directory
}

// New opens a view of snapshot id, whose packs are in store in codec's
// format (nil: format 1). ctx bounds every query and read the view makes
// for as long as it is used.
func New(ctx context.Context, db *catalog.DB, store blobstore.Store, codec *blobstore.Codec, id int64) (*FS, error) {
	snap, err := db.SnapshotByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open snapshot view: %w", err)
	}
	root, err := db.VersionAt(ctx, snap, ".")
	if errors.Is(err, catalog.ErrNotFound) {
		// Every snapshot records its root; a catalog without one still
		// shows its files under a plain directory.
		root = &catalog.Version{Path: ".", Type: catalog.TypeDir, Mode: 0o755, MtimeNs: snap.Started.UnixNano()}
	} else if err != nil {
		return nil, fmt.Errorf("open snapshot view %d: %w", id, err)
	}
	return &FS{ctx: ctx, db: db, chunks: blobstore.NewReader(store, codec), snap: snap, root: root}, nil
}

// Snapshot returns the snapshot the view shows.
func (f *FS) Snapshot() catalog.Snapshot { return f.snap }

// validPath is fs.ValidPath without its UTF-8 check (see the package
// documentation).
func validPath(name string) bool {
	if name == "." {
		return true
	}
	for {
		elem, rest, more := strings.Cut(name, "/")
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
		if !more {
			return true
		}
		name = rest
	}
}

// version returns the version of a cleaned path in the snapshot, or nil.
func (f *FS) version(p string) (*catalog.Version, error) {
	if p == "." {
		return f.root, nil
	}
	v, err := f.db.VersionAt(f.ctx, f.snap, p)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// lookup finds what name refers to, following symbolic links on the way
// and, with follow, the last one too. It returns the version and the path
// the version was found at.
func (f *FS) lookup(op, name string, follow bool) (*catalog.Version, string, error) {
	if !validPath(name) {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	// Fast path: a path the snapshot recorded has only real directories
	// above it (the walk never enters a link), so one query settles it.
	v, err := f.version(name)
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	if v != nil && (v.Type != catalog.TypeSymlink || !follow) {
		return v, name, nil
	}
	v, at, err := f.walk(name, follow)
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return v, at, nil
}

// walk resolves name one component at a time, as the kernel does.
func (f *FS) walk(name string, follow bool) (*catalog.Version, string, error) {
	cur, v := ".", f.root
	rest := strings.Split(name, "/")
	links := 0
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if cur == "." {
				return nil, "", ErrOutside
			}
			cur = path.Dir(cur)
			pv, err := f.version(cur)
			if err != nil {
				return nil, "", err
			}
			if pv == nil {
				return nil, "", fs.ErrNotExist
			}
			v = pv
			continue
		}
		next := path.Join(cur, elem)
		nv, err := f.version(next)
		if err != nil {
			return nil, "", err
		}
		if nv == nil {
			return nil, "", fs.ErrNotExist
		}
		if nv.Type == catalog.TypeSymlink && (len(rest) > 0 || follow) {
			if links++; links > maxLinks {
				return nil, "", ErrLinkLoop
			}
			target, abs, err := f.linkTarget(nv.LinkTarget)
			if err != nil {
				return nil, "", err
			}
			if abs {
				cur, v = ".", f.root
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		if len(rest) > 0 && nv.Type != catalog.TypeDir {
			return nil, "", fs.ErrNotExist // not a directory
		}
		cur, v = next, nv
	}
	return v, cur, nil
}

// linkTarget turns a link's target into components to walk: relative ones
// from the link's directory, absolute ones (abs) from the root when they
// lie under the source's path.
func (f *FS) linkTarget(target string) (string, bool, error) {
	if target == "" {
		return "", false, fs.ErrNotExist
	}
	if !strings.HasPrefix(target, "/") {
		return target, false, nil
	}
	clean, src := path.Clean(target), f.snap.Source
	var rel string
	switch {
	case src == "/":
		rel = clean[1:]
	case clean == src:
	case strings.HasPrefix(clean, src+"/"):
		rel = clean[len(src)+1:]
	default:
		return "", false, ErrOutside
	}
	if rel == "" {
		rel = "."
	}
	return rel, true, nil
}

// Open opens name, following symbolic links.
func (f *FS) Open(name string) (fs.File, error) {
	v, at, err := f.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	info := newInfo(path.Base(name), v)
	if v.Type == catalog.TypeDir {
		return &dir{fsys: f, name: name, at: at, info: info}, nil
	}
	return f.openFile(name, info)
}

// Stat describes name, following symbolic links.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	v, _, err := f.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return newInfo(path.Base(name), v), nil
}

// Lstat describes name; a symbolic link describes itself.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	v, _, err := f.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return newInfo(path.Base(name), v), nil
}

// ReadLink returns a symbolic link's target as recorded.
func (f *FS) ReadLink(name string) (string, error) {
	v, _, err := f.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if v.Type != catalog.TypeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return v.LinkTarget, nil
}

// ReadDir lists a directory sorted by name, with one catalog query.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	v, at, err := f.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if v.Type != catalog.TypeDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	vs, err := f.db.Children(f.ctx, f.snap, at, "", 0)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return entries(vs), nil
}

// ReadFile returns a file's bytes, verified chunk by chunk and against the
// whole-file hash.
func (f *FS) ReadFile(name string) ([]byte, error) {
	v, _, err := f.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	if v.Type == catalog.TypeDir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrIsDir}
	}
	fl, err := f.openFile(name, newInfo(path.Base(name), v))
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	return fl.readAll()
}

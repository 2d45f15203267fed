package importer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/internal/runtimefile"
	"github.com/cairn-dev/cairn/internal/secretname"
)

// RuntimePatterns name files that belong to a running program, never to a
// backup (the defaults every source has; a source adds its own,
// Options.Runtime).
var RuntimePatterns = runtimefile.Default

// IsRuntime reports whether the file at rel ('/'-separated) matches
// RuntimePatterns or extra.
func IsRuntime(rel string, extra []string) bool { return runtimefile.Match(rel, extra) }

// Options tune an extraction.
type Options struct {
	// Runtime adds the source's runtime-file patterns to RuntimePatterns.
	Runtime []string
	// RootMode is the mode of the unpacked root (and of a wrapping
	// directory the archive does not describe); 0 means 0700.
	RootMode fs.FileMode
	// RootTime is the mtime of the root when the archive has no entry for
	// it: the backup's time.
	RootTime time.Time
}

// Skipped is an archive entry left out, and why.
type Skipped struct {
	Path   string
	Reason string
}

// Skip reasons.
const (
	SkipRuntime = "runtime file"
	SkipOutside = "symlink pointing outside the backup"
	SkipSpecial = "not a file, directory or symlink"
	SkipNoLink  = "hard link to a file not in the archive"
)

// Report says what an extraction did besides copying.
type Report struct {
	Files   int
	Skipped []Skipped
	// Tightened lists secret-named files (internal/secretname) given mode
	// 0600 because the archive recorded no mode for them.
	Tightened []string
	// Wrapper is the one directory everything in the archive lies in (such
	// as ".hermes"), "" when the root holds anything else.
	Wrapper string
}

// Extract unpacks the archive b into dst, an empty directory, confined to
// it (os.Root): names are checked by CleanName, nothing is written beneath
// a symlink the archive made, and symlinks pointing outside are skipped.
// Runtime files and special files are skipped; modes, mtimes and symlinks
// are kept where the archive has them (owners too, when run as root).
// Files without a recorded mode get 0644, or 0600 when their name marks a
// secret; directories without one 0755.
//
// An unsafe name fails the whole extraction with ErrUnsafePath; the caller
// removes dst.
func Extract(b Backup, dst string, opts Options) (*Report, error) {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return nil, fmt.Errorf("open scratch directory: %w", err)
	}
	defer root.Close()
	x := &extractor{root: root, dir: dst, opts: opts, rep: &Report{},
		links: map[string]bool{}, files: map[string]bool{}, dirs: map[string]*dirMeta{}}
	if x.opts.RootMode == 0 {
		x.opts.RootMode = 0o700
	}
	x.dirs["."] = &dirMeta{mode: x.opts.RootMode, mtime: opts.RootTime, implicit: true}
	// The caller names the backup in its errors; entries are named here.
	if err := eachEntry(b.Path, b.Kind, x.add); err != nil {
		return nil, err
	}
	if err := x.finish(); err != nil {
		return nil, err
	}
	return x.rep, nil
}

type dirMeta struct {
	mode     fs.FileMode
	mtime    time.Time
	uid, gid int
	hasOwner bool
	implicit bool // made for an entry beneath it; the archive did not describe it
}

type extractor struct {
	root  *os.Root
	dir   string
	opts  Options
	rep   *Report
	links map[string]bool // symlinks made: nothing may be written beneath one
	files map[string]bool // regular files made: hard links may name them
	dirs  map[string]*dirMeta
	top   map[string]bool // names in the root
}

func (x *extractor) add(e entry) error {
	rel, err := CleanName(e.name)
	if err != nil {
		return err
	}
	if rel == "." {
		if e.typ == tar.TypeDir {
			x.describeDir(rel, e)
		}
		return nil
	}
	if err := x.parents(rel); err != nil {
		return err
	}
	if e.typ != tar.TypeDir && IsRuntime(rel, x.opts.Runtime) {
		x.skip(rel, SkipRuntime)
		return nil
	}
	if x.top == nil {
		x.top = map[string]bool{}
	}
	x.top[strings.SplitN(rel, "/", 2)[0]] = true
	switch e.typ {
	case tar.TypeDir:
		if err := x.mkdir(rel); err != nil {
			return err
		}
		x.describeDir(rel, e)
		return nil
	case tar.TypeReg:
		return x.file(rel, e)
	case tar.TypeSymlink:
		if !linkInside(rel, e.link) {
			x.skip(rel, SkipOutside)
			return nil
		}
		if err := x.clear(rel); err != nil {
			return err
		}
		if err := x.root.Symlink(e.link, rel); err != nil {
			return fmt.Errorf("unpack symlink %s: %w", rel, err)
		}
		x.links[rel] = true
		x.chown(rel, e)
		// os.Root has no lutimes; every parent of rel is a directory this
		// extraction made (parents refused symlinks), so the path cannot
		// leave dst.
		ts := []unix.Timespec{unix.NsecToTimespec(e.mtime.UnixNano()), unix.NsecToTimespec(e.mtime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(x.dir, rel), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set time of symlink %s: %w", rel, err)
		}
		return nil
	case tar.TypeLink:
		target, err := CleanName(e.link)
		if err != nil {
			return err
		}
		if !x.files[target] {
			x.skip(rel, SkipNoLink)
			return nil
		}
		if err := x.clear(rel); err != nil {
			return err
		}
		if err := x.root.Link(target, rel); err != nil {
			return fmt.Errorf("unpack hard link %s: %w", rel, err)
		}
		x.files[rel] = true
		x.rep.Files++
		return nil
	}
	x.skip(rel, SkipSpecial)
	return nil
}

func (x *extractor) skip(rel, reason string) {
	x.rep.Skipped = append(x.rep.Skipped, Skipped{Path: rel, Reason: reason})
}

// parents refuses rel beneath a symlink or a file the archive made, and
// makes its missing parent directories.
func (x *extractor) parents(rel string) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	for p := dir; p != "."; p = path.Dir(p) {
		if x.links[p] {
			return fmt.Errorf("entry %q lies beneath the symlink %q: %w", rel, p, ErrUnsafePath)
		}
		if x.files[p] {
			return fmt.Errorf("entry %q lies beneath the file %q", rel, p)
		}
	}
	return x.mkdir(dir)
}

// mkdir makes rel and its parents, 0700 until finish gives them their
// modes (a read-only directory would stop its own entries being written).
func (x *extractor) mkdir(rel string) error {
	if x.links[rel] || x.files[rel] {
		return fmt.Errorf("entry %q is both a directory and a file or symlink", rel)
	}
	if err := x.root.MkdirAll(rel, 0o700); err != nil {
		return fmt.Errorf("unpack directory %s: %w", rel, err)
	}
	for p := rel; p != "."; p = path.Dir(p) {
		if x.dirs[p] != nil {
			break
		}
		x.dirs[p] = &dirMeta{mode: 0o755, implicit: true}
	}
	return nil
}

func (x *extractor) describeDir(rel string, e entry) {
	m := x.dirs[rel]
	if m == nil {
		m = &dirMeta{}
		x.dirs[rel] = m
	}
	m.implicit = false
	m.mtime, m.uid, m.gid, m.hasOwner = e.mtime, e.uid, e.gid, e.hasOwner
	switch {
	case e.hasMode:
		m.mode = e.mode.Perm() | e.mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	case rel == ".":
		m.mode = x.opts.RootMode
	default:
		m.mode = 0o755
	}
}

// clear removes what an earlier entry of the same name made: in a tar the
// later member wins, as tar itself extracts it.
func (x *extractor) clear(rel string) error {
	if x.dirs[rel] != nil {
		return fmt.Errorf("entry %q is both a directory and a file or symlink", rel)
	}
	if x.files[rel] || x.links[rel] {
		if err := x.root.Remove(rel); err != nil {
			return fmt.Errorf("replace %s: %w", rel, err)
		}
		delete(x.files, rel)
		delete(x.links, rel)
		x.rep.Files--
	}
	return nil
}

func (x *extractor) file(rel string, e entry) error {
	if err := x.clear(rel); err != nil {
		return err
	}
	mode := e.mode.Perm() | e.mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if !e.hasMode {
		mode = 0o644
		if secretname.Match(rel) {
			// The archive cannot say who may read it; the name says a
			// secret, and a secret restored readable by others is a leak.
			mode = 0o600
			x.rep.Tightened = append(x.rep.Tightened, rel)
		}
	}
	rc, err := e.open()
	if err != nil {
		return fmt.Errorf("read entry %s: %w", rel, err)
	}
	defer rc.Close()
	f, err := x.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", rel, err)
	}
	_, err = io.Copy(f, rc) // zip checks the entry's CRC-32 at its end
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("unpack %s: %w", rel, err)
	}
	x.files[rel] = true
	x.rep.Files++
	x.chown(rel, e)
	if err := x.root.Chmod(rel, mode); err != nil {
		return fmt.Errorf("set mode of %s: %w", rel, err)
	}
	if err := x.root.Chtimes(rel, e.mtime, e.mtime); err != nil {
		return fmt.Errorf("set time of %s: %w", rel, err)
	}
	return nil
}

// chown gives an entry the archive's owner, when this process may.
func (x *extractor) chown(rel string, e entry) {
	if e.hasOwner && os.Geteuid() == 0 {
		// Best effort, as tar does: an owner that cannot be set is not a
		// reason to lose the backup.
		_ = x.root.Lchown(rel, e.uid, e.gid)
	}
}

// finish gives directories their modes and times, deepest first (writing
// an entry changes its directory's mtime), and finds the wrapper.
func (x *extractor) finish() error {
	if len(x.top) == 1 {
		for name := range x.top {
			if m := x.dirs[name]; m != nil && !x.links[name] {
				x.rep.Wrapper = name
				if m.implicit {
					m.mode, m.mtime = x.opts.RootMode, x.opts.RootTime
				}
			}
		}
	}
	rels := make([]string, 0, len(x.dirs))
	for rel := range x.dirs {
		rels = append(rels, rel)
	}
	slices.SortFunc(rels, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/") + boolInt(a == ".") - boolInt(b == ".")
	})
	for _, rel := range rels {
		m := x.dirs[rel]
		if m.hasOwner && os.Geteuid() == 0 {
			_ = x.root.Lchown(rel, m.uid, m.gid)
		}
		if err := x.root.Chmod(rel, m.mode); err != nil {
			return fmt.Errorf("set mode of %s: %w", rel, err)
		}
		mtime := m.mtime
		if mtime.IsZero() {
			mtime = x.opts.RootTime
		}
		if !mtime.IsZero() {
			if err := x.root.Chtimes(rel, mtime, mtime); err != nil {
				return fmt.Errorf("set time of %s: %w", rel, err)
			}
		}
	}
	if x.rep.Files == 0 && len(x.links) == 0 && len(x.dirs) <= 1 {
		return ErrNothing
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RemoveScratch removes an unpacked tree, first making its directories
// writable: an archive's read-only directory would otherwise keep its
// entries (for a user other than root).
func RemoveScratch(dir string) error {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove scratch directory: %w", err)
	}
	return nil
}

package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/beneath"
	"github.com/cairn-dev/cairn/internal/ignore"
)

// entry is one path found by the walk, with what stat said about it. A
// snapshot holds one per path of the source until its commit, so it is
// kept small: 80 bytes, where strings for the type and 64-bit owners made
// it 104 (at 1M files, 24 MB of the heap, twice that in peak RSS).
type entry struct {
	rel     string // '/'-separated, "." for the root (run.path gives the full path)
	link    string
	size    int64
	mtimeNs int64
	ctimeNs int64
	ino     uint64
	mode    uint32
	// uid and gid own the entry; restore gives them back as root.
	uid, gid uint32
	typ      typ
}

// typ is an entry's type: one byte where catalog's name takes 16.
type typ uint8

const (
	typNone typ = iota // a socket, FIFO or device: not stored
	typFile
	typDir
	typSymlink
)

// String is the type as the catalog names it ("" for typNone).
func (t typ) String() string {
	switch t {
	case typFile:
		return catalog.TypeFile
	case typDir:
		return catalog.TypeDir
	case typSymlink:
		return catalog.TypeSymlink
	}
	return ""
}

func statEntry(rel string, fi fs.FileInfo) entry {
	e := entry{rel: rel, mode: uint32(fi.Mode().Perm()) | setBits(fi.Mode()), size: fi.Size(),
		mtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.ctimeNs = st.Ctim.Sec*1e9 + st.Ctim.Nsec
		e.ino = st.Ino
		e.uid, e.gid = st.Uid, st.Gid
	}
	switch {
	case fi.Mode().IsDir():
		e.typ, e.size = typDir, 0
	case fi.Mode()&fs.ModeSymlink != 0:
		e.typ = typSymlink
	case fi.Mode().IsRegular():
		e.typ = typFile
	}
	return e
}

// setBits maps Go's setuid/setgid/sticky flags back to their Unix bits.
func setBits(m fs.FileMode) uint32 {
	var b uint32
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// walk lists the source in path order. Directories are read by a small
// pool of goroutines: a walk is mostly lstat calls, which run in parallel
// on every core. Excluded directories are not entered; special files are
// skipped with a warning, as are entries that cannot be read (the snapshot
// records what it could see and says so, and unreadable lists them so that
// their history is carried rather than ended). Every directory is opened
// beneath the source without following symlinks, and its entries are
// stat'ed relative to it, so a directory swapped for a symlink while the
// walk runs can never make it list what lies outside the source.
func walk(src *beneath.Dir, ex *ignore.Matcher, x *exclusion, skip, force map[string]bool, warn func(path, kind, msg string)) (entries []entry, unreadable []string, err error) {
	root := src.Path()
	var st unix.Stat_t
	if err := unix.Fstat(src.Fd(), &st); err != nil {
		return nil, nil, fmt.Errorf("source %s: %w", root, err)
	}
	prefix := root + "/"
	if root == "/" {
		prefix = root
	}
	if x != nil {
		x.rootDev = uint64(st.Dev)
	}
	w := &walker{prefix: prefix, src: src, ex: ex, x: x, skip: skip, force: force, warn: warn}
	w.out = append(w.out, statEntryAt(".", &st))
	w.queue = append(w.queue, dirJob{rel: "."})
	w.cond = sync.NewCond(&w.mu)
	var wg sync.WaitGroup
	for i := 0; i < walkWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work()
		}()
	}
	wg.Wait()
	sortEntries(w.out)
	sort.Strings(w.unreadable)
	return w.out, w.unreadable, nil
}

// walkWorkers read directories in parallel; more than the cores only
// adds contention.
var walkWorkers = max(2, runtime.GOMAXPROCS(0))

// dirJob is a directory to read, relative to the source.
type dirJob struct {
	rel        string
	forcedOnly bool // excluded, entered only for paths in walker.force
}

type walker struct {
	prefix string // the root with a trailing slash, to name skipped paths
	src    *beneath.Dir
	ex     *ignore.Matcher
	x      *exclusion // excludes beyond the patterns (excludes.go)
	skip   map[string]bool
	force  map[string]bool
	warn   func(path, kind, msg string)

	mu         sync.Mutex
	cond       *sync.Cond
	queue      []dirJob // directories to read
	active     int      // directories being read
	out        []entry
	unreadable []string
}

func (w *walker) work() {
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && w.active > 0 {
			w.cond.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			w.cond.Broadcast()
			return
		}
		job := w.queue[len(w.queue)-1]
		w.queue = w.queue[:len(w.queue)-1]
		w.active++
		w.mu.Unlock()

		entries, subdirs, unreadable := w.readDir(job)

		w.mu.Lock()
		w.out = append(w.out, entries...)
		w.queue = append(w.queue, subdirs...)
		w.unreadable = append(w.unreadable, unreadable...)
		w.active--
		w.mu.Unlock()
		w.cond.Broadcast()
	}
}

// readDir lists one directory: its entries, the subdirectories to read,
// and the entries it could not read.
func (w *walker) readDir(job dirJob) (out []entry, subdirs []dirJob, unreadable []string) {
	dir := job.rel
	skipped := func(rel string, err error) {
		if errors.Is(err, fs.ErrNotExist) {
			return // vanished since it was listed
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV) {
			// Replaced by a symlink (or a file) since its parent was
			// listed: what it is now is for the next snapshot to see.
			w.warn(rel, catalog.WarnVanished, "replaced while the snapshot ran; not in this snapshot")
			return
		}
		w.warn(rel, "unreadable", fmt.Sprintf("skipped: %v", unwrapPathError(err)))
		unreadable = append(unreadable, rel)
	}
	d, err := w.src.OpenDir(dir)
	if err != nil {
		if dir != "." {
			skipped(dir, err)
		}
		return nil, nil, unreadable
	}
	defer d.Close()
	des, err := d.ReadDir()
	if err != nil && len(des) == 0 {
		if dir != "." {
			skipped(dir, err)
		}
		return nil, nil, unreadable
	}
	cache := w.x.isCache(d.Fd())
	if cache {
		w.x.emptiedDir(dir)
	}
	var buf []byte
	for _, de := range des {
		name := de.Name()
		rel := name
		if dir != "." {
			rel = dir + "/" + name
		}
		if len(w.skip) > 0 && w.skip[w.prefix+rel] {
			continue
		}
		// Excluded entries are not even stat'ed (the listing knows
		// directories from files).
		excluded := job.forcedOnly || w.ex.Match(rel, de.IsDir())
		if excluded && !w.force[rel] || cache && name != cacheTag && !w.force[rel] {
			continue
		}
		var st unix.Stat_t
		if err := fstatat(d.Fd(), name, &st); err != nil {
			skipped(rel, &fs.PathError{Op: "lstat", Path: rel, Err: err})
			continue
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if isDir != de.IsDir() && w.ex.Match(rel, isDir) && !w.force[rel] {
			continue // changed type since it was listed
		}
		if w.x.tooLarge(&st) && !w.force[rel] {
			continue
		}
		if !isDir && strings.HasPrefix(name, atomicfile.TempPrefix) {
			continue // a killed restore's partial file, not user data
		}
		e := statEntryAt(rel, &st)
		switch e.typ {
		case typNone:
			w.warn(rel, catalog.WarnSpecial, fmt.Sprintf("skipped %s (sockets, FIFOs and devices are not stored)", kindNameAt(st.Mode)))
			continue
		case typSymlink:
			if e.link, buf, err = readlinkat(d.Fd(), name, buf); err != nil {
				skipped(rel, &fs.PathError{Op: "readlink", Path: rel, Err: err})
				continue
			}
		case typDir:
			if !excluded && w.x.otherDevice(&st) {
				w.x.emptiedDir(rel) // a mount point: recorded, not entered
				excluded = true
			}
			subdirs = append(subdirs, dirJob{rel: rel, forcedOnly: excluded})
		}
		out = append(out, e)
	}
	return out, subdirs, unreadable
}

func fstatat(dirfd int, name string, st *unix.Stat_t) error {
	for {
		err := unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			return err
		}
	}
}

// readlinkat reads a symlink's target, reusing buf.
func readlinkat(dirfd int, name string, buf []byte) (string, []byte, error) {
	if len(buf) == 0 {
		buf = make([]byte, 256)
	}
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", buf, err
		}
		if n < len(buf) {
			return string(buf[:n]), buf, nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// statEntryAt is statEntry for what fstatat returned.
func statEntryAt(rel string, st *unix.Stat_t) entry {
	e := entry{rel: rel, mode: st.Mode & 0o7777, size: st.Size, mtimeNs: st.Mtim.Nano(),
		ctimeNs: st.Ctim.Nano(), ino: st.Ino, uid: st.Uid, gid: st.Gid}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		e.typ, e.size = typDir, 0
	case unix.S_IFLNK:
		e.typ = typSymlink
	case unix.S_IFREG:
		e.typ = typFile
	}
	return e
}

func kindNameAt(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	}
	return "special file"
}

// checkRoot refuses a source that is not a readable directory.
func checkRoot(root string) error {
	fi, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("source %s: %w", root, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("source %s is not a directory", root)
	}
	if _, err := os.ReadDir(root); err != nil {
		return fmt.Errorf("source %s cannot be read: %w", root, unwrapPathError(err))
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sidecarBase returns the database a SQLite sidecar name belongs to.
func sidecarBase(rel string) (string, bool) {
	for _, suf := range []string{"-wal", "-shm", "-journal"} {
		if len(rel) > len(suf) && rel[len(rel)-len(suf):] == suf {
			return rel[:len(rel)-len(suf)], true
		}
	}
	return "", false
}

func isJSON(rel string) bool { return path.Ext(rel) == ".json" }

func isJSONLines(rel string) bool {
	ext := path.Ext(rel)
	return ext == ".jsonl" || ext == ".ndjson"
}

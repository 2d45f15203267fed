package snapshot

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/beneath"
	"github.com/cairn-dev/cairn/internal/ignore"
)

// The walk streams the source's entries in byte order of their path, the
// order in which the catalog streams the live versions, so that the
// comparison merges the two as they come and neither is ever held whole.
// Walking then sorting, then reading the live rows, ran the two halves of
// an unchanged snapshot one after the other and kept every entry: at 1M
// files 43% of the time was the walk, 32% the row read, 14% garbage
// collection of the entries held, 6% the sort.
//
// Byte order of whole paths is not a depth-first walk in name order: the
// contents of directory "a" sort as "a/...", after a sibling "a.txt"
// ('.' < '/') and before "a0". So each directory's listing places the
// descent into a subdirectory n at the key n+"/" among its entries' names
// (listing.order), and directories are consumed in byte order of
// rel+"/". Workers read directories ahead of the merge, the one the merge
// will need first first, at most walkAhead listings ahead: while the
// merge compares one directory, the next ones are being listed and
// stat'ed on the other core.

// walkWorkers read directories in parallel; more than the cores only
// adds contention.
var walkWorkers = max(2, runtime.GOMAXPROCS(0))

// walkAhead bounds the directories read ahead of the merge: memory stays
// at a few listings, whatever the tree's size.
const walkAhead = 16

// dirJob is a directory to read, relative to the source.
type dirJob struct {
	rel        string
	forcedOnly bool // excluded, entered only for paths in walker.force
}

// walker holds what reading a directory needs to know.
type walker struct {
	src *beneath.Dir
	ex  *ignore.Matcher
	x   *exclusion // excludes beyond the patterns (excludes.go)
	// skip holds the skipped paths (Options.Skip, absolute) that lie
	// beneath the root, relative to it: usually none. Looking up every
	// entry's absolute path built it first, an allocation per file.
	skip  map[string]bool
	force map[string]bool
	warn  func(path, kind, msg string)
}

// newWalker returns a walker of the tree at root, prefix being root with
// a trailing slash, skipping the absolute paths in skip.
func newWalker(prefix string, src *beneath.Dir, ex *ignore.Matcher, x *exclusion, skip, force map[string]bool,
	warn func(path, kind, msg string)) *walker {
	w := &walker{src: src, ex: ex, x: x, force: force, warn: warn}
	for p := range skip {
		if rel, ok := strings.CutPrefix(p, prefix); ok && rel != "" {
			if w.skip == nil {
				w.skip = map[string]bool{}
			}
			w.skip[rel] = true
		}
	}
	return w
}

// walStat is what the comparison needs of a file's "-wal" neighbour: a
// database's fingerprint includes it, and a recent one makes it racy.
type walStat struct {
	size, mtimeNs int64
	ino           uint64
}

// listing is one directory as the walk read it.
type listing struct {
	entries []entry // in name order
	// wal holds, by index into entries, the entry named "<name>-wal"
	// beside it; nil in almost every directory.
	wal     map[int]walStat
	subdirs []*dirTask
	// order is the merge's order: i >= 0 is entries[i], i < 0 the descent
	// into subdirs[-i-1]; nil when there are no subdirectories (then the
	// entries are in order).
	order      []int32
	unreadable []string
}

// dirTask is a directory found by the walk, read by a worker or by the
// merge itself.
type dirTask struct {
	job   dirJob
	state int // taskPending, taskReading, taskDone
	idx   int // in the heap while pending
	done  chan struct{}
	list  *listing
}

const (
	taskPending = iota
	taskReading
	taskDone
)

// keyCmp compares a+"/" (if aDir) or a with b+"/" (if bDir) or b, in
// byte order, without building either string.
func keyCmp(a string, aDir bool, b string, bDir bool) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	switch {
	case len(a) == len(b):
		switch {
		case aDir == bDir:
			return 0
		case aDir:
			return 1
		}
		return -1
	case len(a) < len(b): // a is a prefix of b
		if !aDir || b[n] >= '/' {
			return -1
		}
		return 1
	}
	if !bDir || a[n] >= '/' {
		return 1
	}
	return -1
}

// dirBuf is a reader's reusable memory for listing directories.
type dirBuf struct {
	raw   []byte // getdents(2) records
	names []byte
	refs  []nameRef
}

type nameRef struct {
	off, n uint32
	dtype  uint8
}

// list reads the names in the directory open at fd, without "." and "..".
func (b *dirBuf) list(fd int) error {
	if b.raw == nil {
		b.raw = make([]byte, 32<<10)
	}
	b.names, b.refs = b.names[:0], b.refs[:0]
	for {
		n, err := unix.Getdents(fd, b.raw)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		// struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
		for off := 0; off+19 <= n; {
			reclen := int(binary.NativeEndian.Uint16(b.raw[off+16:]))
			if reclen == 0 || off+reclen > n {
				return unix.EIO
			}
			dtype := b.raw[off+18]
			name := b.raw[off+19 : off+reclen]
			if k := bytes.IndexByte(name, 0); k >= 0 {
				name = name[:k]
			}
			off += reclen
			if string(name) == "." || string(name) == ".." {
				continue
			}
			b.refs = append(b.refs, nameRef{off: uint32(len(b.names)), n: uint32(len(name)), dtype: dtype})
			b.names = append(b.names, name...)
			b.names = append(b.names, 0) // a C string for statAt
		}
	}
}

func (b *dirBuf) name(r nameRef) []byte { return b.names[r.off : r.off+r.n] }

// readDir lists one directory: its entries, stat'ed, the subdirectories
// to read, and the entries it could not read. self, when given, is the
// directory's own entry, listed with its children (the root's ".").
func (w *walker) readDir(job dirJob, self *entry, buf *dirBuf) *listing {
	dir := job.rel
	l := &listing{}
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
		l.unreadable = append(l.unreadable, rel)
	}
	prefix := dir + "/"
	if dir == "." {
		prefix = ""
	}
	defer func() {
		if self != nil {
			i, _ := slices.BinarySearchFunc(l.entries, self.rel, func(e entry, t string) int { return strings.Compare(e.rel, t) })
			l.entries = slices.Insert(l.entries, i, *self)
		}
		l.arrange(len(prefix))
	}()
	d, err := w.src.OpenDir(dir)
	if err != nil {
		if dir != "." {
			skipped(dir, err)
		}
		return l
	}
	defer d.Close()
	if err := buf.list(d.Fd()); err != nil && len(buf.refs) == 0 {
		if dir != "." {
			skipped(dir, &fs.PathError{Op: "readdirent", Path: dir, Err: err})
		}
		return l
	}
	slices.SortFunc(buf.refs, func(a, b nameRef) int { return bytes.Compare(buf.name(a), buf.name(b)) })
	// Every path of the directory in one string: one allocation, where a
	// string per name made the walk a good part of the garbage.
	var sb strings.Builder
	sb.Grow(len(buf.refs)*len(prefix) + len(buf.names) - len(buf.refs))
	for _, r := range buf.refs {
		sb.WriteString(prefix)
		sb.Write(buf.name(r))
	}
	rels := sb.String()
	cache := w.x.isCache(d.Fd())
	if cache {
		w.x.emptiedDir(dir)
	}
	l.entries = getEntries(len(buf.refs) + 1)
	var link []byte
	pos := 0
	for _, r := range buf.refs {
		rel := rels[pos : pos+len(prefix)+int(r.n)]
		pos += len(rel)
		name := rel[len(prefix):]
		if w.skip != nil && w.skip[rel] {
			continue
		}
		var st unix.Stat_t
		statted := false
		listedDir := r.dtype == unix.DT_DIR
		if r.dtype == unix.DT_UNKNOWN {
			// The file system does not say: stat first, as os.ReadDir does.
			if err := statAt(d.Fd(), &buf.names[r.off], &st); err != nil {
				skipped(rel, &fs.PathError{Op: "lstat", Path: rel, Err: err})
				continue
			}
			statted, listedDir = true, st.Mode&unix.S_IFMT == unix.S_IFDIR
		}
		// Excluded entries are not even stat'ed (the listing knows
		// directories from files).
		excluded := job.forcedOnly || w.ex.Match(rel, listedDir)
		if excluded && !w.force[rel] || cache && name != cacheTag && !w.force[rel] {
			continue
		}
		if !statted {
			if err := statAt(d.Fd(), &buf.names[r.off], &st); err != nil {
				skipped(rel, &fs.PathError{Op: "lstat", Path: rel, Err: err})
				continue
			}
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if isDir != listedDir && w.ex.Match(rel, isDir) && !w.force[rel] {
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
			if e.link, link, err = readlinkat(d.Fd(), name, link); err != nil {
				skipped(rel, &fs.PathError{Op: "readlink", Path: rel, Err: err})
				continue
			}
		case typDir:
			if !excluded && w.x.otherDevice(&st) {
				w.x.emptiedDir(rel) // a mount point: recorded, not entered
				excluded = true
			}
			l.subdirs = append(l.subdirs, &dirTask{job: dirJob{rel: rel, forcedOnly: excluded}, done: make(chan struct{})})
		}
		l.entries = append(l.entries, e)
	}
	return l
}

// Listings' entry slices are reused once the merge has left them (it
// copies what it keeps): they were a third of an unchanged snapshot's
// allocations.
var entryPool sync.Pool

func getEntries(n int) []entry {
	if es, ok := entryPool.Get().(*[]entry); ok && cap(*es) >= n {
		return (*es)[:0]
	}
	return make([]entry, 0, max(n, 128))
}

func putEntries(es []entry) {
	if cap(es) == 0 || cap(es) > 1<<14 {
		return // a huge directory's slice is not kept around
	}
	clear(es[:cap(es)]) // drop the strings it points to
	es = es[:0]
	entryPool.Put(&es)
}

// walOf returns the "-wal" neighbour of entries[i], or nil.
func (l *listing) walOf(i int) *walStat {
	if l.wal == nil {
		return nil
	}
	if ws, ok := l.wal[i]; ok {
		return &ws
	}
	return nil
}

// arrange marks the databases' sidecars and puts the listing in the
// merge's order. prefix is the length of the directory's part of a path.
func (l *listing) arrange(prefix int) {
	find := func(name string) (int, bool) {
		return slices.BinarySearchFunc(l.entries, name, func(e entry, t string) int { return strings.Compare(e.rel[prefix:], t) })
	}
	for i := range l.entries {
		e := &l.entries[i]
		name := e.rel[prefix:]
		if e.typ == typFile {
			// A database's sidecars are never stored: the file they
			// belong to is sniffed or known to be one (compare.go).
			if base, ok := sidecarBase(name); ok {
				if j, found := find(base); found && l.entries[j].typ == typFile {
					l.entries[j].base = true
				}
			}
		}
		if base, ok := strings.CutSuffix(name, "-wal"); ok && base != "" {
			if j, found := find(base); found {
				if l.wal == nil {
					l.wal = map[int]walStat{}
				}
				l.wal[j] = walStat{size: e.size, mtimeNs: e.mtimeNs, ino: e.ino}
			}
		}
	}
	if len(l.subdirs) == 0 {
		return
	}
	l.order = make([]int32, 0, len(l.entries)+len(l.subdirs))
	for i := range l.entries {
		l.order = append(l.order, int32(i))
	}
	for k := range l.subdirs {
		l.order = append(l.order, int32(-k-1))
	}
	key := func(i int32) (string, bool) {
		if i >= 0 {
			return l.entries[i].rel[prefix:], false
		}
		return l.subdirs[-i-1].job.rel[prefix:], true
	}
	slices.SortFunc(l.order, func(a, b int32) int {
		an, ad := key(a)
		bn, bd := key(b)
		return keyCmp(an, ad, bn, bd)
	})
}

// taskHeap holds the directories found and not yet read, the one the
// merge reaches first (byte order of rel+"/") on top.
type taskHeap []*dirTask

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	return keyCmp(h[i].job.rel, true, h[j].job.rel, true) < 0
}
func (h taskHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *taskHeap) Push(x any) {
	t := x.(*dirTask)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

// orderedWalk streams a tree's entries in byte order of their path.
type orderedWalk struct {
	w *walker

	mu      sync.Mutex
	cond    *sync.Cond
	pending taskHeap
	ahead   int // listings read or being read by workers, not yet taken
	stop    bool
	wg      sync.WaitGroup

	// The merge's side: the listings it is in, outermost first, and the
	// paths found unreadable so far.
	stack      []walkFrame
	unreadable []string
	buf        dirBuf
	rootCount  int
}

type walkFrame struct {
	l   *listing
	pos int
}

// walk starts streaming the source, beneath which every directory is
// opened without following symlinks and its entries stat'ed relative to
// it, so a directory swapped for a symlink while the walk runs can never
// make it list what lies outside the source. Excluded directories are not
// entered; special files are skipped with a warning, as are entries that
// cannot be read (the snapshot records what it could see and says so,
// and carries the history of what it could not). The caller must close
// the walk.
func walk(src *beneath.Dir, ex *ignore.Matcher, x *exclusion, skip, force map[string]bool, warn func(path, kind, msg string)) (*orderedWalk, error) {
	root := src.Path()
	var st unix.Stat_t
	if err := unix.Fstat(src.Fd(), &st); err != nil {
		return nil, fmt.Errorf("source %s: %w", root, err)
	}
	prefix := root + "/"
	if root == "/" {
		prefix = root
	}
	if x != nil {
		x.rootDev = uint64(st.Dev)
	}
	w := newWalker(prefix, src, ex, x, skip, force, warn)
	self := statEntryAt(".", &st)
	return startWalk(w, dirJob{rel: "."}, &self), nil
}

// startWalk streams what lies beneath the directory of job (and self
// first, when given).
func startWalk(w *walker, job dirJob, self *entry) *orderedWalk {
	ow := &orderedWalk{w: w}
	ow.cond = sync.NewCond(&ow.mu)
	l := w.readDir(job, self, &ow.buf)
	ow.rootCount = len(l.entries)
	ow.unreadable = append(ow.unreadable, l.unreadable...)
	ow.found(l)
	ow.stack = append(ow.stack, walkFrame{l: l})
	for i := 0; i < walkWorkers; i++ {
		ow.wg.Add(1)
		go func() {
			defer ow.wg.Done()
			ow.work()
		}()
	}
	return ow
}

// empty reports whether the walk's top directory holds nothing but
// itself.
func (ow *orderedWalk) empty() bool { return ow.rootCount <= 1 }

// found queues the subdirectories of a listing just read.
func (ow *orderedWalk) found(l *listing) {
	if len(l.subdirs) == 0 {
		return
	}
	ow.mu.Lock()
	for _, t := range l.subdirs {
		heap.Push(&ow.pending, t)
	}
	ow.mu.Unlock()
	ow.cond.Broadcast()
}

func (ow *orderedWalk) work() {
	var buf dirBuf
	for {
		ow.mu.Lock()
		for !ow.stop && (len(ow.pending) == 0 || ow.ahead >= walkAhead) {
			ow.cond.Wait()
		}
		if ow.stop {
			ow.mu.Unlock()
			return
		}
		t := heap.Pop(&ow.pending).(*dirTask)
		t.state = taskReading
		ow.ahead++
		ow.mu.Unlock()

		l := ow.w.readDir(t.job, nil, &buf)
		ow.found(l)
		ow.mu.Lock()
		t.list, t.state = l, taskDone
		ow.mu.Unlock()
		close(t.done)
	}
}

// take returns the listing of t, reading it here if no worker has begun.
func (ow *orderedWalk) take(t *dirTask) *listing {
	ow.mu.Lock()
	if t.state == taskPending {
		heap.Remove(&ow.pending, t.idx)
		t.state = taskReading
		ow.mu.Unlock()
		l := ow.w.readDir(t.job, nil, &ow.buf)
		ow.found(l)
		return l
	}
	ow.mu.Unlock()
	<-t.done
	ow.mu.Lock()
	l := t.list
	t.list = nil // the parent listing must not keep it
	ow.ahead--
	ow.mu.Unlock()
	ow.cond.Signal()
	return l
}

// next returns the next entry in byte order of its path, and its "-wal"
// neighbour if it has one; nil at the end. Both are valid until the next
// call.
func (ow *orderedWalk) next() (*entry, *walStat) {
	for len(ow.stack) > 0 {
		f := &ow.stack[len(ow.stack)-1]
		if f.pos >= len(f.l.entries)+len(f.l.subdirs) {
			putEntries(f.l.entries)
			ow.stack[len(ow.stack)-1] = walkFrame{}
			ow.stack = ow.stack[:len(ow.stack)-1]
			continue
		}
		k := int32(f.pos)
		if f.l.order != nil {
			k = f.l.order[f.pos]
		}
		f.pos++
		if k >= 0 {
			return &f.l.entries[k], f.l.walOf(int(k))
		}
		l := ow.take(f.l.subdirs[-k-1])
		f.l.subdirs[-k-1] = nil
		ow.unreadable = append(ow.unreadable, l.unreadable...)
		ow.stack = append(ow.stack, walkFrame{l: l})
	}
	return nil, nil
}

// carries reports whether a live version at path, which the walk did not
// find, could not be read or lies beneath a directory that could not:
// not known to be gone, it carries on. The walk knows it by the time it
// has streamed past path.
func (ow *orderedWalk) carries(path string) bool { return beneathAny(path, ow.unreadable) }

// close stops the workers. It may be called more than once.
func (ow *orderedWalk) close() {
	ow.mu.Lock()
	ow.stop = true
	ow.mu.Unlock()
	ow.cond.Broadcast()
	ow.wg.Wait()
}

// collect reads the whole walk: its entries in order and the paths it
// could not read, sorted. The walk is closed.
func (ow *orderedWalk) collect() ([]entry, []string) {
	defer ow.close()
	var out []entry
	for e, _ := ow.next(); e != nil; e, _ = ow.next() {
		out = append(out, *e)
	}
	slices.Sort(ow.unreadable)
	return out, ow.unreadable
}

// sliceWalk streams entries held in a slice sorted by path (a partial
// snapshot's), marked as a listing marks them.
type sliceWalk struct {
	entries    []entry
	wal        map[int]walStat
	unreadable []string
	i          int
}

func newSliceWalk(entries []entry, unreadable []string) *sliceWalk {
	s := &sliceWalk{entries: entries, unreadable: unreadable}
	find := func(rel string) (int, bool) {
		return slices.BinarySearchFunc(entries, rel, func(e entry, t string) int { return strings.Compare(e.rel, t) })
	}
	for i := range entries {
		e := &entries[i]
		if base, ok := sidecarBase(e.rel); ok && e.typ == typFile {
			if j, found := find(base); found && entries[j].typ == typFile {
				entries[j].base = true
			}
		}
		if base, ok := strings.CutSuffix(e.rel, "-wal"); ok && base != "" {
			if j, found := find(base); found {
				if s.wal == nil {
					s.wal = map[int]walStat{}
				}
				s.wal[j] = walStat{size: e.size, mtimeNs: e.mtimeNs, ino: e.ino}
			}
		}
	}
	return s
}

func (s *sliceWalk) next() (*entry, *walStat) {
	if s.i >= len(s.entries) {
		return nil, nil
	}
	s.i++
	if s.wal != nil {
		if ws, ok := s.wal[s.i-1]; ok {
			return &s.entries[s.i-1], &ws
		}
	}
	return &s.entries[s.i-1], nil
}

func (s *sliceWalk) carries(path string) bool { return beneathAny(path, s.unreadable) }

// statAt is fstatat(2) of a name listed by dirBuf.list, NUL-terminated
// where it lies in the buffer: unix.Fstatat copies every name into a new
// []byte to add the NUL, an allocation per file of the walk.
func statAt(dirfd int, name *byte, st *unix.Stat_t) error {
	for {
		_, _, e := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(st)),
			unix.AT_SYMLINK_NOFOLLOW, 0, 0)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

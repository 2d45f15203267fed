package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/ignore"
)

// entry is one path found by the walk, with what stat said about it.
type entry struct {
	rel     string // '/'-separated, "." for the root (run.path gives the full path)
	typ     string
	mode    uint32
	size    int64
	mtimeNs int64
	ctimeNs int64
	ino     uint64
	link    string
	// uid and gid own the entry; restore gives them back as root.
	uid, gid int64
}

func statEntry(rel string, fi fs.FileInfo) entry {
	e := entry{rel: rel, mode: uint32(fi.Mode().Perm()) | setBits(fi.Mode()), size: fi.Size(),
		mtimeNs: fi.ModTime().UnixNano(), uid: -1, gid: -1}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.ctimeNs = st.Ctim.Sec*1e9 + st.Ctim.Nsec
		e.ino = st.Ino
		e.uid, e.gid = int64(st.Uid), int64(st.Gid)
	}
	switch {
	case fi.Mode().IsDir():
		e.typ, e.size = catalog.TypeDir, 0
	case fi.Mode()&fs.ModeSymlink != 0:
		e.typ = catalog.TypeSymlink
	case fi.Mode().IsRegular():
		e.typ = catalog.TypeFile
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
// records what it could see and says so).
//
// force lists paths (and their parents) recorded despite the excludes: an
// undo snapshot must hold every file a restore replaces. Inside an
// excluded directory entered only for them, nothing else is recorded.
func walk(root string, ex *ignore.Matcher, skip, force map[string]bool, warn func(path, kind, msg string)) ([]entry, error) {
	if err := checkRoot(root); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", root, unwrapPathError(err))
	}
	w := &walker{root: root, ex: ex, skip: skip, force: force, warn: warn}
	w.out = append(w.out, statEntry(".", fi))
	w.queue = append(w.queue, dirJob{abs: root, rel: "."})
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
	sort.Slice(w.out, func(i, j int) bool { return pathLess(w.out[i].rel, w.out[j].rel) })
	return w.out, nil
}

// walkWorkers read directories in parallel; more than the cores only
// adds contention.
var walkWorkers = max(2, runtime.GOMAXPROCS(0))

type dirJob struct {
	abs, rel   string
	forcedOnly bool // excluded, entered only for paths in walker.force
}

type walker struct {
	root  string
	ex    *ignore.Matcher
	skip  map[string]bool
	force map[string]bool
	warn  func(path, kind, msg string)

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []dirJob
	active int // directories being read
	out    []entry
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

		entries, subdirs := w.readDir(job)

		w.mu.Lock()
		w.out = append(w.out, entries...)
		w.queue = append(w.queue, subdirs...)
		w.active--
		w.mu.Unlock()
		w.cond.Broadcast()
	}
}

// readDir lists one directory: its entries, and the subdirectories to read.
func (w *walker) readDir(job dirJob) ([]entry, []dirJob) {
	des, err := os.ReadDir(job.abs)
	if err != nil && len(des) == 0 {
		if job.rel != "." && !errors.Is(err, fs.ErrNotExist) {
			w.warn(job.rel, "unreadable", fmt.Sprintf("skipped: %v", unwrapPathError(err)))
		}
		return nil, nil
	}
	var out []entry
	var subdirs []dirJob
	for _, d := range des {
		abs := filepath.Join(job.abs, d.Name())
		rel := d.Name()
		if job.rel != "." {
			rel = job.rel + "/" + d.Name()
		}
		if w.skip[abs] {
			continue
		}
		excluded := job.forcedOnly || w.ex.Match(rel, d.IsDir())
		if excluded && !w.force[rel] {
			continue
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), atomicfile.TempPrefix) {
			continue // a killed restore's partial file, not user data
		}
		info, err := d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) { // vanished since the listing
				w.warn(rel, "unreadable", fmt.Sprintf("skipped: %v", unwrapPathError(err)))
			}
			continue
		}
		e := statEntry(rel, info)
		switch e.typ {
		case "":
			w.warn(rel, "special", fmt.Sprintf("skipped %s (sockets, FIFOs and devices are not stored)", kindName(info.Mode())))
			continue
		case catalog.TypeSymlink:
			if e.link, err = os.Readlink(abs); err != nil {
				w.warn(rel, "unreadable", fmt.Sprintf("skipped: %v", unwrapPathError(err)))
				continue
			}
		case catalog.TypeDir:
			subdirs = append(subdirs, dirJob{abs: abs, rel: rel, forcedOnly: excluded})
		}
		out = append(out, e)
	}
	return out, subdirs
}

// pathLess orders paths as a depth-first walk lists them: component by
// component, so "a/b" comes before "a-b" and "a.b".
func pathLess(a, b string) bool {
	for {
		ai, bi := strings.IndexByte(a, '/'), strings.IndexByte(b, '/')
		ac, bc := a, b
		if ai >= 0 {
			ac = a[:ai]
		}
		if bi >= 0 {
			bc = b[:bi]
		}
		if ac != bc {
			if ac == "." {
				return true
			}
			if bc == "." {
				return false
			}
			return ac < bc
		}
		if ai < 0 || bi < 0 {
			return ai < 0 && bi >= 0
		}
		a, b = a[ai+1:], b[bi+1:]
	}
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

func kindName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
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

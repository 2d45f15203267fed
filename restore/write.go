package restore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/sqlitefile"
)

// writer restores versions under one root.
type writer struct {
	ctx    context.Context
	d      Deps
	chunks *blobstore.Reader // shared by the workers: neighbouring files share blobs
	fs     *atomicfile.FS    // in batch mode: syncs the staged files
	root   *os.Root
	base   string
	opts   Options
	// batch: stage files without a sync each; the caller syncs the
	// filesystem once before committing them all.
	batch bool

	mu       sync.Mutex
	dirs     map[string]*os.Root
	linkDirs map[string]bool // directories where symlinks were replaced, to sync
}

// dir returns a root for the directory of rel and rel's base name: os.Root
// resolves every component of a path on every call, so one open handle per
// directory saves most of the opens of a large restore.
func (w *writer) dir(rel string) (*os.Root, string, error) {
	d, base := path.Split(rel)
	d = strings.TrimSuffix(d, "/")
	if d == "" {
		return w.root, base, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if r, ok := w.dirs[d]; ok {
		return r, base, nil
	}
	r, err := w.root.OpenRoot(d)
	if err != nil {
		return nil, "", fmt.Errorf("open directory %s: %w", w.abs(d), err)
	}
	if w.dirs == nil {
		w.dirs = map[string]*os.Root{}
	}
	w.dirs[d] = r
	return r, base, nil
}

func (w *writer) close() {
	for _, r := range w.dirs {
		r.Close()
	}
}

func (w *writer) abs(rel string) string { return filepath.Join(w.base, filepath.FromSlash(rel)) }

func (w *writer) mkdir(v *catalog.Version) error {
	if v.Path == "." {
		return nil
	}
	if fi, err := w.root.Lstat(v.Path); err == nil && !fi.IsDir() {
		return fmt.Errorf("restore %s: a %s is in the way; move it aside or restore with --to", w.abs(v.Path), kind(fi))
	}
	if err := w.root.MkdirAll(v.Path, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", w.abs(v.Path), err)
	}
	return nil
}

// bigMin is the size from which a file is restored ahead of the others.
const bigMin = 1 << 20

// bigFirst moves the big files to the front, largest first, and keeps the
// rest in path order (neighbours share blobs and catalog pages): one large
// database started last would leave every other worker idle while it is
// written and checked.
func bigFirst(files []*catalog.Version) {
	slices.SortStableFunc(files, func(a, b *catalog.Version) int {
		return cmp.Compare(max(b.Size, bigMin-1), max(a.Size, bigMin-1))
	})
}

// prefetch is how many files' contents are looked up in one go.
const prefetch = 256

// job is a file to restore with its content, when looked up ahead.
type job struct {
	v *catalog.Version
	c *catalog.Content
}

// contents looks up the contents of small files in bulk. It is only a
// shortcut: on any error each file looks its content up itself, so a
// damaged row fails that file alone, with its own message. Big files look
// themselves up one at a time, so that memory does not grow with their
// chunk lists.
func (w *writer) contents(files []*catalog.Version) map[int64]*catalog.Content {
	var ids []int64
	for _, v := range files {
		if v.ContentID != 0 && v.Size < bigMin {
			ids = append(ids, v.ContentID)
		}
	}
	if len(ids) < 2 {
		return nil
	}
	m, err := w.d.DB.ContentsByID(w.ctx, ids)
	if err != nil {
		return nil
	}
	return m
}

// restore restores one file or symlink; c is its content when already
// looked up. A file that needs writing comes back staged: complete beside
// its target, to be committed by the caller.
func (w *writer) restore(v *catalog.Version, c *catalog.Content) (Action, *atomicfile.Staged, error) {
	a := Action{Path: w.abs(v.Path), Rel: v.Path, Type: v.Type, Size: v.Size}
	if v.Path == "." {
		return a, nil, fmt.Errorf("restore %s: the source root is recorded as a %s", a.Path, v.Type)
	}
	if isRuntime(v.Path, w.opts.Runtime) {
		a.Verb, a.Reason = "kept", "runtime file, never restored"
		return a, nil, nil
	}
	dir, name, err := w.dir(v.Path)
	if err != nil {
		return a, nil, err
	}
	existing, err := dir.Lstat(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return a, nil, fmt.Errorf("restore %s: %w", a.Path, err)
	}
	if existing != nil && existing.IsDir() {
		return a, nil, fmt.Errorf("restore %s: a directory is in the way; move it aside or restore with --to", a.Path)
	}
	if v.Type == catalog.TypeSymlink {
		a, err := w.symlink(dir, name, v, a, existing)
		return a, nil, err
	}
	if existing != nil && v.JSONValid.Valid && !v.JSONValid.Bool && !w.opts.Force {
		return a, nil, fmt.Errorf("restore %s: snapshot %d holds a torn (invalid JSON) copy; refusing to write it over the file without --force", a.Path, v.First)
	}
	isDB := v.Capture == catalog.CaptureSQLite
	if isDB && existing != nil && !w.opts.Force {
		if busy, _ := sqlitefile.InUse(a.Path); busy {
			return a, nil, fmt.Errorf("restore %s: the database is open in another process; stop it first, or use --force", a.Path)
		}
	}
	if c == nil {
		if c, err = w.d.DB.ContentByID(w.ctx, v.ContentID); err != nil {
			return a, nil, fmt.Errorf("restore %s: %w", a.Path, err)
		}
	}
	mode := unixMode(fileMode(v.Path, v.Mode))
	mtime := time.Unix(0, v.MtimeNs)
	if existing != nil && existing.Mode().IsRegular() && existing.Size() == c.Size && sameBytes(dir, name, c.Hash) {
		a.Verb = "unchanged"
		if existing.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != mode {
			if err := dir.Chmod(name, mode); err != nil {
				return a, nil, fmt.Errorf("chmod %s: %w", a.Path, err)
			}
		}
		if err := dir.Chtimes(name, mtime, mtime); err != nil {
			return a, nil, fmt.Errorf("set times of %s: %w", a.Path, err)
		}
		return a, nil, nil
	}
	opts := atomicfile.Options{Mode: mode, Mtime: mtime}
	if isDB {
		dirAbs := filepath.Dir(a.Path)
		opts.Check = func(tmp string) error {
			if err := sqlitefile.IntegrityCheck(filepath.Join(dirAbs, tmp)); err != nil {
				return fmt.Errorf("restore %s: the restored database fails integrity_check, nothing replaced: %w", a.Path, err)
			}
			return nil
		}
		// A -wal from another life replayed over the restored database
		// would corrupt it.
		opts.BeforeRename = func() error {
			for _, side := range []string{name + "-wal", name + "-shm", name + "-journal"} {
				if err := dir.Remove(side); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("remove stale %s: %w", filepath.Join(dirAbs, side), err)
				}
			}
			return nil
		}
	}
	staged, err := atomicfile.Stage(dir, name, opts, !w.batch, func(out io.Writer) error {
		return writeContent(w.ctx, w.chunks, c, out)
	})
	if err != nil {
		return a, nil, fmt.Errorf("restore %s: %w", a.Path, err)
	}
	a.Verb = "write"
	return a, staged, nil
}

// sameBytes reports whether the file on disk already holds the content, so
// an in-place restore leaves untouched what it need not write.
func sameBytes(dir *os.Root, name string, want [32]byte) bool {
	f, err := dir.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), want[:])
}

func (w *writer) symlink(dir *os.Root, name string, v *catalog.Version, a Action, existing fs.FileInfo) (Action, error) {
	if existing != nil && existing.Mode()&fs.ModeSymlink != 0 {
		if target, err := dir.Readlink(name); err == nil && target == v.LinkTarget {
			a.Verb = "unchanged"
			return a, nil
		}
	}
	// A short temp name: the link's own name may already be NAME_MAX long.
	tmp := atomicfile.TempPrefix + "link-" + blobstore.Sum([]byte(name)).String()[:16]
	dir.Remove(tmp)
	if err := dir.Symlink(v.LinkTarget, tmp); err != nil {
		return a, fmt.Errorf("restore symlink %s: %w", a.Path, err)
	}
	if err := dir.Rename(tmp, name); err != nil {
		dir.Remove(tmp)
		return a, fmt.Errorf("restore symlink %s: %w", a.Path, err)
	}
	a.Verb = "link"
	w.mu.Lock()
	if w.linkDirs == nil {
		w.linkDirs = map[string]bool{}
	}
	w.linkDirs[path.Dir(v.Path)] = true
	w.mu.Unlock()
	return a, nil
}

// writeContent streams a content's chunks to out, each verified by its
// hash on read, and checks the whole-file hash at the end.
func writeContent(ctx context.Context, chunks *blobstore.Reader, c *catalog.Content, out io.Writer) error {
	h := blake3.New()
	var n int64
	emit := func(data []byte) error {
		h.Write(data)
		n += int64(len(data))
		_, err := out.Write(data)
		return err
	}
	var err error
	if c.Size >= readAheadMin {
		err = readAhead(ctx, chunks, c.Chunks, emit)
	} else {
		bp := chunkBufs.Get().(*[]byte)
		buf := (*bp)[:0]
		for _, l := range c.Chunks {
			if buf, err = chunks.ReadChunk(ctx, l.Pack, l.Entry(), buf[:0]); err != nil {
				break
			}
			if err = emit(buf); err != nil {
				break
			}
		}
		if cap(buf) <= 1<<20 {
			*bp = buf
			chunkBufs.Put(bp)
		}
	}
	if err != nil {
		return err
	}
	if n != c.Size || !bytes.Equal(h.Sum(nil), c.Hash[:]) {
		return fmt.Errorf("content %x: reassembled bytes do not match the recorded hash: %w", c.Hash[:8], blobstore.ErrCorrupt)
	}
	return nil
}

// chunkBufs recycles the buffers small files' chunks are read into: a
// buffer per file was two thirds of what a restore of 20,000 small files
// allocated, and the collections it caused an eighth of its CPU.
var chunkBufs = sync.Pool{New: func() any { return new([]byte) }}

// readAheadMin is the file size from which chunks are read and
// decompressed by a goroutine of their own, ahead of the writing and
// hashing: a large database otherwise restores on one core.
const readAheadMin = 4 << 20

// readAhead reads and verifies locs in order on a goroutine of its own,
// up to readAheadDepth chunks ahead, and hands each to emit.
func readAhead(ctx context.Context, r *blobstore.Reader, locs []catalog.ChunkLoc, emit func([]byte) error) error {
	const readAheadDepth = 16
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type piece struct {
		data *[]byte
		err  error
	}
	ready := make(chan piece, readAheadDepth)
	free := make(chan *[]byte, readAheadDepth+1)
	for range readAheadDepth + 1 {
		free <- new([]byte)
	}
	finished := make(chan struct{})
	// On an error the reader is cancelled and waited for: nothing reads
	// the store after this returns.
	defer func() { cancel(); <-finished }()
	go func() {
		defer close(finished)
		defer close(ready)
		for _, l := range locs {
			var buf *[]byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			if ctx.Err() != nil {
				return
			}
			data, err := r.ReadChunk(ctx, l.Pack, l.Entry(), (*buf)[:0])
			*buf = data
			select {
			case ready <- piece{buf, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	done := 0
	for p := range ready {
		if p.err != nil {
			return p.err
		}
		if err := emit(*p.data); err != nil {
			return err
		}
		free <- p.data
		done++
	}
	if done != len(locs) {
		return ctx.Err()
	}
	return nil
}

// Cat writes one file of a snapshot to out, verified.
func Cat(ctx context.Context, d Deps, req Request, out io.Writer) error {
	if err := checkPath(req.Path); err != nil {
		return err
	}
	v, err := d.DB.VersionAt(ctx, req.Snapshot, req.Path)
	if err != nil {
		return fmt.Errorf("%s is not in snapshot %d: %w", req.UserPath, req.Snapshot.ID, err)
	}
	if v.Type != catalog.TypeFile {
		return fmt.Errorf("%s is a %s in snapshot %d, not a file", req.UserPath, v.Type, req.Snapshot.ID)
	}
	c, err := d.DB.ContentByID(ctx, v.ContentID)
	if err != nil {
		return err
	}
	return writeContent(ctx, blobstore.NewReader(d.Store), c, out)
}

func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func kind(fi fs.FileInfo) string {
	switch {
	case fi.IsDir():
		return "directory"
	case fi.Mode()&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "file"
}

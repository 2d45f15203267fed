package restore

import (
	"bufio"
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
	"runtime"
	"slices"
	"sync"
	"syscall"

	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/internal/sqlitefile"
)

// writer carries out the items of one request under one root.
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
	dirs  dirCache

	mu       sync.Mutex
	linkDirs map[string]bool // directories where symlinks were replaced, to sync
	// stage, for a fresh target, is the staging directory the tree is
	// built in; root and dirs are then its.
	stage    *stage
	progress *progress
}

func (w *writer) abs(rel string) string { return filepath.Join(w.base, filepath.FromSlash(rel)) }

func (w *writer) mkdir(it *Item) error {
	if it.Rel == "." {
		return nil
	}
	// In the parent's open handle (parents come first): MkdirAll opened
	// every directory above from the root, for each directory.
	if parent, name, err := w.dirs.dir(it.Rel); err == nil && parent != nil {
		err := parent.Mkdir(name, 0o700)
		if err == nil {
			return nil
		}
		if fi, serr := parent.Lstat(name); errors.Is(err, fs.ErrExist) && serr == nil && fi.IsDir() {
			return nil
		}
	}
	if err := w.root.MkdirAll(it.Rel, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", it.Path, err)
	}
	w.dirs.forget(path.Dir(it.Rel)) // remembered as missing, maybe
	return nil
}

// dir is the open directory of rel, which the directories made first
// guarantee exists.
func (w *writer) dir(rel string) (*os.Root, string, error) {
	dir, name, err := w.dirs.dir(rel)
	if err == nil && dir == nil {
		err = fmt.Errorf("open directory of %s: %w", w.abs(rel), fs.ErrNotExist)
	}
	return dir, name, err
}

// setMeta gives what is at name (under dir) the item's owner, mode and
// times; a symlink gets only its owner.
func (w *writer) setMeta(dir *os.Root, name string, it *Item, symlink bool) error {
	return w.setMetaAs(dir, name, it, symlink, it.owner)
}

// setMetaAs is setMeta with the owner to give (nil: none, the entry was
// created with it).
func (w *writer) setMetaAs(dir *os.Root, name string, it *Item, symlink bool, own *owner) error {
	if own != nil {
		chown := dir.Chown
		if symlink {
			chown = dir.Lchown
		}
		if err := chown(name, own.uid, own.gid); err != nil {
			return fmt.Errorf("chown %s: %w", it.Path, err)
		}
	}
	if symlink {
		return nil
	}
	// After the chown, which clears setuid and setgid.
	if err := dir.Chmod(name, it.mode); err != nil {
		return fmt.Errorf("chmod %s: %w", it.Path, err)
	}
	t := mtimeOf(it.Version)
	if err := dir.Chtimes(name, t, t); err != nil {
		return fmt.Errorf("set times of %s: %w", it.Path, err)
	}
	return nil
}

// setDirMeta gives a directory the restore made its metadata, through
// its parent's open handle (a path resolved from the root cost three
// opens per call, three calls per directory).
func (w *writer) setDirMeta(it *Item) error {
	dir, name, err := w.dir(it.Rel)
	if err != nil {
		return err
	}
	return w.setMetaAs(dir, name, it, false, w.stage.ownerToSet(it.owner))
}

// bigMin is the size from which a file is restored ahead of the others.
const bigMin = 1 << 20

// bigFirst moves the big files to the front, largest first, and keeps the
// rest in path order (neighbours share blobs and catalog pages): one large
// database started last would leave every other worker idle while it is
// written and checked.
func bigFirst(items []*Item) {
	slices.SortStableFunc(items, func(a, b *Item) int {
		return cmp.Compare(max(b.Version.Size, bigMin-1), max(a.Version.Size, bigMin-1))
	})
}

// prefetch is how many files' contents are looked up in one go.
const prefetch = 256

// job is a file to restore with its content, when looked up ahead.
type job struct {
	it *Item
	c  *catalog.Content
}

// contents looks up the contents of small files to write in bulk. It is
// only a shortcut: on any error each file looks its content up itself, so
// a damaged row fails that file alone, with its own message. Big files
// look themselves up one at a time, so that memory does not grow with
// their chunk lists.
func (w *writer) contents(items []*Item) map[int64]*catalog.Content {
	var ids []int64
	for _, it := range items {
		if it.Kind == KindWrite && it.Version.ContentID != 0 && it.Version.Size < bigMin {
			ids = append(ids, it.Version.ContentID)
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

// restore carries out one file or symlink item; c is its content when
// already looked up. A file to write comes back staged: complete beside
// its target, to be committed by the caller.
func (w *writer) restore(it *Item, c *catalog.Content) (*atomicfile.Staged, error) {
	dir, name, err := w.dir(it.Rel)
	if err != nil {
		return nil, err
	}
	switch it.Kind {
	case KindSymlink:
		return nil, w.symlink(dir, name, it)
	case KindUnchanged:
		return nil, w.setMeta(dir, name, it, false)
	}
	v := it.Version
	if c == nil {
		if c, err = w.d.DB.ContentByID(w.ctx, v.ContentID); err != nil {
			return nil, fmt.Errorf("restore %s: %w", it.Path, err)
		}
	}
	opts := atomicfile.Options{Mode: it.mode, Mtime: mtimeOf(v)}
	if own := w.stage.ownerToSet(it.owner); own != nil {
		opts.Owner = &atomicfile.Owner{UID: own.uid, GID: own.gid}
	}
	if v.Capture == catalog.CaptureSQLite {
		dirAbs, checkDir := filepath.Dir(it.Path), filepath.Dir(it.Path)
		if w.stage != nil {
			// Checked where it is staged, under its own name.
			checkDir = filepath.Join(w.stage.abs, filepath.FromSlash(path.Dir(it.Rel)))
		}
		// A copy damaged at capture is written as recorded only with
		// Force (the plan refuses it otherwise): checking it would fail.
		// One that passed its check at capture comes back as those very
		// bytes (writeContent has checked its hash before the check
		// runs), so a second full pass over it proves nothing more:
		// SchemaCheck still catches a file that is not that database. A
		// copy never checked (DBCheck "") gets integrity_check.
		if v.DBCheck == "" || v.DBCheck == "ok" {
			check, what := sqlitefile.IntegrityCheck, "integrity_check"
			if v.DBCheck == "ok" {
				check, what = sqlitefile.SchemaCheck, "its check"
			}
			opts.Check = func(name string) error {
				if err := check(filepath.Join(checkDir, name)); err != nil {
					return fmt.Errorf("restore %s: the restored database fails %s, nothing replaced: %w", it.Path, what, err)
				}
				return nil
			}
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
	dirFile, err := w.dirs.dirFile(it.Rel)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", it.Path, err)
	}
	if w.stage != nil {
		// Nothing stale beside it: the target was empty.
		opts.BeforeRename = nil
		err := atomicfile.CreateIn(dirFile, name, opts, func(out io.Writer) error {
			return writeContent(w.ctx, w.chunks, c, out, true)
		})
		if err != nil {
			return nil, fmt.Errorf("restore %s: %w", it.Path, err)
		}
		return nil, nil
	}
	staged, err := atomicfile.StageIn(dirFile, name, opts, !w.batch, func(out io.Writer) error {
		return writeContent(w.ctx, w.chunks, c, out, true)
	})
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", it.Path, err)
	}
	return staged, nil
}

// sameBytes reports whether the file on disk already holds the content,
// with what fstat says about the file it read.
func sameBytes(dir *os.Root, name string, want [32]byte) (fs.FileInfo, bool) {
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, false
	}
	return fi, bytes.Equal(h.Sum(nil), want[:])
}

func (w *writer) symlink(dir *os.Root, name string, it *Item) error {
	// A short temp name: the link's own name may already be NAME_MAX long.
	tmp := atomicfile.TempPrefix + "link-" + blobstore.Sum([]byte(name)).String()[:16]
	dir.Remove(tmp)
	if err := dir.Symlink(it.Version.LinkTarget, tmp); err != nil {
		return fmt.Errorf("restore symlink %s: %w", it.Path, err)
	}
	if err := w.setMeta(dir, tmp, it, true); err != nil {
		dir.Remove(tmp)
		return err
	}
	if err := dir.Rename(tmp, name); err != nil {
		dir.Remove(tmp)
		return fmt.Errorf("restore symlink %s: %w", it.Path, err)
	}
	w.mu.Lock()
	if w.linkDirs == nil {
		w.linkDirs = map[string]bool{}
	}
	w.linkDirs[path.Dir(it.Rel)] = true
	w.mu.Unlock()
	return nil
}

// writeContent streams a content's chunks to out, each verified by its
// hash on read, and checks the whole-file hash at the end. With holes
// (out is a new regular file), an all-zero chunk is seeked over instead
// of written, so a sparse file comes back sparse.
func writeContent(ctx context.Context, chunks *blobstore.Reader, c *catalog.Content, out io.Writer, holes bool) error {
	h := blake3.New()
	var n int64
	var bw *bufio.Writer
	if c.Size >= readAheadMin {
		// A big file's chunks (a database's pages) go out in large
		// writes: a write per chunk was 27,000 system calls for the
		// agent-state corpus's 200 MiB database.
		bw = bigWrites.Get().(*bufio.Writer)
		if f, ok := out.(writeBackStarter); ok {
			bw.Reset(&writeBehind{Writer: out, f: f})
		} else {
			bw.Reset(out)
		}
		defer func() { bw.Reset(nil); bigWrites.Put(bw) }()
		if s, ok := out.(sparseFile); ok {
			out = bufferedSparse{bw, s}
		} else {
			out = bw
		}
	}
	sparse, _ := out.(sparseFile)
	inHole := false
	emit := func(data []byte) error {
		h.Write(data)
		n += int64(len(data))
		if holes && sparse != nil && len(data) >= holeMin && allZero(data) {
			inHole = true
			_, err := sparse.Seek(int64(len(data)), io.SeekCurrent)
			return err
		}
		inHole = false
		_, err := out.Write(data)
		return err
	}
	var err error
	if c.Size >= readAheadMin {
		err = readAhead(ctx, chunks, c.Chunks, emit)
		if err == nil && bw != nil {
			err = bw.Flush()
		}
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
	if inHole {
		// A file ending in a hole has its size set, not written.
		if err := sparse.Truncate(n); err != nil {
			return err
		}
	}
	if n != c.Size || !bytes.Equal(h.Sum(nil), c.Hash[:]) {
		return fmt.Errorf("content %x: reassembled bytes do not match the recorded hash: %w", c.Hash[:8], blobstore.ErrCorrupt)
	}
	return nil
}

// sparseFile is a file that can be written with holes.
type sparseFile interface {
	io.Seeker
	Truncate(size int64) error
}

// bufferedSparse is a sparse file written through a buffer: what the
// buffer holds is written before the offset moves or the size is set.
type bufferedSparse struct {
	*bufio.Writer
	f sparseFile
}

func (b bufferedSparse) Seek(offset int64, whence int) (int64, error) {
	if err := b.Flush(); err != nil {
		return 0, err
	}
	return b.f.Seek(offset, whence)
}

func (b bufferedSparse) Truncate(size int64) error {
	if err := b.Flush(); err != nil {
		return err
	}
	return b.f.Truncate(size)
}

// writeBackStarter is a file whose write-back can be started early
// (atomicfile.File).
type writeBackStarter interface{ StartWriteback() error }

// writeBehindEvery is how many bytes of a big file are written between
// two starts of its write-back.
const writeBehindEvery = 8 << 20

// writeBehind starts a big file's write-back every writeBehindEvery bytes,
// so that its fsync (a file restored on its own, or in place) or the
// restore's syncfs does not find all of it still to write: a restore of
// one 128 MiB file wrote nothing to disk before its fsync.
type writeBehind struct {
	io.Writer
	f       writeBackStarter
	pending int
}

func (w *writeBehind) Write(b []byte) (int, error) {
	n, err := w.Writer.Write(b)
	if w.pending += n; err == nil && w.pending >= writeBehindEvery {
		w.pending = 0
		w.f.StartWriteback() // only a hint: the sync that follows reports errors
	}
	return n, err
}

// bigWrites are the buffers big files are written through.
var bigWrites = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1<<20) }}

// holeMin is the smallest all-zero chunk left as a hole: a filesystem
// allocates whole blocks, so a shorter run saves nothing.
const holeMin = 4096

var zeros [64 << 10]byte

func allZero(b []byte) bool {
	if b[0] != 0 || b[len(b)-1] != 0 {
		return false // most data, cheaply
	}
	for len(b) > 0 {
		k := min(len(b), len(zeros))
		if !bytes.Equal(b[:k], zeros[:k]) {
			return false
		}
		b = b[k:]
	}
	return true
}

// chunkBufs recycles the buffers small files' chunks are read into: a
// buffer per file was two thirds of what a restore of 20,000 small files
// allocated, and the collections it caused an eighth of its CPU.
var chunkBufs = sync.Pool{New: func() any { return new([]byte) }}

// readAheadMin is the file size from which chunks are read and
// decompressed by a goroutine of their own, ahead of the writing and
// hashing: a large database otherwise restores on one core.
const readAheadMin = 4 << 20

// readAhead reads and verifies locs on goroutines of their own, the
// blobs of several at once, and hands each chunk to emit in order. One
// decoding goroutine kept the writer waiting: decompressing and verifying
// a database's chunks costs more than hashing and writing them, and with
// the page cache cold one read at a time leaves the disk idle between
// them.
func readAhead(ctx context.Context, r *blobstore.Reader, locs []catalog.ChunkLoc, emit func([]byte) error) error {
	decoders := min(max(2, runtime.GOMAXPROCS(0)), 4)
	depth := 4 * decoders // blobs in flight or waiting for emit
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A task is a run of chunks in one blob, decoded by one goroutine so
	// that the blob is decompressed once (the Reader's cache serves the
	// rest of the run); data holds their plaintexts back to back.
	type task struct {
		locs []catalog.ChunkLoc
		data *[]byte
		err  error
		done chan struct{}
	}
	order := make(chan *task, depth)
	tasks := make(chan *task, depth)
	free := make(chan *[]byte, depth+1)
	for range depth + 1 {
		free <- new([]byte)
	}
	var wg sync.WaitGroup
	// On an error the readers are cancelled and waited for: nothing reads
	// the store after this returns.
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1 + decoders)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(tasks)
		for i := 0; i < len(locs); {
			j := i + 1
			for j < len(locs) && locs[j].Pack == locs[i].Pack && locs[j].Offset == locs[i].Offset {
				j++
			}
			t := &task{locs: locs[i:j], done: make(chan struct{})}
			i = j
			select {
			case t.data = <-free:
			case <-ctx.Done():
				return
			}
			select {
			case order <- t:
			case <-ctx.Done():
				return
			}
			select {
			case tasks <- t:
			case <-ctx.Done():
				close(t.done) // order holds it: let a waiting emit see ctx
				return
			}
		}
	}()
	for range decoders {
		go func() {
			defer wg.Done()
			for t := range tasks {
				buf := (*t.data)[:0]
				for _, l := range t.locs {
					if t.err = ctx.Err(); t.err != nil {
						break
					}
					if buf, t.err = r.ReadChunk(ctx, l.Pack, l.Entry(), buf); t.err != nil {
						break
					}
				}
				*t.data = buf
				close(t.done)
			}
		}()
	}
	done := 0
	for t := range order {
		select {
		case <-t.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if t.err != nil {
			return t.err
		}
		data := *t.data
		for _, l := range t.locs {
			if int64(len(data)) < l.Size { // cannot be: each was verified
				return fmt.Errorf("read ahead: chunk %x short: %w", l.Hash[:8], blobstore.ErrCorrupt)
			}
			if err := emit(data[:l.Size]); err != nil {
				return err
			}
			data = data[l.Size:]
			done++
		}
		free <- t.data
	}
	if done != len(locs) {
		return cmp.Or(ctx.Err(), fmt.Errorf("read ahead: %d of %d chunks read", done, len(locs)))
	}
	return nil
}

package blobstore

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// maxOpenPacks bounds the read handle cache: enough for a restore that
// interleaves a few packs, far below any file descriptor limit.
const maxOpenPacks = 32

var (
	_ Store       = (*Local)(nil)
	_ DatedLister = (*Local)(nil)
)

// Local is the filesystem Store. Packs live at dir/ab/abcdef....pack; uploads
// are written in tmpDir, fsynced, renamed into place, and the directory is
// fsynced. It is safe for concurrent use.
type Local struct {
	dir, tmpDir string

	mu     sync.Mutex
	open   map[string]*list.Element // of *handle
	lru    list.List                // front is most recently used
	epoch  uint64                   // bumped by Delete so in-flight opens are not cached
	closed bool
}

// handle is a cached read handle. refs counts ReadAt calls using it, so an
// evicted handle is closed only once the last of them is done.
type handle struct {
	name    string
	f       *os.File
	refs    int
	evicted bool
}

// NewLocal opens a filesystem store, creating dir and tmpDir if missing.
// tmpDir must be on the same filesystem as dir so that Commit can rename.
func NewLocal(dir, tmpDir string) (*Local, error) {
	for _, d := range []string{dir, tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create store directory: %w", err)
		}
	}
	return &Local{dir: dir, tmpDir: tmpDir, open: make(map[string]*list.Element)}, nil
}

func (l *Local) path(name string) string {
	return filepath.Join(l.dir, name[:2], name+".pack")
}

func checkName(verb, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%s pack %q: %w", verb, name, ErrInvalidName)
	}
	return nil
}

// Create starts an upload in tmpDir.
func (l *Local) Create(ctx context.Context) (Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	f, err := os.CreateTemp(l.tmpDir, "upload-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	return &localUpload{l: l, f: f}, nil
}

// ReadAt reads through a cached handle, so that restoring many chunks from
// one pack opens it once.
func (l *Local) ReadAt(ctx context.Context, name string, p []byte, off int64) error {
	if err := checkName("read", name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("read pack %s: %w", name, err)
	}
	if off < 0 {
		return fmt.Errorf("read pack %s: negative offset %d", name, off)
	}
	h, err := l.acquire(name)
	if err != nil {
		return fmt.Errorf("read pack %s: %w", name, err)
	}
	n, err := h.f.ReadAt(p, off)
	l.release(h)
	switch {
	case n == len(p):
		return nil
	case err == io.EOF && n == 0:
		return fmt.Errorf("read pack %s at %d: %w", name, off, io.EOF)
	case err == io.EOF:
		return fmt.Errorf("read pack %s at %d: %w", name, off, io.ErrUnexpectedEOF)
	default:
		return fmt.Errorf("read pack %s at %d: %w", name, off, err)
	}
}

func (l *Local) acquire(name string) (*handle, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("store is closed")
	}
	if el, ok := l.open[name]; ok {
		l.lru.MoveToFront(el)
		h := el.Value.(*handle)
		h.refs++
		l.mu.Unlock()
		return h, nil
	}
	epoch := l.epoch
	l.mu.Unlock()

	// Open outside the lock so a slow open does not stall other reads.
	f, err := os.Open(l.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	h := &handle{name: name, f: f, refs: 1}

	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.open[name]; ok {
		// Another reader opened it meanwhile; share theirs.
		f.Close()
		l.lru.MoveToFront(el)
		h = el.Value.(*handle)
		h.refs++
		return h, nil
	}
	if l.closed || l.epoch != epoch {
		// A Delete may have raced this open; use the handle once and
		// keep it out of the cache.
		h.evicted = true
		return h, nil
	}
	l.open[name] = l.lru.PushFront(h)
	for l.lru.Len() > maxOpenPacks {
		l.evict(l.lru.Back())
	}
	return h, nil
}

func (l *Local) release(h *handle) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h.refs--
	if h.evicted && h.refs == 0 {
		h.f.Close()
	}
}

// evict drops el from the cache; l.mu must be held.
func (l *Local) evict(el *list.Element) {
	h := l.lru.Remove(el).(*handle)
	delete(l.open, h.name)
	h.evicted = true
	if h.refs == 0 {
		h.f.Close()
	}
}

// forget drops any cached handle of name and stops in-flight opens from
// caching one; l.mu must not be held.
func (l *Local) forget(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	if el, ok := l.open[name]; ok {
		l.evict(el)
	}
}

// Stat returns the size of pack name.
func (l *Local) Stat(ctx context.Context, name string) (int64, error) {
	if err := checkName("stat", name); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("stat pack %s: %w", name, err)
	}
	fi, err := os.Stat(l.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("stat pack %s: %w", name, ErrNotFound)
	} else if err != nil {
		return 0, fmt.Errorf("stat pack %s: %w", name, err)
	}
	return fi.Size(), nil
}

// List walks the fan-out directories. Anything that is not a regular
// <name>.pack file in the directory its name prefix picks is skipped, so
// stray or misplaced files are never reported as packs that ReadAt then
// cannot find.
func (l *Local) List(ctx context.Context, fn func(name string, size int64) error) error {
	return l.ListDated(ctx, func(name string, size int64, _ time.Time) error { return fn(name, size) })
}

// ListDated is List with each pack's modification time, which the rename
// that commits a pack keeps from its last write (blobstore.DatedLister).
func (l *Local) ListDated(ctx context.Context, fn func(name string, size int64, committed time.Time) error) error {
	subs, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	for _, sub := range subs {
		if !sub.IsDir() || !isLowerHex(sub.Name(), 2) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list packs: %w", err)
		}
		files, err := os.ReadDir(filepath.Join(l.dir, sub.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("list packs: %w", err)
		}
		for _, f := range files {
			name, ok := strings.CutSuffix(f.Name(), ".pack")
			if !ok || !ValidName(name) || name[:2] != sub.Name() || !f.Type().IsRegular() {
				continue
			}
			fi, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted while listing
			} else if err != nil {
				return fmt.Errorf("list packs: %w", err)
			}
			if err := fn(name, fi.Size(), fi.ModTime()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes pack name and fsyncs its directory so the removal
// survives a crash.
func (l *Local) Delete(ctx context.Context, name string) error {
	if err := checkName("delete", name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete pack %s: %w", name, err)
	}
	// Forget before removing (some systems cannot remove open files) and
	// again after, for reads that opened the file in between.
	l.forget(name)
	err := os.Remove(l.path(name))
	l.forget(name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete pack %s: %w", name, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("delete pack %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(l.path(name))); err != nil {
		return fmt.Errorf("delete pack %s: %w", name, err)
	}
	return nil
}

// Close closes cached handles. Reads that are in flight finish first.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for l.lru.Len() > 0 {
		l.evict(l.lru.Back())
	}
	return nil
}

// syncDir makes directory entry changes in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be fsynced there; NTFS journals renames
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

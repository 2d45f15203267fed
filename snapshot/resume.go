package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// An interrupted snapshot resumes. A snapshot killed after sealing packs
// leaves them in the store with no catalog row naming them (orphans); a
// first snapshot of 400 MB killed at 287 MB stored all 400 MB again the
// next time. Packs are self-describing, so the next snapshot, of any
// source, reads the footers of the orphans and takes the chunks it meets
// there instead of storing them again; its commit records each orphan
// pack it used and the chunks it used from it, as if it had written them.
//
// Finding orphans costs a listing of the store and of the catalog's packs,
// which an ordinary snapshot must not pay (an unchanged snapshot to S3
// costs two requests). A snapshot about to seal packs therefore leaves a
// marker in the repository's tmp/ (resume-<pid>-<random>) and removes it
// once it has committed; a failed run renames it resume-x-<random>, and gc,
// when it keeps young orphans for the grace period, leaves one too
// (NoteOrphans). Only a snapshot that finds a marker whose process is gone
// lists the store. A running snapshot's marker is not a reason to look: its
// packs are legitimately not in the catalog yet. When a snapshot that
// looked for another reason meets them, taking chunks from them is still
// safe: sealed packs are durable and immutable, gc cannot run before both
// commit (the repository lock), and the second commit of a pack or chunk
// row keeps the first one (catalog.CommitSnapshot).
//
// What an orphan holds is verified before any of it is used, once per pack
// and only for packs the snapshot needs: the whole pack is read (one read),
// its BLAKE3 must be its name (which every PackWriter gives it: a truncated
// or damaged pack fails), its footer must parse with the bounds checks of
// blobstore.ParseIndex, and every chunk it lists must decode and hash to
// its ID (a footer that lies fails). A pack failing any of this gives
// nothing; its chunks are stored again. Nothing else is trusted: restore
// verifies every chunk and every file's whole hash as always.

// markerPrefix starts the names of resume markers in the tmp directory.
const markerPrefix = "resume-"

// abandonedPID stands for the pid of a marker whose run is over.
const abandonedPID = "x"

// marker is the file that says this snapshot may leave sealed packs the
// catalog does not name.
type marker struct {
	dir  string
	once sync.Once
	mu   sync.Mutex
	path string
}

// create makes the marker, once; before the first pack is sealed. A marker
// that cannot be made costs a resume, never the snapshot.
func (m *marker) create() {
	if m == nil || m.dir == "" {
		return
	}
	m.once.Do(func() {
		f, err := os.CreateTemp(m.dir, markerPrefix+strconv.Itoa(os.Getpid())+"-*")
		if err != nil {
			return
		}
		f.Close()
		m.mu.Lock()
		m.path = f.Name()
		m.mu.Unlock()
	})
}

func (m *marker) take() string {
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.path
	m.path = ""
	return p
}

// done removes the marker: the snapshot committed every pack it sealed.
func (m *marker) done() {
	if p := m.take(); p != "" {
		os.Remove(p)
	}
}

// abandon marks the packs of a run that will not commit as waiting for the
// next snapshot: the marker outlives the process that made it only by
// name, and this one's process may go on (cairn watch, a heal retry).
func (m *marker) abandon() {
	if p := m.take(); p != "" {
		if err := renameAbandoned(p); err != nil {
			os.Remove(p)
		}
	}
}

func renameAbandoned(p string) error {
	f, err := os.CreateTemp(filepath.Dir(p), markerPrefix+abandonedPID+"-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Rename(p, f.Name())
}

// NoteOrphans leaves a marker in tmpDir that makes the next snapshot look
// for orphan packs: gc leaves one when it keeps orphans for the grace
// period (its clean-up of tmp/ removes the markers of the runs that left
// them).
func NoteOrphans(tmpDir string) error {
	f, err := os.CreateTemp(tmpDir, markerPrefix+abandonedPID+"-*")
	if err != nil {
		return fmt.Errorf("note orphan packs: %w", err)
	}
	return f.Close()
}

// staleMarkers lists the markers in dir whose snapshot is over: renamed
// as abandoned, or of a process that no longer exists.
func staleMarkers(dir string) []string {
	if dir == "" {
		return nil
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var stale []string
	for _, de := range des {
		rest, ok := strings.CutPrefix(de.Name(), markerPrefix)
		if !ok || !de.Type().IsRegular() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		if pidText != abandonedPID {
			pid, err := strconv.Atoi(pidText)
			if err != nil || pid <= 0 || pid == os.Getpid() || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				continue // running (or not ours to judge)
			}
		}
		stale = append(stale, filepath.Join(dir, de.Name()))
	}
	return stale
}

// adopt adds an orphan pack, verified, to the packs the commit records and
// returns its index there.
func (p *packer) adopt(pack catalog.NewPack) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.packs = append(p.packs, pack)
	return len(p.packs) - 1
}

// orphanPack is a sealed pack the catalog did not name when the snapshot
// began.
type orphanPack struct {
	name    string
	size    int64
	entries []blobstore.Entry

	once sync.Once
	ok   bool // verified, and adopted into the packer's list
	idx  int  // its index in the commit's Packs once adopted
	err  error
}

type orphanLoc struct {
	pack, entry int
}

// orphans are the packs a resuming snapshot may take chunks from. They
// load in the background while the walk runs; lookups wait for them.
type orphans struct {
	store blobstore.Store
	codec *blobstore.Codec
	stale []string // the markers that made the snapshot look

	ready chan struct{}
	err   error // the listing failed: nothing is resumed
	packs []*orphanPack
	byID  map[blobstore.ID]orphanLoc
	bad   []string // orphans whose footer could not be read

	adopt func(catalog.NewPack) int // set before the first lookup (execute)
	// condemned packs are not resumed from: a gc plan will delete them.
	condemned map[string]bool

	verifyMu sync.Mutex // one whole pack in memory at a time
	buf      []byte
}

// maxOrphanSize bounds the packs a snapshot reads whole to verify: packs
// are sealed just over 16 MiB (packTarget); a bigger one was not written
// by a snapshot, and is left to gc.
const maxOrphanSize = 4 * packTarget

// startOrphans begins loading the orphans of store if a marker says an
// interrupted snapshot left some (or force: a heal retry left its own).
// It returns nil when there is nothing to look for.
func startOrphans(ctx context.Context, db *catalog.DB, store blobstore.Store, codec *blobstore.Codec, tmpDir string, force bool, condemned map[string]bool) *orphans {
	stale := staleMarkers(tmpDir)
	if len(stale) == 0 && !force {
		return nil
	}
	o := &orphans{store: store, codec: codec, stale: stale, ready: make(chan struct{}), byID: map[blobstore.ID]orphanLoc{}, condemned: condemned}
	go func() {
		defer close(o.ready)
		o.err = o.load(ctx, db)
	}()
	return o
}

// load lists the store, then the catalog's packs (in that order, so that a
// pack a concurrent snapshot commits in between is not taken for an
// orphan), and reads each orphan's footer: one ranged read.
func (o *orphans) load(ctx context.Context, db *catalog.DB) error {
	listed := map[string]int64{}
	if err := o.store.List(ctx, func(name string, size int64) error {
		listed[name] = size
		return nil
	}); err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	known, err := db.Packs(ctx)
	if err != nil {
		return err
	}
	for _, p := range known {
		delete(listed, p.Name)
	}
	for name := range o.condemned {
		delete(listed, name)
	}
	names := make([]string, 0, len(listed))
	for name := range listed {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		size := listed[name]
		if size > maxOrphanSize {
			o.bad = append(o.bad, name)
			continue
		}
		entries, err := blobstore.ReadIndex(ctx, o.store, o.codec, name)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			o.bad = append(o.bad, name)
			continue
		}
		k := len(o.packs)
		o.packs = append(o.packs, &orphanPack{name: name, size: size, entries: entries, idx: -1})
		for i, e := range entries {
			if _, dup := o.byID[e.ID]; !dup {
				o.byID[e.ID] = orphanLoc{pack: k, entry: i}
			}
		}
	}
	return nil
}

// find returns where an orphan holds chunk id, verifying and adopting its
// pack on first use. ok is false if no usable orphan holds it.
func (o *orphans) find(ctx context.Context, id blobstore.ID) (e blobstore.Entry, pack int, ok bool) {
	select {
	case <-o.ready:
	case <-ctx.Done():
		return e, 0, false
	}
	if o.err != nil {
		return e, 0, false
	}
	loc, found := o.byID[id]
	if !found {
		return e, 0, false
	}
	p := o.packs[loc.pack]
	p.once.Do(func() {
		if p.err = o.verify(ctx, p); p.err == nil && o.adopt != nil {
			p.idx = o.adopt(catalog.NewPack{Name: p.name, Size: p.size})
			p.ok = true
		}
	})
	if !p.ok {
		return e, 0, false
	}
	return p.entries[loc.entry], p.idx, true
}

// verify reads pack p whole and checks that it is exactly what a
// PackWriter sealed and holds every chunk its footer lists.
func (o *orphans) verify(ctx context.Context, p *orphanPack) error {
	o.verifyMu.Lock()
	defer o.verifyMu.Unlock()
	if int64(cap(o.buf)) < p.size {
		o.buf = make([]byte, p.size)
	}
	data := o.buf[:p.size]
	if err := o.store.ReadAt(ctx, p.name, data, 0); err != nil {
		return fmt.Errorf("read orphan pack %s: %w", p.name, err)
	}
	if blobstore.Sum(data).String() != p.name {
		return fmt.Errorf("orphan pack %s: content does not hash to its name: %w", p.name, blobstore.ErrCorrupt)
	}
	entries, err := blobstore.ParseIndex(o.codec, data, p.size)
	if err != nil {
		return fmt.Errorf("orphan pack %s: %w", p.name, err)
	}
	if len(entries) != len(p.entries) {
		return fmt.Errorf("orphan pack %s: footer changed: %w", p.name, blobstore.ErrCorrupt)
	}
	one := &packBytes{name: p.name, data: data}
	rd := blobstore.NewReader(one, o.codec)
	var buf []byte
	for i, e := range entries {
		if e != p.entries[i] {
			return fmt.Errorf("orphan pack %s: footer changed: %w", p.name, blobstore.ErrCorrupt)
		}
		if buf, err = rd.ReadChunk(ctx, p.name, e, buf[:0]); err != nil {
			return err
		}
	}
	return nil
}

// adopted returns the orphan packs this snapshot took chunks from.
func (o *orphans) adopted() (packs int, bytes int64) {
	if o == nil {
		return 0, 0
	}
	for _, p := range o.packs {
		if p.ok {
			packs++
			bytes += p.size
		}
	}
	return packs, bytes
}

// finish runs after the commit: the markers that made this snapshot look
// go once no orphan it could have used is left (packs of other sources
// wait for their next snapshot, so their markers stay).
func (o *orphans) finish() {
	if o == nil {
		return
	}
	select {
	case <-o.ready:
	default:
		return
	}
	if o.err != nil {
		return
	}
	for _, p := range o.packs {
		if !p.ok && p.err == nil {
			return // readable, not used by this snapshot
		}
	}
	for _, m := range o.stale {
		os.Remove(m)
	}
}

// wait blocks until loading is over, so that nothing outlives Run.
func (o *orphans) wait() {
	if o != nil {
		<-o.ready
	}
}

// packBytes is one pack held in memory, as a Store that can only read it:
// verification decodes its chunks with blobstore's own reader.
type packBytes struct {
	name string
	data []byte
}

var errReadOnly = errors.New("snapshot: read-only pack copy")

func (b *packBytes) Create(context.Context) (blobstore.Upload, error) { return nil, errReadOnly }
func (b *packBytes) Delete(context.Context, string) error             { return errReadOnly }
func (b *packBytes) Close() error                                     { return nil }

func (b *packBytes) List(_ context.Context, fn func(string, int64) error) error {
	return fn(b.name, int64(len(b.data)))
}

func (b *packBytes) Stat(_ context.Context, name string) (int64, error) {
	if name != b.name {
		return 0, fmt.Errorf("stat pack %s: %w", name, blobstore.ErrNotFound)
	}
	return int64(len(b.data)), nil
}

func (b *packBytes) ReadAt(_ context.Context, name string, p []byte, off int64) error {
	if name != b.name {
		return fmt.Errorf("read pack %s: %w", name, blobstore.ErrNotFound)
	}
	if off < 0 || off >= int64(len(b.data)) {
		return fmt.Errorf("read pack %s at %d: %w", name, off, io.EOF)
	}
	if n := copy(p, b.data[off:]); n < len(p) {
		return fmt.Errorf("read pack %s at %d: %w", name, off, io.ErrUnexpectedEOF)
	}
	return nil
}

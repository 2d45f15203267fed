package restore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/atomicfile"
)

// Execute carries the plan out, request by request: directories first
// (parents before children), then files in parallel, staged and committed
// together, then deletions, then directory modes and times deepest first,
// since writing in a directory changes its mtime. It decides nothing: a
// refused item is left alone, an unchanged one is not read again.
//
// The error joins every refused or failed path (each wraps its sentinel
// or the cause); the Result lists every item and what became of it.
func (p *Plan) Execute(ctx context.Context) (*Result, error) {
	byReq := make([][]*Item, len(p.reqs))
	for i := range p.Items {
		it := &p.Items[i]
		byReq[it.req] = append(byReq[it.req], it)
	}
	res := &Result{}
	if p.opts.Progress != nil {
		p.progress = &progress{fn: p.opts.Progress}
		for _, it := range p.Items {
			if it.Kind == KindWrite {
				p.progress.total += it.Version.Size
			}
		}
	}
	var fatal error
	for r := range p.reqs {
		if fatal = p.executeOne(ctx, r, byReq[r]); fatal != nil {
			break
		}
	}
	res.Items = p.Items
	for _, it := range res.Items {
		if !it.done {
			continue
		}
		switch it.Kind {
		case KindWrite:
			res.Written++
			res.Bytes += it.Version.Size
		case KindSymlink:
			res.Written++
		case KindUnchanged:
			res.Unchanged++
		case KindDelete:
			res.Deleted++
		}
	}
	return res, cmp.Or(fatal, res.err())
}

// batchMin is the number of files above which a restore syncs the
// filesystem once instead of each file.
const batchMin = 8

func (p *Plan) executeOne(ctx context.Context, r int, items []*Item) error {
	req, base := p.reqs[r], p.dests[r].base
	opts := withRuntime(p.opts, req)
	var dirs, files, deletes []*Item
	for _, it := range items {
		switch it.Kind {
		case KindMkdir:
			dirs = append(dirs, it)
		case KindWrite, KindSymlink:
			files = append(files, it)
		case KindUnchanged:
			if it.FixMeta {
				files = append(files, it)
			} else {
				it.done = true
			}
		case KindDelete:
			deletes = append(deletes, it)
		case KindLinkUnchanged, KindKeepRuntime:
			it.done = true
		}
	}
	if len(dirs)+len(files)+len(deletes) == 0 {
		return nil
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", base, err)
	}
	root, err := os.OpenRoot(base)
	if err != nil {
		return fmt.Errorf("open target %s: %w", base, err)
	}
	defer root.Close()
	w := &writer{ctx: ctx, d: p.d, chunks: blobstore.NewReader(p.d.Store, p.d.Codec), root: root, base: base, opts: opts, progress: p.progress,
		dirs: dirCache{root: root}}
	defer w.dirs.close()
	if p.dests[r].fresh {
		return w.executeStaged(dirs, files, items)
	}
	if opts.CleanTemps && p.dests[r].inPlace {
		cleanTemps(root, req.Path, dirs)
	}
	for _, it := range dirs {
		if err := w.mkdir(it); err != nil {
			it.fail(err)
		}
	}
	if req.Path != "." && path.Dir(req.Path) != "." {
		// The parents of a single path exist in place; under --to, make them.
		if err := root.MkdirAll(path.Dir(req.Path), 0o755); err != nil {
			return fmt.Errorf("create parents of %s: %w", req.Path, err)
		}
	}
	if err := w.writeFiles(files); err != nil {
		return err
	}
	w.delete(deletes)
	// Deepest first: setting a directory's times after its children.
	sort.SliceStable(dirs, func(i, j int) bool { return strings.Count(dirs[i].Rel, "/") > strings.Count(dirs[j].Rel, "/") })
	for _, it := range dirs {
		if it.Err != nil {
			continue
		}
		if err := w.setDirMeta(it); err != nil {
			it.fail(err)
			continue
		}
		it.done = true
	}
	return nil
}

// writeFiles writes, links or fixes the metadata of files in parallel.
// Many files are staged unsynced, the filesystem synced once, then all
// renamed; a few are each synced as they are staged.
func (w *writer) writeFiles(files []*Item) error {
	writes := 0
	for _, it := range files {
		if it.Kind == KindWrite {
			writes++
		}
	}
	w.batch = writes > batchMin || w.stage != nil
	bigFirst(files)
	stopWriteBack := func() error { return nil }
	if w.batch {
		if w.fs == nil { // executeStaged opens its own
			// Opened before anything is staged, so that a write-back
			// error of any staged file reaches its syncs.
			var err error
			if w.fs, err = atomicfile.OpenFS(w.root); err != nil {
				return err
			}
			defer w.fs.Close()
		}
		stopWriteBack = w.writeBackEarly()
	}
	var mu sync.Mutex
	var staged []*atomicfile.Staged
	var stagedItems []*Item
	// Buffered: a worker finishing a small file takes the next without
	// waiting for the feeder to be scheduled.
	jobs := make(chan job, 64)
	var wg sync.WaitGroup
	for range w.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s, err := w.restore(j.it, j.c)
				if err == nil && j.it.Kind == KindWrite {
					w.progress.add(j.it.Version.Size)
				}
				mu.Lock()
				switch {
				case err != nil:
					j.it.fail(err)
				case s != nil:
					staged = append(staged, s)
					stagedItems = append(stagedItems, j.it)
				default:
					j.it.done = true
				}
				mu.Unlock()
			}
		}()
	}
	ctx := w.ctx
	// The contents of the next files are looked up while the workers
	// write the current ones: looked up in line, each batch left both
	// workers idle for its queries.
	type batch struct {
		part     []*Item
		contents map[int64]*catalog.Content
	}
	batches := make(chan batch, 1)
	go func() {
		defer close(batches)
		for start := 0; start < len(files) && ctx.Err() == nil; start += prefetch {
			part := files[start:min(start+prefetch, len(files))]
			batches <- batch{part, w.contents(part)}
		}
	}()
feed:
	for b := range batches {
		for _, it := range b.part {
			if ctx.Err() != nil {
				break feed
			}
			jobs <- job{it, b.contents[it.Version.ContentID]}
		}
	}
	for range batches {
		// after a cancellation: let the lookups stop
	}
	close(jobs)
	wg.Wait()
	writeBackErr := stopWriteBack()
	if err := cmp.Or(ctx.Err(), writeBackErr); err != nil {
		for _, s := range staged {
			s.Abort()
		}
		return err
	}
	if w.stage != nil {
		return nil // the staging directory is promoted as a whole
	}
	return w.commit(staged, stagedItems)
}

// commit renames every staged file into place and makes the renames
// durable. In batch mode the staged files are synced first, all at once.
func (w *writer) commit(staged []*atomicfile.Staged, items []*Item) error {
	if len(staged) == 0 && len(w.linkDirs) == 0 {
		return nil
	}
	if w.batch {
		if err := w.fs.Sync(); err != nil {
			for _, s := range staged {
				s.Abort()
			}
			return err
		}
	}
	dirs := w.linkDirs
	if dirs == nil {
		dirs = map[string]bool{}
	}
	for i, s := range staged {
		if err := s.Commit(); err != nil {
			items[i].fail(fmt.Errorf("restore %s: %w", items[i].Path, err))
			continue
		}
		items[i].done = true
		dirs[path.Dir(items[i].Rel)] = true
	}
	if w.batch {
		return w.fs.Sync()
	}
	for d := range dirs {
		if err := atomicfile.SyncDir(w.root, d); err != nil {
			return err
		}
	}
	return nil
}

// writeBackEarly starts a goroutine that syncs the filesystem now and then
// while files are staged, so that the sync before the renames finds most
// of the data already written instead of all of it; the kernel would
// otherwise hold a restore's data back until that sync. It returns the
// function that stops it and reports the first failed sync: Linux reports
// a write-back error once per descriptor, so the commit's own sync through
// the same descriptor would not see it again.
func (w *writer) writeBackEarly() (stop func() error) {
	done := make(chan struct{})
	var failed error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := w.fs.Sync(); err != nil {
					failed = err
					return
				}
			}
		}
	}()
	return func() error { close(done); wg.Wait(); return failed }
}

// delete removes what the plan deletes, children before their
// directories, and makes the removals durable. A directory that still
// holds something (a runtime file, an excluded one) stays, with a note.
func (w *writer) delete(items []*Item) {
	if len(items) == 0 {
		return
	}
	sort.SliceStable(items, func(i, j int) bool { return strings.Count(items[i].Rel, "/") > strings.Count(items[j].Rel, "/") })
	synced, removed := map[string]bool{}, map[string]bool{}
	for _, it := range items {
		dir, name, err := w.dirs.dir(it.Rel)
		if err == nil && dir == nil {
			err = fs.ErrNotExist
		}
		if err == nil {
			err = dir.Remove(name)
		}
		switch {
		case err == nil:
			it.done = true
			synced[path.Dir(it.Rel)] = true
			removed[it.Rel] = true
		case it.Type == catalog.TypeDir && !errors.Is(err, fs.ErrNotExist):
			it.Kind, it.Replaces = KindKeepRuntime, false
			it.Notes = append(it.Notes, "it still holds files that are never deleted")
			it.done = true
		case errors.Is(err, fs.ErrNotExist):
			it.done = true // gone already
		default:
			it.fail(fmt.Errorf("delete %s: %w", it.Path, err))
		}
	}
	for d := range synced {
		if removed[d] {
			continue // its own removal is synced in its parent
		}
		if err := atomicfile.SyncDir(w.root, d); err != nil {
			for _, it := range items {
				if path.Dir(it.Rel) == d && it.done {
					it.fail(err)
				}
			}
		}
	}
}

// fail records that an item could not be carried out.
func (it *Item) fail(err error) {
	it.Err, it.done = err, false
}

// cleanTemps removes the temp files of killed restores from the
// directories this restore writes into.
func cleanTemps(root *os.Root, reqPath string, dirs []*Item) {
	names := map[string]bool{path.Dir(reqPath): true}
	for _, it := range dirs {
		names[it.Rel] = true
	}
	for d := range names {
		f, err := root.Open(d)
		if err != nil {
			continue
		}
		entries, _ := f.Readdirnames(-1)
		f.Close()
		for _, n := range entries {
			if strings.HasPrefix(n, atomicfile.TempPrefix) {
				root.Remove(path.Join(d, n))
			}
		}
	}
}

// progress counts the bytes a restore has written, for Options.Progress.
type progress struct {
	mu          sync.Mutex
	fn          func(done, total int64)
	done, total int64
}

func (p *progress) add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.fn(p.done, p.total)
}

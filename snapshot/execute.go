package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
)

// execute reads every file in the plan with a pool of workers and waits
// until every pack is sealed. results[i] belongs to plan.entries[i]; a
// file that vanished since the walk has no result.
func (r *run) execute(ctx context.Context, p *plan, warn func(path, kind, msg string)) (map[int]*captured, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.packer = newPacker(ctx, r.Store, r.Codec, r.index)
	results := make(map[int]*captured, len(p.toRead))
	p.unreadable = map[int]bool{}
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}
	r.packer.marker = r.marker
	if r.index.orphans != nil {
		r.index.orphans.adopt = r.packer.adopt
	}
	r.encode = make(chan *frame, 2*r.opts.Workers)
	encodersDone := r.packer.encoders(r.encode, r.opts.Workers, fail)
	jobs := make(chan int)
	var wg sync.WaitGroup
	stopProgress := r.progress(ctx, len(p.toRead))
	// More readers than cores, but only Workers of them on files larger
	// than smallMax at once (heavy): a small file costs an open and a read
	// that wait on the disk when the page cache does not hold it, and two
	// readers kept two reads in flight on a device that serves many.
	heavy := make(chan struct{}, r.opts.Workers)
	for w := 0; w < r.opts.Workers*readersPerWorker; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs := &buffers{window: chunker.BufferSize(r.params), frame: framePool.Get().(*frame)}
			// New chunks of neighbouring files share frames; the last
			// partial one goes when the worker runs out of files.
			defer func() {
				if err := r.flushFrame(ctx, bufs); err != nil {
					fail(err)
				}
			}()
			for i := range jobs {
				e := p.entries[i]
				if e.size > smallMax {
					select {
					case heavy <- struct{}{}:
					case <-ctx.Done():
						continue
					}
				}
				bufs.preloaded = r.preload(ctx, p.reuse[i])
				c, err := r.capture(ctx, e, bufs)
				bufs.waitPreload()
				if e.size > smallMax {
					<-heavy
				}
				r.stats.filesDone.Add(1)
				var src sourceError
				switch {
				case err == nil:
					mu.Lock()
					results[i] = c
					mu.Unlock()
				case ctx.Err() != nil:
					fail(ctx.Err())
				case errors.Is(err, fs.ErrNotExist), errors.Is(err, errReplaced):
					warn(e.rel, catalog.WarnVanished, "removed or replaced while the snapshot ran; not in this snapshot")
				case errors.Is(err, errTorn):
					// Not stored, as an unreadable file is not: its previous
					// version continues, and the next snapshot reads it again.
					kept := "not in this snapshot"
					if v := p.live[e.rel]; v != nil && v.Type == catalog.TypeFile {
						kept = "the previous version continues"
					}
					warn(e.rel, catalog.WarnChangedWhileReading, fmt.Sprintf("changed while being read %d times, and the last read is not what the file holds (truncated or rewritten under it): %s", readRetries, kept))
					mu.Lock()
					p.unreadable[i] = true
					mu.Unlock()
				case errors.As(err, &src):
					// One file that cannot be read never stops the rest; the
					// snapshot is committed and marked incomplete.
					warn(e.rel, KindUnreadable, fmt.Sprintf("could not be read: %v", unwrapPathError(src.err)))
					mu.Lock()
					p.unreadable[i] = true
					mu.Unlock()
				default:
					fail(fmt.Errorf("read %s: %w", r.path(e.rel), err))
				}
			}
		}()
	}
feed:
	for _, i := range p.toRead {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(r.encode)
	encodersDone()
	stopProgress()
	packErr := r.packer.close()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if packErr != nil {
		return nil, packErr
	}
	return results, nil
}

// readersPerWorker is how many files are read at once per worker (per
// core, by default): the extra readers read only small files, which wait
// on the disk rather than the CPU when they are not cached.
const readersPerWorker = 4

// preloadMin is the size from which a changed file's previous chunks are
// loaded up front: below it a file has a chunk or two, and looking those up
// costs no more than loading the list.
const preloadMin = 1 << 20

// preload marks the chunks of a changed file's previous version as known:
// most of them usually still are, and then need no lookup each. It runs
// beside the capture (for a database, beside the backup copy) and returns
// what to wait on before the first chunk is looked up.
func (r *run) preload(ctx context.Context, v *catalog.Version) <-chan struct{} {
	if v == nil || v.ContentID == 0 || v.Size < preloadMin || r.index.empty {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c, err := r.DB.ContentByID(ctx, v.ContentID); err == nil {
			r.index.preload(c)
		}
	}()
	return done
}

func (r *run) progress(ctx context.Context, total int) (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.opts.Progress(Progress{FilesDone: r.stats.filesDone.Load(), FilesToRead: int64(total), BytesRead: r.stats.bytesRead.Load()})
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// build turns the plan and what was read into one catalog commit.
func (r *run) build(p *plan, results map[int]*captured) *catalog.Commit {
	c := &catalog.Commit{Packs: r.packer.packs, NewChunks: r.index.news, AddedBytes: r.packer.added, Condemned: r.Condemned, CondemnedChunks: rawIDs(r.CondemnedChunks),
		Versions: make([]catalog.NewVersion, 0, len(p.metaOnly)+len(p.toRead)),
		Contents: make([]catalog.NewContent, 0, len(p.toRead))}
	// Every chunk is claimed by now: the lookup maps can go before the
	// commit, the largest moment of a big snapshot.
	r.index.known, r.index.pending, r.index.pendingRest = nil, nil, nil
	contents := newContentIndex(len(p.toRead))
	vanished := map[string]bool{}
	for _, i := range p.toRead {
		e := p.entries[i]
		if results[i] != nil {
			continue
		}
		if !p.unreadable[i] {
			vanished[e.rel] = true
			continue
		}
		// Unreadable: not new, not deleted. A file's previous version
		// continues, so that restoring the path gives its last good copy;
		// a path with no previous file version is not in the snapshot.
		switch v := p.live[e.rel]; {
		case v == nil:
			p.news--
			vanished[e.rel] = true
		case v.Type == catalog.TypeFile:
			p.carried = append(p.carried, v)
		default:
			p.changed--
			vanished[e.rel] = true
		}
	}
	for _, i := range p.metaOnly {
		e := p.entries[i]
		if v := p.live[e.rel]; v != nil {
			c.Close = append(c.Close, v.ID)
		}
		c.Versions = append(c.Versions, catalog.NewVersion{Content: -1, Path: e.rel, Type: e.typ.String(), Mode: e.mode, MtimeNs: e.mtimeNs, LinkTarget: e.link,
			FpCtimeNs: e.ctimeNs, FpIno: e.ino, UID: int64(e.uid), GID: int64(e.gid)})
	}
	for _, i := range p.toRead {
		got := results[i]
		if got == nil {
			continue
		}
		e := got.e
		c.Warnings = append(c.Warnings, got.warnings...)
		isDB := got.capture == catalog.CaptureSQLite
		wal := p.walOf(i)
		fp := catalog.Refresh{FpCtimeNs: e.ctimeNs, FpIno: e.ino, FpExtra: dbExtra(isDB, e.size, wal)}
		if p.racy(e.mtimeNs, wal) {
			fp.FpCtimeNs = -1
		}
		old := p.live[e.rel]
		if old != nil && old.Type == catalog.TypeFile && string(old.ContentHash) == string(got.hash[:]) &&
			old.Mode == e.mode && old.MtimeNs == e.mtimeNs && sameOwner(old, &e) && old.Capture == got.capture && sameValidity(old, got) {
			fp.ID = old.ID
			c.Refresh = append(c.Refresh, fp)
			p.unchanged++
			continue
		}
		if old != nil {
			c.Close = append(c.Close, old.ID)
			if old.Type == catalog.TypeFile {
				p.changed++
			}
		}
		k, ok := contents.find(c.Contents, got.hash)
		if !ok {
			k = len(c.Contents)
			contents.add(got.hash, k)
			c.Contents = append(c.Contents, catalog.NewContent{Hash: got.hash, Size: got.size, Chunking: got.chunking, Chunks: got.chunks})
		}
		c.Versions = append(c.Versions, catalog.NewVersion{Path: e.rel, Type: catalog.TypeFile, Mode: e.mode, Size: got.size, MtimeNs: e.mtimeNs,
			UID: int64(e.uid), GID: int64(e.gid), Capture: got.capture, DBCheck: got.dbCheck, FpCtimeNs: fp.FpCtimeNs, FpIno: fp.FpIno,
			FpExtra: fp.FpExtra, Content: k})
		v := &c.Versions[len(c.Versions)-1]
		if got.jsonValid != nil {
			v.JSONValid.Valid, v.JSONValid.Bool = true, *got.jsonValid
		}
		if got.jsonCount >= 0 {
			v.JSONEntries.Valid, v.JSONEntries.Int64 = true, got.jsonCount
		}
	}
	for _, v := range p.removed {
		c.Close = append(c.Close, v.ID)
	}
	// A file that vanished between the walk and its read is gone from this
	// snapshot; its live version, if any, ends here too.
	for path := range vanished {
		if v := p.live[path]; v != nil {
			c.Close = append(c.Close, v.ID)
		}
	}
	// Every file the walk found, less those that vanished since; files
	// beneath a directory that could not be listed continue too.
	c.FileCount = p.files - int64(len(vanished)) + p.carriedFiles
	c.TotalBytes = p.carriedBytes
	for _, i := range p.toRead {
		e := p.entries[i]
		if vanished[e.rel] {
			continue
		}
		if got := results[i]; got != nil {
			c.TotalBytes += got.size
		} else if v := p.live[e.rel]; v != nil {
			c.TotalBytes += v.Size
		}
	}
	c.TotalBytes += p.unchangedBytes // the files the comparison found unchanged
	return c
}

// contentIndex finds the contents a commit lists by hash, keyed by the
// hash's first 8 bytes (as the chunk index is, idPrefix): a first snapshot of 1M files holds one entry per
// file, and a map keyed by the whole hash took 48 MB (40-byte slots) at the
// moment the snapshot holds the most. Another hash with the same first
// bytes goes into rest.
type contentIndex struct {
	byPrefix map[uint64]int
	rest     map[[32]byte]int
}

func newContentIndex(n int) *contentIndex {
	return &contentIndex{byPrefix: make(map[uint64]int, n)}
}

func (x *contentIndex) find(contents []catalog.NewContent, h [32]byte) (int, bool) {
	k, ok := x.byPrefix[idPrefix(h)]
	if !ok {
		return 0, false
	}
	if contents[k].Hash == h {
		return k, true
	}
	k, ok = x.rest[h]
	return k, ok
}

// add records that contents[k] has hash h, which find did not know.
func (x *contentIndex) add(h [32]byte, k int) {
	prefix := idPrefix(h)
	if _, taken := x.byPrefix[prefix]; !taken {
		x.byPrefix[prefix] = k
		return
	}
	if x.rest == nil {
		x.rest = map[[32]byte]int{}
	}
	x.rest[h] = k
}

// racy reports whether a file modified at mtimeNs (or its -wal) may
// change again within the same timestamp tick.
func (p *plan) racy(mtimeNs int64, wal *walStat) bool {
	return mtimeNs >= p.racyAfter || wal != nil && wal.mtimeNs >= p.racyAfter
}

func sameValidity(v *catalog.Version, c *captured) bool {
	if c.jsonValid == nil {
		return !v.JSONValid.Valid
	}
	return v.JSONValid.Valid && v.JSONValid.Bool == *c.jsonValid
}

// rawIDs is a set of chunk ids as the catalog takes hashes.
func rawIDs(ids map[blobstore.ID]bool) map[[32]byte]bool {
	if len(ids) == 0 {
		return nil
	}
	out := make(map[[32]byte]bool, len(ids))
	for id := range ids {
		out[id] = true
	}
	return out
}

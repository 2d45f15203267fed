package snapshot

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// packTarget is the size at which a pack is sealed: large enough that a
// repository has few files, small enough that a snapshot of a few changed
// files does not wait on a huge write.
const packTarget = 16 << 20

// chunkIndex decides for every chunk whether the repository already has
// it. Chunks new in this snapshot are claimed once, so two workers that
// meet the same bytes store them once.
type chunkIndex struct {
	db    *catalog.DB
	empty bool // the repository had no chunks when the snapshot began

	mu    sync.Mutex
	known map[blobstore.ID]int64 // catalog ids already looked up
	// pending finds a new chunk's index into news by the first 8 bytes of
	// its ID (news holds the whole ID to compare); an ID whose first bytes
	// another new chunk already has goes to pendingRest. A first snapshot
	// of 47,000 chunks held 3.7 MB in a map keyed by whole IDs.
	pending     map[uint64]int
	pendingRest map[blobstore.ID]int
	news        []catalog.NewChunk
	// reused names the packs of the known chunks this snapshot refers to
	// anew, which it checks are still in the store before it commits.
	reused map[string]bool
}

func idPrefix(id blobstore.ID) uint64 { return binary.LittleEndian.Uint64(id[:8]) }

// pendingIndex returns the index into news of a chunk claimed as new in
// this snapshot. The caller holds x.mu.
func (x *chunkIndex) pendingIndex(id blobstore.ID) (int, bool) {
	if k, ok := x.pending[idPrefix(id)]; ok && x.news[k].Hash == id {
		return k, true
	}
	k, ok := x.pendingRest[id]
	return k, ok
}

// claim records id as new in this snapshot and returns its index into
// news. The caller holds x.mu.
func (x *chunkIndex) claim(id blobstore.ID) int {
	k := len(x.news)
	x.news = append(x.news, catalog.NewChunk{Hash: id, Pack: -1})
	if _, taken := x.pending[idPrefix(id)]; taken {
		if x.pendingRest == nil {
			x.pendingRest = map[blobstore.ID]int{}
		}
		x.pendingRest[id] = k
	} else {
		x.pending[idPrefix(id)] = k
	}
	return k
}

// ref returns how a content refers to the chunk with id, and whether the
// caller must store it (the chunk was claimed as new).
func (x *chunkIndex) ref(ctx context.Context, id blobstore.ID) (catalog.ChunkRef, bool, error) {
	x.mu.Lock()
	if k, ok := x.pendingIndex(id); ok {
		x.mu.Unlock()
		return catalog.ChunkRef(-k - 1), false, nil
	}
	if cid, ok := x.known[id]; ok {
		x.mu.Unlock()
		return catalog.ChunkRef(cid), false, nil
	}
	x.mu.Unlock()
	if !x.empty {
		// The repository lock (shared here, exclusive in gc) keeps this
		// chunk from being deleted before the snapshot commits.
		cid, pack, found, err := x.db.FindChunk(ctx, id[:])
		if err != nil {
			return 0, false, err
		}
		if found {
			x.mu.Lock()
			x.known[id] = cid
			x.reuse(pack)
			x.mu.Unlock()
			return catalog.ChunkRef(cid), false, nil
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if k, ok := x.pendingIndex(id); ok {
		return catalog.ChunkRef(-k - 1), false, nil
	}
	k := x.claim(id)
	return catalog.ChunkRef(-k - 1), true, nil
}

// preload marks the chunks of a previous version as known, so a changed
// file that mostly kept its bytes needs no catalog lookups.
func (x *chunkIndex) preload(c *catalog.Content) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, l := range c.Chunks {
		if l.Missing {
			continue // stored again when met (see catalog/missing.go)
		}
		x.known[l.Hash] = l.ID
		x.reuse(l.Pack)
	}
}

// reuse notes that the snapshot refers to a chunk in pack. The caller
// holds x.mu.
func (x *chunkIndex) reuse(pack string) {
	if x.reused == nil {
		x.reused = map[string]bool{}
	}
	x.reused[pack] = true
}

// frameTarget is the most plaintext of new chunks a worker gathers to be
// compressed together as one blob (a chunk larger than this goes alone).
// zstd finds far more to reuse in 128 KiB than in one 8 KiB database chunk
// or one small JSON file (measured on the benchmark's agent-state corpus at
// zstd's fastest level: 191 MiB of database 67.7 -> 54.4 MiB, 91 MiB of
// small files 35.4 -> 27.0 MiB, and 20% less compression time); reading one
// chunk back then decompresses at most this much more. Bigger frames gained
// little (256 KiB: 53.5/26.6), and up to 128 KiB zstd compresses a frame
// as one block, without the history buffer it needs for more.
const frameTarget = 128 << 10

// frame is a run of new chunks on its way to compression and a pack as one
// blob: their plaintexts back to back, and for each its index into
// chunkIndex.news and its part of the blob.
type frame struct {
	data  []byte
	ks    []int
	parts []blobstore.Part
}

// framePool recycles frames between the workers that fill them and the
// encoders that empty them.
var framePool = sync.Pool{New: func() any { return new(frame) }}

func (f *frame) add(k int, id blobstore.ID, chunk []byte) {
	f.ks = append(f.ks, k)
	f.parts = append(f.parts, blobstore.Part{ID: id, PlainOffset: int64(len(f.data)), Size: int64(len(chunk))})
	f.data = append(f.data, chunk...)
}

func (f *frame) reset() *frame {
	f.data, f.ks, f.parts = f.data[:0], f.ks[:0], f.parts[:0]
	return f
}

// encoders compress frames and append them to packs until frames is
// closed; each has its own reusable output buffer.
func (p *packer) encoders(frames <-chan *frame, n int, fail func(error)) (wait func()) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var enc []byte
			for f := range frames {
				enc = blobstore.Encode(enc[:0], f.data)
				err := p.add(f, enc)
				framePool.Put(f.reset())
				if err != nil {
					fail(err)
				}
			}
		}()
	}
	return wg.Wait
}

// packer appends encoded frames to packs. Encoders add under a mutex from
// their own reusable buffers (no copy per frame on the way); a pack that
// reaches packTarget is sealed (made durable in the store) by the encoder
// that filled it, outside the lock, while the others start the next one.
type packer struct {
	ctx   context.Context
	store blobstore.Store
	index *chunkIndex

	mu      sync.Mutex
	w       *blobstore.PackWriter
	current int               // index in packs of w
	packs   []catalog.NewPack // filled in as each is sealed
	sealing sync.WaitGroup
	added   int64
	err     error
}

func newPacker(ctx context.Context, store blobstore.Store, index *chunkIndex) *packer {
	return &packer{ctx: ctx, store: store, index: index}
}

// add appends the encoded blob of frame f to the current pack.
func (p *packer) add(f *frame, blob []byte) error {
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return p.err
	}
	if p.w == nil {
		w, err := blobstore.NewPackWriter(p.ctx, p.store)
		if err != nil {
			p.err = fmt.Errorf("write pack: %w", err)
			p.mu.Unlock()
			return p.err
		}
		p.w, p.current = w, len(p.packs)
		p.packs = append(p.packs, catalog.NewPack{})
	}
	entries, err := p.w.AddBlob(f.parts, blob)
	if err != nil {
		p.err = fmt.Errorf("write pack: %w", err)
		p.mu.Unlock()
		return p.err
	}
	p.index.mu.Lock()
	for i, e := range entries {
		p.index.news[f.ks[i]] = catalog.NewChunk{Hash: e.ID, Pack: p.current, Offset: e.Offset, Length: e.Length,
			Size: e.Size, PlainOffset: e.PlainOffset}
	}
	p.index.mu.Unlock()
	var full *blobstore.PackWriter
	idx := p.current
	if p.w.Len() >= packTarget {
		full, p.w = p.w, nil
		p.sealing.Add(1)
	}
	p.mu.Unlock()
	if full != nil {
		defer p.sealing.Done()
		return p.seal(full, idx)
	}
	return nil
}

func (p *packer) seal(w *blobstore.PackWriter, idx int) error {
	info, err := w.Finish(p.ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if p.err == nil {
			p.err = fmt.Errorf("seal pack: %w", err)
		}
		return p.err
	}
	p.packs[idx] = catalog.NewPack{Name: info.Name, Size: info.Size}
	p.added += info.Size
	return nil
}

// close seals the last pack and waits for every pack to be durable; after
// an error it discards the pack being written.
func (p *packer) close() error {
	p.sealing.Wait()
	p.mu.Lock()
	w, idx, err := p.w, p.current, p.err
	p.w = nil
	p.mu.Unlock()
	if w == nil {
		return err
	}
	if err != nil {
		w.Abort()
		return err
	}
	return p.seal(w, idx)
}

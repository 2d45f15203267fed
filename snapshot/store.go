package snapshot

import (
	"context"
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

	mu      sync.Mutex
	known   map[blobstore.ID]int64 // catalog ids already looked up
	pending map[blobstore.ID]int   // index into news
	news    []catalog.NewChunk
}

// ref returns how a content refers to the chunk with id, and whether the
// caller must store it (the chunk was claimed as new).
func (x *chunkIndex) ref(ctx context.Context, id blobstore.ID) (catalog.ChunkRef, bool, error) {
	x.mu.Lock()
	if k, ok := x.pending[id]; ok {
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
		cid, found, err := x.db.ChunkID(ctx, id[:])
		if err != nil {
			return 0, false, err
		}
		if found {
			x.mu.Lock()
			x.known[id] = cid
			x.mu.Unlock()
			return catalog.ChunkRef(cid), false, nil
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if k, ok := x.pending[id]; ok {
		return catalog.ChunkRef(-k - 1), false, nil
	}
	k := len(x.news)
	x.news = append(x.news, catalog.NewChunk{Hash: id, Pack: -1})
	x.pending[id] = k
	return catalog.ChunkRef(-k - 1), true, nil
}

// preload marks the chunks of a previous version as known, so a changed
// file that mostly kept its bytes needs no catalog lookups.
func (x *chunkIndex) preload(c *catalog.Content) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, l := range c.Chunks {
		x.known[l.Hash] = l.ID
	}
}

// blob is an encoded chunk on its way to the pack writer.
type blob struct {
	k    int // index into chunkIndex.news
	id   blobstore.ID
	size int
	data []byte
}

// packer appends blobs to packs in one goroutine and seals each pack
// (durably, in the store) when it reaches packTarget.
type packer struct {
	ctx   context.Context
	store blobstore.Store
	index *chunkIndex
	in    chan blob
	done  chan struct{}

	packs []catalog.NewPack
	added int64
	err   error
}

func newPacker(ctx context.Context, store blobstore.Store, index *chunkIndex) *packer {
	p := &packer{ctx: ctx, store: store, index: index, in: make(chan blob, 32), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *packer) run() {
	defer close(p.done)
	var w *blobstore.PackWriter
	for b := range p.in {
		if p.err != nil {
			continue // drain so senders never block
		}
		if w == nil {
			if w, p.err = blobstore.NewPackWriter(p.ctx, p.store); p.err != nil {
				continue
			}
		}
		e, err := w.Add(b.id, b.size, b.data)
		if err != nil {
			p.err = fmt.Errorf("write pack: %w", err)
			continue
		}
		p.index.mu.Lock()
		p.index.news[b.k] = catalog.NewChunk{Hash: b.id, Pack: len(p.packs), Offset: e.Offset, Length: e.Length, Size: int64(b.size)}
		p.index.mu.Unlock()
		if w.Len() >= packTarget {
			p.err = p.seal(w)
			w = nil
		}
	}
	if w != nil {
		if p.err == nil {
			p.err = p.seal(w)
		} else {
			w.Abort()
		}
	}
}

func (p *packer) seal(w *blobstore.PackWriter) error {
	info, err := w.Finish(p.ctx)
	if err != nil {
		return fmt.Errorf("seal pack: %w", err)
	}
	p.packs = append(p.packs, catalog.NewPack{Name: info.Name, Size: info.Size})
	p.added += info.Size
	return nil
}

// close waits for every pack to be sealed.
func (p *packer) close() error {
	close(p.in)
	<-p.done
	return p.err
}

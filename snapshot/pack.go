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
				enc = p.codec.Encode(enc[:0], f.data)
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

// maxSealing bounds the full packs on their way into the store at once.
// Sealing waits for the store to make the pack durable: an fsync locally,
// a PUT of 16 MiB on S3 (about 0.25 s on loopback, seconds over a
// network). The encoder that fills a pack hands it to a goroutine and
// goes on encoding; only while this many are still being sealed does it
// wait, which bounds the packs buffered (in temporary files) to this many.
const maxSealing = 2

// packer appends encoded frames to packs. Encoders add under a mutex from
// their own reusable buffers (no copy per frame on the way); a pack that
// reaches packTarget is sealed (made durable in the store) in a goroutine
// of its own, outside the lock, while the encoders start the next one.
// A failed seal fails the next add, and close.
type packer struct {
	ctx   context.Context
	store blobstore.Store
	codec *blobstore.Codec
	index *chunkIndex
	slots chan struct{} // one per pack being sealed

	mu      sync.Mutex
	w       *blobstore.PackWriter
	current int               // index in packs of w
	packs   []catalog.NewPack // filled in as each is sealed
	sealing sync.WaitGroup
	added   int64
	err     error

	// marker is made before the first pack is sealed (resume.go).
	marker *marker
}

func newPacker(ctx context.Context, store blobstore.Store, codec *blobstore.Codec, index *chunkIndex) *packer {
	return &packer{ctx: ctx, store: store, codec: codec, index: index, slots: make(chan struct{}, maxSealing)}
}

// add appends the encoded blob of frame f to the current pack.
func (p *packer) add(f *frame, blob []byte) error {
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return p.err
	}
	if p.w == nil {
		w, err := blobstore.NewPackWriter(p.ctx, p.store, p.codec)
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
	if full == nil {
		return nil
	}
	select {
	case p.slots <- struct{}{}:
	case <-p.ctx.Done():
		full.Abort()
		p.sealing.Done()
		return p.ctx.Err()
	}
	go func() {
		defer p.sealing.Done()
		defer func() { <-p.slots }()
		p.seal(full, idx) // its error is p.err, for the next add and close
	}()
	return nil
}

func (p *packer) seal(w *blobstore.PackWriter, idx int) error {
	p.marker.create()
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

package gc

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// mergeable is the packs worth rewriting: all of them, except a small
// pack that would be rewritten alone (it would be copied as it is).
func mergeable(rs []repack) []repack {
	if len(rs) == 1 && rs[0].small {
		return nil
	}
	return rs
}

// loadedBlob is a stored blob read back and verified, ready to copy.
type loadedBlob struct {
	parts  []blobstore.Part
	stored []byte
	chunks []catalog.ChunkLoc
}

// rewrite copies the live chunks of rs, in order, into new packs of about
// target bytes. A new pack is sealed only between two old packs, so each
// old pack moves whole: it is made durable, then one catalog transaction
// moves the chunks of the old packs it holds and drops their rows, and
// only then are their files deleted. A crash leaves either the new pack
// unreferenced or the old ones, and the next gc removes them.
//
// A pack that cannot be read, or fails verification, is left as it is
// and reported; the others are rewritten.
//
// With deferDelete the old files stay and are returned instead, for a
// plan to condemn (plan.go).
func rewrite(ctx context.Context, db *catalog.DB, store blobstore.Store, codec *blobstore.Codec, rs []repack, target int64, progress func(done, total int64), deferDelete bool, rep *Report) ([]Condemned, error) {
	var condemned []Condemned
	err := rewriteInto(ctx, db, store, codec, rs, target, progress, deferDelete, rep, &condemned)
	return condemned, err
}

func rewriteInto(ctx context.Context, db *catalog.DB, store blobstore.Store, codec *blobstore.Codec, rs []repack, target int64, progress func(done, total int64), deferDelete bool, rep *Report, out *[]Condemned) error {
	var (
		w     *blobstore.PackWriter
		group []repack // the old packs copied into w
		moves []catalog.Move
	)
	defer func() {
		if w != nil {
			w.Abort()
		}
	}()
	seal := func() error {
		cur, gr, mv := w, group, moves
		w, group, moves = nil, nil, nil
		if len(gr) == 1 && gr[0].small && gr[0].freed == 0 {
			return cur.Abort() // alone and whole: it would be copied as it is
		}
		info, err := cur.Finish(ctx)
		if err != nil {
			return err
		}
		if len(gr) == 1 && info.Name == gr[0].pack.Name {
			return nil // identical bytes: nothing was dead after all
		}
		old := make([]int64, len(gr))
		for i, r := range gr {
			old[i] = r.pack.ID
		}
		names, err := db.Repacked(ctx, old, catalog.NewPack{Name: info.Name, Size: info.Size}, mv)
		if err != nil {
			return err
		}
		sizes := map[string]int64{}
		for _, r := range gr {
			sizes[r.pack.Name] = r.pack.Size
		}
		for _, name := range names {
			if deferDelete {
				*out = append(*out, Condemned{Name: name, Size: sizes[name], Why: "repacked"})
				continue
			}
			if err := store.Delete(ctx, name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				return fmt.Errorf("delete repacked pack %s: %w", name, err)
			}
			rep.BytesFreed += sizes[name]
			rep.RemovedPacks++
		}
		rep.WrittenPacks++
		for _, r := range gr {
			if r.small {
				rep.MergedPacks++
			} else {
				rep.RepackedPacks++
			}
		}
		rep.BytesFreed -= info.Size
		return nil
	}
	reader := blobstore.NewReader(store, codec)
	var total, done int64
	for _, r := range rs {
		total += r.pack.Size
	}
	for _, r := range rs {
		blobs, size, err := load(ctx, store, codec, reader, r)
		done += r.pack.Size
		if progress != nil {
			progress(done, total)
		}
		if err != nil {
			if errors.Is(err, blobstore.ErrCorrupt) || errors.Is(err, blobstore.ErrNotFound) {
				rep.Problems = append(rep.Problems, fmt.Sprintf("pack %s left as it is: %v", r.pack.Name, err))
				continue
			}
			return err
		}
		// A pack that would take the new one well past the target starts
		// the next one instead.
		if w != nil && w.Len()+size > target+target/2 {
			if err := seal(); err != nil {
				return err
			}
		}
		if w == nil {
			if w, err = blobstore.NewPackWriter(ctx, store, codec); err != nil {
				return err
			}
		}
		for _, b := range blobs {
			entries, err := w.AddBlob(b.parts, b.stored)
			if err != nil {
				return err
			}
			for i, c := range b.chunks {
				moves = append(moves, catalog.Move{ChunkID: c.ID, FromPack: r.pack.ID,
					Offset: entries[i].Offset, Length: entries[i].Length, PlainOffset: entries[i].PlainOffset})
			}
		}
		group = append(group, r)
		if w.Len() >= target {
			if err := seal(); err != nil {
				return err
			}
		}
	}
	if w != nil {
		return seal()
	}
	return nil
}

// load reads the blobs of r that hold live chunks and verifies every live
// chunk, so damage is never carried forward. A blob of live chunks only
// is kept as it is stored; one that also holds dead chunks (holed) is
// compressed again from its live chunks alone. size is the stored bytes.
func load(ctx context.Context, store blobstore.Store, codec *blobstore.Codec, reader *blobstore.Reader, r repack) ([]loadedBlob, int64, error) {
	var out []loadedBlob
	var size int64
	var plain []byte
	for _, blob := range byBlob(r.keep) {
		b := loadedBlob{parts: make([]blobstore.Part, len(blob)), chunks: blob}
		holed := r.holed[blob[0].Offset]
		plain = plain[:0]
		for i, c := range blob {
			start := len(plain)
			var err error
			if plain, err = reader.ReadChunk(ctx, r.pack.Name, c.Entry(), plain); err != nil {
				return nil, 0, err
			}
			b.parts[i] = blobstore.Part{ID: c.Hash, PlainOffset: c.PlainOffset, Size: c.Size}
			if holed {
				b.parts[i].PlainOffset = int64(start)
			}
		}
		if holed {
			b.stored = codec.Encode(nil, plain)
		} else {
			b.stored = make([]byte, blob[0].Length)
			if err := store.ReadAt(ctx, r.pack.Name, b.stored, blob[0].Offset); err != nil {
				return nil, 0, fmt.Errorf("read pack %s: %w", r.pack.Name, err)
			}
		}
		size += int64(len(b.stored))
		out = append(out, b)
	}
	return out, size, nil
}

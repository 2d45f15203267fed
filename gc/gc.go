// Package gc reclaims the space of chunks no snapshot references.
//
// It runs while its caller holds the repository's exclusive lock, so no
// snapshot is between deciding to reuse a chunk and committing the
// reference: the classic race (a snapshot reuses a chunk, gc deletes it as
// unreferenced, the snapshot commits a dangling reference) cannot happen.
// Order keeps it crash-safe: a repacked pack is written and made durable,
// then recorded, and only then is the old pack deleted; a crash at any
// point leaves at most an unreferenced pack, which the next gc removes.
package gc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// Options tune a collection.
type Options struct {
	// MaxUnused is the share of dead bytes above which a pack is repacked.
	MaxUnused float64
	DryRun    bool
	TmpDir    string // leftovers of interrupted runs here are removed
}

// Report says what was (or, with DryRun, would be) reclaimed.
type Report struct {
	DeadChunks    int
	DeletedPacks  int
	RepackedPacks int
	OrphanPacks   int
	BytesFreed    int64
	Problems      []string // packs left alone because they could not be read
}

// Run collects garbage. The caller holds the exclusive repository lock.
func Run(ctx context.Context, db *catalog.DB, store blobstore.Store, opts Options) (*Report, error) {
	if opts.MaxUnused <= 0 {
		opts.MaxUnused = 0.10
	}
	rep := &Report{}
	live, err := db.LiveChunks(ctx)
	if err != nil {
		return nil, err
	}
	packs, err := db.Packs(ctx)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	var dead, emptyPacks []int64
	type repack struct {
		pack  catalog.Pack
		keep  []catalog.ChunkLoc
		freed int64
		holed map[int64]bool // offsets of kept blobs that also hold dead chunks
	}
	var repacks []repack
	for _, p := range packs {
		known[p.Name] = true
		chunks, err := db.ChunksInPack(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		// A dead blob counts whole; a blob that also holds live chunks
		// counts for its dead share of the plaintext the catalog still
		// knows it holds. A pack's header and index are not garbage
		// (counting them would repack small live packs into
		// byte-identical copies).
		var keep []catalog.ChunkLoc
		var deadBytes int64
		holed := map[int64]bool{}
		for _, blob := range byBlob(chunks) {
			var livePlain, span int64
			for _, c := range blob {
				span = max(span, c.PlainOffset+c.Size)
				if live[c.ID] {
					keep = append(keep, c)
					livePlain += c.Size
				} else {
					dead = append(dead, c.ID)
				}
			}
			switch {
			case livePlain == 0:
				deadBytes += blob[0].Length
			case livePlain < span:
				deadBytes += blob[0].Length * (span - livePlain) / span
				holed[blob[0].Offset] = true
			}
		}
		switch {
		case len(keep) == 0:
			emptyPacks = append(emptyPacks, p.ID)
			rep.DeletedPacks++
			rep.BytesFreed += p.Size
		case deadBytes > 0 && float64(deadBytes) > opts.MaxUnused*float64(p.Size):
			repacks = append(repacks, repack{pack: p, keep: keep, freed: deadBytes, holed: holed})
		}
	}
	rep.DeadChunks = len(dead)
	var orphans []string
	err = store.List(ctx, func(name string, size int64) error {
		if !known[name] {
			orphans = append(orphans, name)
			rep.BytesFreed += size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	rep.OrphanPacks = len(orphans)
	if opts.DryRun {
		rep.RepackedPacks = len(repacks)
		for _, r := range repacks {
			rep.BytesFreed += r.freed
		}
		return rep, nil
	}
	// Orphans first: a pack no catalog row names was left by an interrupted
	// snapshot or gc, and with the exclusive lock held nobody is about to
	// record it.
	for _, name := range orphans {
		if err := store.Delete(ctx, name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return rep, fmt.Errorf("delete orphan pack %s: %w", name, err)
		}
	}
	names, err := db.DropChunks(ctx, dead, emptyPacks)
	if err != nil {
		return rep, err
	}
	for _, name := range names {
		if err := store.Delete(ctx, name); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return rep, fmt.Errorf("delete pack %s: %w", name, err)
		}
	}
	for _, r := range repacks {
		freed, err := repackOne(ctx, db, store, r.pack, r.keep, r.holed)
		if err != nil {
			if errors.Is(err, blobstore.ErrCorrupt) || errors.Is(err, blobstore.ErrNotFound) {
				rep.Problems = append(rep.Problems, fmt.Sprintf("pack %s left as it is: %v", r.pack.Name, err))
				continue
			}
			return rep, err
		}
		rep.RepackedPacks++
		rep.BytesFreed += freed
	}
	if opts.TmpDir != "" {
		cleanTmp(opts.TmpDir)
	}
	return rep, db.Checkpoint(ctx)
}

// byBlob splits chunks, in pack order, into runs that share a stored blob.
func byBlob(chunks []catalog.ChunkLoc) [][]catalog.ChunkLoc {
	var runs [][]catalog.ChunkLoc
	for i := 0; i < len(chunks); {
		j := i + 1
		for j < len(chunks) && chunks[j].Offset == chunks[i].Offset {
			j++
		}
		runs = append(runs, chunks[i:j])
		i = j
	}
	return runs
}

// repackOne copies the blobs of a pack that hold live chunks into a new
// one. A blob of live chunks only is copied as it is stored; one that also
// holds dead chunks (holed) is compressed again from its live chunks alone.
// Each live chunk is verified before it is copied, so damage is never
// carried forward.
func repackOne(ctx context.Context, db *catalog.DB, store blobstore.Store, p catalog.Pack, keep []catalog.ChunkLoc, holed map[int64]bool) (int64, error) {
	w, err := blobstore.NewPackWriter(ctx, store)
	if err != nil {
		return 0, err
	}
	moves := make([]catalog.Move, 0, len(keep))
	blobs := blobstore.NewReader(store)
	var plain []byte
	for _, blob := range byBlob(keep) {
		parts := make([]blobstore.Part, len(blob))
		plain = plain[:0]
		for i, c := range blob {
			start := len(plain)
			if plain, err = blobs.ReadChunk(ctx, p.Name, c.Entry(), plain); err != nil {
				w.Abort()
				return 0, err
			}
			parts[i] = blobstore.Part{ID: c.Hash, PlainOffset: c.PlainOffset, Size: c.Size}
			if holed[c.Offset] {
				parts[i].PlainOffset = int64(start)
			}
		}
		var stored []byte
		if holed[blob[0].Offset] {
			stored = blobstore.Encode(nil, plain)
		} else {
			stored = make([]byte, blob[0].Length)
			if err := store.ReadAt(ctx, p.Name, stored, blob[0].Offset); err != nil {
				w.Abort()
				return 0, fmt.Errorf("read pack %s: %w", p.Name, err)
			}
		}
		entries, err := w.AddBlob(parts, stored)
		if err != nil {
			w.Abort()
			return 0, err
		}
		for i, c := range blob {
			moves = append(moves, catalog.Move{ChunkID: c.ID, Offset: entries[i].Offset, Length: entries[i].Length, PlainOffset: entries[i].PlainOffset})
		}
	}
	info, err := w.Finish(ctx)
	if err != nil {
		return 0, err
	}
	if info.Name == p.Name {
		return 0, nil // identical bytes: nothing was dead after all
	}
	old, err := db.Repacked(ctx, p.ID, catalog.NewPack{Name: info.Name, Size: info.Size}, moves)
	if err != nil {
		return 0, err
	}
	if err := store.Delete(ctx, old); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
		return 0, fmt.Errorf("delete repacked pack %s: %w", old, err)
	}
	return p.Size - info.Size, nil
}

// cleanTmp removes scratch files of interrupted runs.
func cleanTmp(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// Package check verifies a repository: the catalog file (PRAGMA
// integrity_check, which also compares every index with its table) and its
// own invariants, that every pack it records exists with its recorded size,
// and (with ReadData) that every pack's footer is whole and agrees with the
// catalog and that every chunk reads back, decompresses and hashes to its
// id. Damage is traced to the files and snapshots it affects. Packs found
// missing are recorded in the catalog, so that the next snapshot of a
// source stores their chunks again where the source still has them.
package check

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// Report is what a check found.
type Report struct {
	Packs, Chunks, Contents int
	BytesRead               int64
	Problems                []string           // one line each
	Affected                []catalog.Affected // files that cannot be restored intact
	Unreferenced            []string           // packs in the store the catalog does not know (gc removes them)
	// Missing lists the recorded packs the store does not have.
	// MissingRecorded says whether the catalog now records them (it
	// cannot when the repository is read-only).
	Missing         []string
	MissingRecorded bool

	badChunkIDs map[int64]bool
	progress    func(done, total int64)
	total       int64 // bytes of the packs read, for progress
}

// Options tune a check.
type Options struct {
	// ReadData reads, decompresses and verifies every chunk.
	ReadData bool
	// Progress, when set with ReadData, is told the bytes read so far and
	// the packs' total size, after each blob read.
	Progress func(done, total int64)
	// Codec is the packs' format (nil: format 1): ReadData opens and
	// verifies chunks with it.
	Codec *blobstore.Codec
}

// OK reports whether nothing is damaged.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Run checks the repository. Errors are for failures to check at all;
// damage goes into the report.
func Run(ctx context.Context, db *catalog.DB, store blobstore.Store, readData bool) (*Report, error) {
	return RunOptions(ctx, db, store, Options{ReadData: readData})
}

// RunOptions is Run with options.
func RunOptions(ctx context.Context, db *catalog.DB, store blobstore.Store, opts Options) (*Report, error) {
	readData := opts.ReadData
	r := &Report{}
	if readData {
		r.progress = opts.Progress
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r, nil
	}
	packs, err := db.Packs(ctx)
	if err != nil {
		return nil, err
	}
	r.Packs = len(packs)
	for _, p := range packs {
		r.total += p.Size
	}
	badChunks := map[int64]bool{}
	known := map[string]bool{}
	var present []string
	for _, p := range packs {
		known[p.Name] = true
		chunks, err := db.ChunksInPack(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		r.Chunks += len(chunks)
		bad, missing := checkPack(ctx, store, opts.Codec, p, chunks, readData, r)
		if bad {
			for _, c := range chunks {
				badChunks[c.ID] = true
			}
		}
		switch {
		case missing && len(chunks) > 0:
			r.Missing = append(r.Missing, p.Name)
		case missing: // healed: nothing refers to it, gc drops its row
		case p.Missing:
			present = append(present, p.Name) // put back from a copy
		}
	}
	if err := db.SetPacksMissing(ctx, r.Missing, present); err == nil {
		r.MissingRecorded = true
	} else if !errors.Is(err, catalog.ErrOpenedReadOnly) {
		return nil, err
	}
	if readData {
		// Per-chunk verification happened in checkPack; collect which ones.
		for id := range r.badChunkIDs {
			badChunks[id] = true
		}
	}
	ids, err := db.ChunkIDs(ctx)
	if err != nil {
		return nil, err
	}
	var badContents []int64
	refreshed := false
	err = db.ForEachContent(ctx, func(id int64, chunks []int64, derr error) error {
		r.Contents++
		if derr != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("content %d: %v", id, derr))
			badContents = append(badContents, id)
			return nil
		}
		missing := 0
		damaged := false
		for _, c := range chunks {
			if !ids[c] && !refreshed {
				// A snapshot (they hold the lock shared, as check does)
				// may have committed this content and its new chunks
				// after ids was read. Only gc removes chunks, and it
				// cannot run now: one fresh read covers every content
				// this iteration can see.
				refreshed = true
				if ids, err = db.ChunkIDs(ctx); err != nil {
					return err
				}
			}
			if !ids[c] {
				missing++
			}
			if badChunks[c] {
				damaged = true
			}
		}
		if missing > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("content %d refers to %s missing from the catalog", id, chunkCount(missing)))
		}
		if missing > 0 || damaged {
			badContents = append(badContents, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n, err := db.DanglingVersions(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		msg := fmt.Sprintf("%d versions refer to missing contents", n)
		if n == 1 {
			msg = "1 version refers to missing contents"
		}
		r.Problems = append(r.Problems, msg)
	}
	if r.Affected, err = db.AffectedBy(ctx, badContents); err != nil {
		return nil, err
	}
	err = store.List(ctx, func(name string, size int64) error {
		if !known[name] {
			r.Unreferenced = append(r.Unreferenced, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	sort.Strings(r.Unreferenced)
	return r, nil
}

// checkPack verifies one pack; bad means the whole pack is unusable
// (missing or too short), missing that the store does not have it.
// Damaged chunks of a readable pack are added to r.badChunkIDs.
func checkPack(ctx context.Context, store blobstore.Store, codec *blobstore.Codec, p catalog.Pack, chunks []catalog.ChunkLoc, readData bool, r *Report) (bad, missing bool) {
	size, err := store.Stat(ctx, p.Name)
	if errors.Is(err, blobstore.ErrNotFound) {
		if len(chunks) > 0 {
			// A missing pack whose chunks were all stored again (healed)
			// holds nothing anyone needs; gc drops its row.
			r.Problems = append(r.Problems, fmt.Sprintf("pack %s is missing (%s lost)", p.Name, chunkCount(len(chunks))))
		}
		return true, true
	}
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("pack %s: %v", p.Name, err))
		return true, false
	}
	if size != p.Size {
		r.Problems = append(r.Problems, fmt.Sprintf("pack %s has %d bytes, the catalog recorded %d", p.Name, size, p.Size))
		if size < p.Size && !readData {
			return true, false
		}
	}
	if !readData {
		return false, false
	}
	checkFooter(ctx, store, codec, p, chunks, r)
	var buf []byte
	// Chunks come in pack order, so a blob holding several is
	// decompressed once for all of them.
	blobs := blobstore.NewReader(store, codec)
	lastBlob := int64(-1)
	for _, c := range chunks {
		data, err := blobs.ReadChunk(ctx, p.Name, c.Entry(), buf[:0])
		if c.Offset != lastBlob {
			r.BytesRead += c.Length
			lastBlob = c.Offset
			if r.progress != nil {
				r.progress(r.BytesRead, r.total)
			}
		}
		if err != nil {
			r.Problems = append(r.Problems, err.Error())
			if r.badChunkIDs == nil {
				r.badChunkIDs = map[int64]bool{}
			}
			r.badChunkIDs[c.ID] = true
			continue
		}
		buf = data
	}
	return false, false
}

// checkFooter verifies a pack's footer and trailer, and that every chunk
// the catalog places in the pack is listed there at the same place. The
// chunks still read back without the footer, but it is what makes a pack
// self-describing: what check verifies alone, and what a lost catalog
// would be rebuilt from. The footer may list more chunks than the catalog
// (dead ones, or chunks another snapshot stored first).
func checkFooter(ctx context.Context, store blobstore.Store, codec *blobstore.Codec, p catalog.Pack, chunks []catalog.ChunkLoc, r *Report) {
	entries, err := blobstore.ReadIndex(ctx, store, codec, p.Name)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("pack %s: footer: %v", p.Name, err))
		return
	}
	byID := make(map[blobstore.ID]blobstore.Entry, len(entries))
	for _, e := range entries {
		byID[e.ID] = e
	}
	disagree := 0
	var first string
	for _, c := range chunks {
		if e, ok := byID[c.Hash]; !ok || e != c.Entry() {
			if disagree == 0 {
				first = blobstore.ID(c.Hash).String()
			}
			disagree++
		}
	}
	if disagree > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("pack %s: footer disagrees with the catalog on %s, first %s", p.Name, chunkCount(disagree), first))
	}
}

// chunkCount counts chunks in words: "1 chunk", "2 chunks".
func chunkCount(n int) string {
	if n == 1 {
		return "1 chunk"
	}
	return fmt.Sprintf("%d chunks", n)
}

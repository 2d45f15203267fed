// Package check verifies a repository: the catalog's own invariants, that
// every pack it records exists with its recorded size, and (with ReadData)
// that every chunk reads back, decompresses and hashes to its id. Damage is
// traced to the files and snapshots it affects.
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

	badChunkIDs map[int64]bool
}

// OK reports whether nothing is damaged.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Run checks the repository. Errors are for failures to check at all;
// damage goes into the report.
func Run(ctx context.Context, db *catalog.DB, store blobstore.Store, readData bool) (*Report, error) {
	r := &Report{}
	if err := db.IntegrityCheck(ctx); err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r, nil
	}
	packs, err := db.Packs(ctx)
	if err != nil {
		return nil, err
	}
	r.Packs = len(packs)
	badChunks := map[int64]bool{}
	known := map[string]bool{}
	for _, p := range packs {
		known[p.Name] = true
		chunks, err := db.ChunksInPack(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		r.Chunks += len(chunks)
		if bad := checkPack(ctx, store, p, chunks, readData, r); bad {
			for _, c := range chunks {
				badChunks[c.ID] = true
			}
		}
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
			r.Problems = append(r.Problems, fmt.Sprintf("content %d refers to %d chunk(s) missing from the catalog", id, missing))
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
		r.Problems = append(r.Problems, fmt.Sprintf("%d version(s) refer to missing contents", n))
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

// checkPack verifies one pack; it returns true when the whole pack is
// unusable (missing or the wrong size). Damaged chunks of a readable pack
// are added to r.badChunkIDs.
func checkPack(ctx context.Context, store blobstore.Store, p catalog.Pack, chunks []catalog.ChunkLoc, readData bool, r *Report) bool {
	size, err := store.Stat(ctx, p.Name)
	if errors.Is(err, blobstore.ErrNotFound) {
		r.Problems = append(r.Problems, fmt.Sprintf("pack %s is missing (%d chunks lost)", p.Name, len(chunks)))
		return true
	}
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("pack %s: %v", p.Name, err))
		return true
	}
	if size != p.Size {
		r.Problems = append(r.Problems, fmt.Sprintf("pack %s has %d bytes, the catalog recorded %d", p.Name, size, p.Size))
		if size < p.Size && !readData {
			return true
		}
	}
	if !readData {
		return false
	}
	var buf []byte
	// Chunks come in pack order, so a blob holding several is
	// decompressed once for all of them.
	blobs := blobstore.NewReader(store)
	lastBlob := int64(-1)
	for _, c := range chunks {
		data, err := blobs.ReadChunk(ctx, p.Name, c.Entry(), buf[:0])
		if c.Offset != lastBlob {
			r.BytesRead += c.Length
			lastBlob = c.Offset
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
	return false
}

package catalog

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// resolved is what a commit says each version holds: its content's hash
// and the hashes of its chunks in order (an existing chunk by its id).
func resolved(c *Commit) []string {
	var out []string
	for _, v := range c.Versions {
		if v.Content < 0 {
			out = append(out, v.Path+" -")
			continue
		}
		ct := c.Contents[v.Content]
		s := fmt.Sprintf("%s %x", v.Path, ct.Hash[:4])
		for _, ref := range ct.Chunks {
			if ref > 0 {
				s += fmt.Sprintf(" old%d", ref)
			} else {
				ch := c.NewChunks[-ref-1]
				s += fmt.Sprintf(" %x@%d+%d", ch.Hash[:4], ch.Pack, ch.Offset)
			}
		}
		out = append(out, s)
	}
	return out
}

// orderCommit is a commit with single-chunk files, multi-chunk files, a
// chunk two files share, a chunk another content's list also names, an
// existing chunk and a chunk no content names.
func orderCommit(r *rand.Rand) *Commit {
	c := &Commit{Packs: []NewPack{{Name: "p0"}, {Name: "p1"}}}
	hash := func() (h [32]byte) {
		for i := range h {
			h[i] = byte(r.IntN(256))
		}
		return h
	}
	chunk := func() ChunkRef {
		c.NewChunks = append(c.NewChunks, NewChunk{Hash: hash(), Pack: r.IntN(2), Offset: int64(len(c.NewChunks)) * 100, Length: 100})
		return ChunkRef(-len(c.NewChunks))
	}
	file := func(path string, refs ...ChunkRef) {
		c.Contents = append(c.Contents, NewContent{Hash: hash(), Chunks: refs})
		c.Versions = append(c.Versions, NewVersion{Path: path, Type: TypeFile, Content: len(c.Contents) - 1})
	}
	c.Versions = append(c.Versions, NewVersion{Path: ".", Type: TypeDir, Content: -1})
	for i := range 40 {
		switch i % 8 {
		case 3:
			file(fmt.Sprintf("f%02d", i), chunk(), chunk(), chunk())
		case 5:
			file(fmt.Sprintf("f%02d", i), ChunkRef(7), chunk())
		default:
			file(fmt.Sprintf("f%02d", i), chunk())
		}
	}
	shared := chunk()
	file("s1", shared)
	file("s2", shared)
	both := chunk()
	file("b1", both)
	file("b2", both, chunk())
	chunk() // named by no content
	return c
}

func TestOrderForInsert(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 14))
		c := orderCommit(r)
		want := resolved(c)
		multi := map[[32]byte]bool{}
		for _, ct := range c.Contents {
			if len(ct.Chunks) > 1 {
				for _, ref := range ct.Chunks {
					if ref < 0 {
						multi[c.NewChunks[-ref-1].Hash] = true
					}
				}
			}
		}
		orderForInsert(c)
		if got := resolved(c); !slices.Equal(got, want) {
			t.Fatalf("seed %d: the ordered commit means something else:\n got %q\nwant %q", seed, got, want)
		}
		// The chunks of longer lists come first, then the single chunks
		// by hash, and a list's new chunks stay consecutive.
		i := 0
		for i < len(c.NewChunks) && (multi[c.NewChunks[i].Hash] || !named(c, i)) {
			i++
		}
		solos := c.NewChunks[i:]
		for j := range solos {
			if multi[solos[j].Hash] || !named(c, i+j) {
				t.Fatalf("seed %d: chunk %d of a longer list (or of none) after the single chunks", seed, i+j)
			}
			if j > 0 && bytes.Compare(solos[j-1].Hash[:], solos[j].Hash[:]) > 0 {
				t.Fatalf("seed %d: single chunks not in hash order at %d", seed, i+j)
			}
		}
		for _, ct := range c.Contents {
			var prev ChunkRef
			for _, ref := range ct.Chunks {
				if ref < 0 && prev < 0 && ref != prev-1 {
					t.Fatalf("seed %d: a list's chunks %d, %d are no longer consecutive", seed, prev, ref)
				}
				prev = ref
			}
		}
	}
}

// named reports whether some content names new chunk i.
func named(c *Commit, i int) bool {
	for _, ct := range c.Contents {
		if slices.Contains(ct.Chunks, ChunkRef(-i-1)) {
			return true
		}
	}
	return false
}

// TestCommitInsertsChunksInHashOrder: the chunk rows of a first snapshot
// of small files get their ids in hash order (their index then grows at
// its end), and every file still reads back its own chunk.
func TestCommitInsertsChunksInHashOrder(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "catalog.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetJournal(newTestJournal())
	c := firstSnapshot(500)
	c.Finished = c.Started.Add(time.Second)
	byPath := map[string][32]byte{}
	for _, v := range c.Versions {
		if v.Content >= 0 {
			byPath[v.Path] = c.NewChunks[-c.Contents[v.Content].Chunks[0]-1].Hash
		}
	}
	id, err := db.CommitSnapshot(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.r.QueryContext(ctx, "SELECT hash FROM chunk ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var prev []byte
	n := 0
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		if prev != nil && bytes.Compare(prev, h) > 0 {
			t.Fatalf("chunk %d: ids not in hash order", n)
		}
		prev, n = h, n+1
	}
	rows.Close()
	if n != 500 {
		t.Fatalf("%d chunks, want 500", n)
	}
	type file struct {
		path    string
		content int64
	}
	var files []file
	rows, err = db.r.QueryContext(ctx, "SELECT path, content_id FROM version WHERE content_id IS NOT NULL AND first_snapshot_id = ?", id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var f file
		if err := rows.Scan(&f.path, &f.content); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	rows.Close()
	checked := 0
	for _, f := range files {
		ct, err := db.ContentByID(ctx, f.content)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct.Chunks) != 1 || ct.Chunks[0].Hash != byPath[f.path] {
			t.Fatalf("%s: chunks %v, want the one of hash %x", f.path, ct.Chunks, byPath[f.path])
		}
		checked++
	}
	if checked != 500 {
		t.Fatalf("checked %d files, want 500", checked)
	}
}

package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// commitChunks stores n one-chunk files in two packs (even chunks in one,
// odd in the other) and returns the chunks' ids in order.
func commitChunks(t *testing.T, db *DB, n int) []int64 {
	t.Helper()
	c := &Commit{Source: "/src", Started: t0, Finished: t0,
		Packs: []NewPack{{Name: packName("even"), Size: 1 << 20}, {Name: packName("odd"), Size: 1 << 20}}}
	c.Versions = append(c.Versions, dirVersion("."))
	for i := range n {
		h := fmt.Sprint("chunk ", i)
		c.NewChunks = append(c.NewChunks, NewChunk{Hash: sum(h), Pack: i % 2, Offset: 8 + int64(i), Length: 1, Size: 1, PlainOffset: int64(i)})
		c.Contents = append(c.Contents, NewContent{Hash: sum(h), Size: 1, Chunking: "cdc", Chunks: []ChunkRef{ChunkRef(-len(c.NewChunks))}})
		c.Versions = append(c.Versions, fileVersion(fmt.Sprint("f", i), len(c.Contents)-1, 1))
	}
	if _, err := db.CommitSnapshot(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range rowsOf(t, db.Reader(), "SELECT id FROM chunk ORDER BY id") {
		var id int64
		fmt.Sscan(r, &id)
		ids = append(ids, id)
	}
	if len(ids) != n {
		t.Fatalf("%d chunks stored, want %d", len(ids), n)
	}
	return ids
}

// ChunkLocs, chunkLocs and chunksAmong answer for runs of consecutive ids,
// scattered ids and repeats, in the order asked, with each chunk's own
// pack, and fail on an id the catalog lacks.
func TestChunkLookups(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	all := commitChunks(t, db, 1300)
	var ask []int64
	ask = append(ask, all[100:140]...) // a run
	for i := 700; i < 1300; i += 3 {   // scattered, more than one batch
		ask = append(ask, all[i])
	}
	ask = append(ask, all[5], all[100], all[5], all[1299]) // repeats, out of order
	// What each chunk's row says, read the plain way.
	want := map[int64]ChunkLoc{}
	rows, err := db.r.Query("SELECT " + chunkLocColumns + " FROM chunk c JOIN pack p ON p.id = c.pack_id")
	if err != nil {
		t.Fatal(err)
	}
	packs := map[string]bool{}
	for rows.Next() {
		l, err := scanChunkLoc(rows)
		if err != nil {
			t.Fatal(err)
		}
		want[l.ID] = l
		packs[l.Pack] = true
	}
	rows.Close()
	if len(want) != len(all) || len(packs) != 2 {
		t.Fatalf("%d chunks in %d packs", len(want), len(packs))
	}
	check := func(name string, got []ChunkLoc) {
		t.Helper()
		if len(got) != len(ask) {
			t.Fatalf("%s: %d locations for %d ids", name, len(got), len(ask))
		}
		for k, id := range ask {
			if got[k] != want[id] {
				t.Fatalf("%s: location %d (chunk %d) = %+v, want %+v", name, k, id, got[k], want[id])
			}
		}
	}
	got, err := db.ChunkLocs(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	check("ChunkLocs", got)
	if got, err = db.chunkLocs(ctx, ask); err != nil {
		t.Fatal(err)
	}
	check("chunkLocs", got)
	for _, f := range []func(context.Context, []int64) ([]ChunkLoc, error){db.ChunkLocs, db.chunkLocs} {
		if _, err := f(ctx, append(ask, all[len(all)-1]+1000)); !errors.Is(err, ErrNotFound) {
			t.Errorf("lookup of an unknown chunk: %v, want ErrNotFound", err)
		}
	}
}

// A lookup reads the rows it is asked for and no others: a damaged row
// between two wanted chunks fails nothing. The range queries it replaced
// read every row between wanted ids up to 64 apart (and scanned this one
// into an integer, failing the whole lookup).
func TestChunkLookupReadsOnlyWanted(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	all := commitChunks(t, db, 40)
	if _, err := db.w.Exec("UPDATE chunk SET offset = 'damaged' WHERE id = ?", all[20]); err != nil {
		t.Fatal(err)
	}
	ask := []int64{all[10], all[30]}
	if _, err := db.ChunkLocs(ctx, ask); err != nil {
		t.Errorf("ChunkLocs(%v) past a damaged row: %v", ask, err)
	}
	if _, err := db.chunkLocs(ctx, ask); err != nil {
		t.Errorf("chunkLocs(%v) past a damaged row: %v", ask, err)
	}
}

// TestChunkLookupPlans: the lookups search chunk by its rowid, one search
// per id or one range per run, never scanning the table or sorting.
func TestChunkLookupPlans(t *testing.T) {
	db, _ := openNew(t)
	for _, c := range []struct {
		name, query, want string
		args              []any
	}{
		{"by ids", chunkByIDs + ",?,?)", "SEARCH c USING INTEGER PRIMARY KEY (rowid=?)", []any{1, 5, 9}},
		{"run", chunkRun, "SEARCH c USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)", []any{1, 9}},
	} {
		text := queryPlan(t, db, c.query, c.args...)
		if !strings.Contains(text, c.want) || strings.Contains(text, "SCAN") || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("query plan of %s:\n%s", c.name, text)
		}
	}
}

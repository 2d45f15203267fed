package catalog

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

func sum(s string) [32]byte { return blake3.Sum256([]byte(s)) }

func hexSum(s string) string { h := sum(s); return hex.EncodeToString(h[:]) }

func packName(s string) string { return hexSum("pack " + s) }

// fileVersion is a new file version using Contents[content].
func fileVersion(path string, content int, size int64) NewVersion {
	return NewVersion{Content: content, Path: path, Type: TypeFile, Mode: 0o644, Size: size,
		MtimeNs: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(), Capture: CaptureRaw}
}

func dirVersion(path string) NewVersion {
	return NewVersion{Content: -1, Path: path, Type: TypeDir, Mode: 0o755}
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// commitHistory records three snapshots of /src:
//
//	1: a.txt = "a1", b.txt = "b", d/ , d/c.txt = "c"
//	2: a.txt = "a2" (changed), b.txt unchanged, d/c.txt removed
//	3: b.txt removed, a.txt unchanged
func commitHistory(t *testing.T, db *DB) (ids [3]int64) {
	t.Helper()
	ctx := context.Background()
	c1 := &Commit{Source: "/src", Started: t0, Finished: t0.Add(time.Second), Label: "first", Tags: []string{"x", "y"},
		FileCount: 3, TotalBytes: 5, AddedBytes: 300,
		Packs: []NewPack{{Name: packName("1"), Size: 300}},
		NewChunks: []NewChunk{
			{Hash: sum("a1"), Pack: 0, Offset: 8, Length: 3, Size: 2},
			{Hash: sum("b"), Pack: 0, Offset: 11, Length: 2, Size: 1},
			{Hash: sum("c"), Pack: 0, Offset: 13, Length: 2, Size: 1},
		},
		Contents: []NewContent{
			{Hash: sum("a1"), Size: 2, Chunking: "cdc", Chunks: []ChunkRef{-1}},
			{Hash: sum("b"), Size: 1, Chunking: "cdc", Chunks: []ChunkRef{-2}},
			{Hash: sum("c"), Size: 1, Chunking: "cdc", Chunks: []ChunkRef{-3}},
		},
		Versions: []NewVersion{dirVersion("."), fileVersion("a.txt", 0, 2), fileVersion("b.txt", 1, 1), dirVersion("d"), fileVersion("d/c.txt", 2, 1)},
		Warnings: []Warning{{Path: "d/c.txt", Kind: "test", Message: "hello"}},
	}
	var err error
	if ids[0], err = db.CommitSnapshot(ctx, c1); err != nil {
		t.Fatal(err)
	}
	live := liveByPath(t, db, "/src")
	// Snapshot 2 reuses chunk "b" by id and adds a content made of an
	// existing chunk and a new one.
	c2 := &Commit{Source: "/src", Started: t0.Add(time.Hour), Finished: t0.Add(time.Hour + time.Second),
		FileCount: 2, TotalBytes: 4,
		Packs:     []NewPack{{Name: packName("2"), Size: 100}},
		NewChunks: []NewChunk{{Hash: sum("2"), Pack: 0, Offset: 8, Length: 2, Size: 1}},
		Contents:  []NewContent{{Hash: sum("a2"), Size: 3, Chunking: "cdc", Chunks: []ChunkRef{ChunkRef(chunkID(t, db, "a1")), -1}}},
		Versions:  []NewVersion{fileVersion("a.txt", 0, 3)},
		Close:     []int64{live["a.txt"].ID, live["d/c.txt"].ID},
		Refresh:   []Refresh{{ID: live["b.txt"].ID, FpCtimeNs: 42, FpIno: 1 << 63, FpExtra: "x"}},
	}
	if ids[1], err = db.CommitSnapshot(ctx, c2); err != nil {
		t.Fatal(err)
	}
	live = liveByPath(t, db, "/src")
	c3 := &Commit{Source: "/src", Started: t0.Add(2 * time.Hour), Finished: t0.Add(2*time.Hour + time.Second),
		FileCount: 1, TotalBytes: 3, Close: []int64{live["b.txt"].ID}}
	if ids[2], err = db.CommitSnapshot(ctx, c3); err != nil {
		t.Fatal(err)
	}
	return ids
}

func liveByPath(t *testing.T, db *DB, source string) map[string]*Version {
	t.Helper()
	ctx := context.Background()
	src, err := db.SourceByPath(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	live, err := db.LiveVersions(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	return live
}

func chunkID(t *testing.T, db *DB, s string) int64 {
	t.Helper()
	h := sum(s)
	id, ok, err := db.ChunkID(context.Background(), h[:])
	if err != nil || !ok {
		t.Fatalf("chunk %q: %v %v", s, ok, err)
	}
	return id
}

// rowsOf runs a query on the read pool and renders every row as a string.
func rowsOf(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		s := ""
		for i, v := range vals {
			if i > 0 {
				s += " "
			}
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			s += fmt.Sprint(v)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

func TestCommitIntervals(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	ids := commitHistory(t, db)
	if ids != [3]int64{1, 2, 3} {
		t.Fatalf("snapshot ids = %v", ids)
	}
	r := db.Reader()
	a1, a2, b, c := hexSum("a1"), hexSum("a2"), hexSum("b"), hexSum("c")

	wantRows(t, "files", rowsOf(t, r, "SELECT snapshot_id, path, type, coalesce(nullif(hash, ''), '-') FROM files ORDER BY snapshot_id, path"), []string{
		"1 . dir -", "1 a.txt file " + a1, "1 b.txt file " + b, "1 d dir -", "1 d/c.txt file " + c,
		"2 . dir -", "2 a.txt file " + a2, "2 b.txt file " + b, "2 d dir -",
		"3 . dir -", "3 a.txt file " + a2, "3 d dir -",
	})
	wantRows(t, "versions", rowsOf(t, r, "SELECT path, coalesce(nullif(hash, ''), '-'), first_snapshot_id, last_snapshot_id FROM versions ORDER BY path, first_snapshot_id"), []string{
		". - 1 3", "a.txt " + a1 + " 1 1", "a.txt " + a2 + " 2 3", "b.txt " + b + " 1 2", "d - 1 3", "d/c.txt " + c + " 1 1",
	})
	wantRows(t, "snapshots", rowsOf(t, r, "SELECT id, source, started_at, finished_at, label, tags, file_count, total_bytes, added_bytes FROM snapshots ORDER BY id"), []string{
		"1 /src 2024-05-01T12:00:00Z 2024-05-01T12:00:01Z first x,y 3 5 300",
		"2 /src 2024-05-01T13:00:00Z 2024-05-01T13:00:01Z   2 4 0",
		"3 /src 2024-05-01T14:00:00Z 2024-05-01T14:00:01Z   1 3 0",
	})
	wantRows(t, "warnings", rowsOf(t, r, "SELECT snapshot_id, source, path, kind, message FROM warnings"), []string{"1 /src d/c.txt test hello"})
	// The raw intervals: closed at the snapshot before the one that
	// replaced them, open while live.
	wantRows(t, "version rows", rowsOf(t, r, "SELECT path, first_snapshot_id, coalesce(last_snapshot_id, 'live') FROM version ORDER BY id"), []string{
		". 1 live", "a.txt 1 1", "b.txt 1 2", "d 1 live", "d/c.txt 1 1", "a.txt 2 live",
	})

	// The Go accessors agree with the views.
	snaps, err := db.Snapshots(ctx, 0)
	if err != nil || len(snaps) != 3 {
		t.Fatalf("Snapshots = %v, %v", snaps, err)
	}
	if s := snaps[0]; s.Label != "first" || !slices.Equal(s.Tags, []string{"x", "y"}) || !s.Started.Equal(t0) || s.Source != "/src" {
		t.Errorf("snapshot 1 = %+v", s)
	}
	for i, want := range []string{a1, a2, a2} {
		v, err := db.VersionAt(ctx, snaps[i], "a.txt")
		if err != nil || hex.EncodeToString(v.ContentHash) != want {
			t.Errorf("a.txt in snapshot %d = %v, %v", i+1, v, err)
		}
	}
	if _, err := db.VersionAt(ctx, snaps[2], "b.txt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("b.txt in snapshot 3: %v, want ErrNotFound", err)
	}
	tree, err := db.Tree(ctx, snaps[0], "d")
	if err != nil || len(tree) != 2 || tree[0].Path != "d" || tree[1].Path != "d/c.txt" {
		t.Errorf("Tree(1, d) = %v, %v", tree, err)
	}
	hist, err := db.History(ctx, snaps[0].SourceID, "a.txt")
	if err != nil || len(hist) != 2 || hist[0].First != 2 || hist[1].Last != 1 {
		t.Fatalf("History(a.txt) = %v, %v", hist, err)
	}
	if first, last, err := db.SnapshotRange(ctx, snaps[0].SourceID, hist[0]); err != nil || first != 2 || last != 3 {
		t.Errorf("SnapshotRange(a2) = %d, %d, %v", first, last, err)
	}

	// The refresh updated the fingerprint only.
	live := liveByPath(t, db, "/src")
	if len(live) != 3 || live["b.txt"] != nil {
		t.Errorf("live paths = %v", keys(live))
	}
	var fpc, fpi int64
	var fpx string
	if err := r.QueryRow("SELECT fp_ctime_ns, fp_ino, fp_extra FROM version WHERE path = 'b.txt'").Scan(&fpc, &fpi, &fpx); err != nil ||
		fpc != 42 || uint64(fpi) != 1<<63 || fpx != "x" {
		t.Errorf("refreshed fingerprint = %d %d %q, %v", fpc, fpi, fpx, err)
	}

	// a2's chunk list mixes an existing chunk (by id) and a new one.
	ct, err := db.ContentByID(ctx, hist[0].ContentID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct.Chunks) != 2 || ct.Chunks[0].Hash != sum("a1") || ct.Chunks[1].Hash != sum("2") ||
		ct.Chunks[0].Pack != packName("1") || ct.Chunks[1].Pack != packName("2") || ct.Size != 3 || ct.Hash != sum("a2") {
		t.Errorf("content a2 = %+v", ct)
	}
	if _, err := db.ContentByID(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("ContentByID(999) = %v, want ErrNotFound", err)
	}
}

func keys(m map[string]*Version) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Closing a version that is no longer live means another snapshot got in
// first: the whole commit is refused and nothing of it is kept.
func TestCommitConflict(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	commitHistory(t, db)
	hist, err := db.History(ctx, 1, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	closed := hist[1].ID // closed in snapshot 2
	before := rowsOf(t, db.Reader(), "SELECT count(*) FROM snapshot")
	_, err = db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0, Finished: t0, Close: []int64{closed},
		Packs: []NewPack{{Name: packName("x"), Size: 1}}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("CommitSnapshot = %v, want ErrConflict", err)
	}
	// A second live version of one path is a conflict too.
	_, err = db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0, Finished: t0, Versions: []NewVersion{dirVersion("d")}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("CommitSnapshot(duplicate live path) = %v, want ErrConflict", err)
	}
	wantRows(t, "snapshots after refused commits", rowsOf(t, db.Reader(), "SELECT count(*) FROM snapshot"), before)
	if n := rowsOf(t, db.Reader(), "SELECT count(*) FROM pack WHERE name = ?", packName("x")); n[0] != "0" {
		t.Error("a refused commit left its pack row")
	}
}

// Contents and packs that another commit stored first are shared, not
// duplicated; a chunk stored again gets a row of its own (two writers may
// store one chunk concurrently: chunk.hash is not unique, lookups take the
// lowest id, gc collects the spare).
func TestCommitDeduplicates(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	commitHistory(t, db)
	id, err := db.CommitSnapshot(ctx, &Commit{Source: "/other", Started: t0, Finished: t0,
		Packs:     []NewPack{{Name: packName("1"), Size: 300}, {Name: packName("3"), Size: 10}},
		NewChunks: []NewChunk{{Hash: sum("b"), Pack: 1, Offset: 8, Length: 2, Size: 1}},
		Contents:  []NewContent{{Hash: sum("b"), Size: 1, Chunking: "cdc", Chunks: []ChunkRef{-1}}},
		Versions:  []NewVersion{dirVersion("."), fileVersion("copy-of-b", 0, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := db.Reader()
	for q, want := range map[string]string{
		"SELECT count(*) FROM pack":    "3",
		"SELECT count(*) FROM chunk":   "5",
		"SELECT count(*) FROM content": "4",
		"SELECT count(DISTINCT content_id) FROM version WHERE path IN ('b.txt', 'copy-of-b')": "1",
		"SELECT count(*) FROM source": "2",
	} {
		if got := rowsOf(t, r, q); got[0] != want {
			t.Errorf("%s = %s, want %s", q, got[0], want)
		}
	}
	// Snapshot ids are shared by all sources; intervals stay per source.
	wantRows(t, "files of /other", rowsOf(t, r, "SELECT snapshot_id, path FROM files WHERE source = '/other' ORDER BY path"),
		[]string{fmt.Sprint(id, " ."), fmt.Sprint(id, " copy-of-b")})
	wantRows(t, "files of /src in the last snapshot", rowsOf(t, r, "SELECT path FROM files WHERE snapshot_id = 3 ORDER BY path"),
		[]string{".", "a.txt", "d"})
}

// ContentsByID answers for many contents at once what ContentByID answers
// for each, plaintext offsets included, and leaves out unknown ids.
func TestContentsByID(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	commitHistory(t, db)
	c := &Commit{Source: "/src", Started: t0.Add(3 * time.Hour), Finished: t0.Add(3*time.Hour + time.Second),
		Packs: []NewPack{{Name: packName("3"), Size: 100}},
		NewChunks: []NewChunk{
			{Hash: sum("x"), Pack: 0, Offset: 8, Length: 20, Size: 1},
			{Hash: sum("y"), Pack: 0, Offset: 8, Length: 20, Size: 1, PlainOffset: 1},
		},
		Contents: []NewContent{{Hash: sum("xy"), Size: 2, Chunking: "cdc", Chunks: []ChunkRef{-1, -2}}},
		Versions: []NewVersion{fileVersion("xy.txt", 0, 2)},
	}
	if _, err := db.CommitSnapshot(ctx, c); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	rows := rowsOf(t, db.Reader(), "SELECT id FROM content ORDER BY id")
	for _, r := range rows {
		var id int64
		fmt.Sscan(r, &id)
		ids = append(ids, id)
	}
	if len(ids) != 5 {
		t.Fatalf("contents = %v; want 5", rows)
	}
	got, err := db.ContentsByID(ctx, append(ids, 999))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) || got[999] != nil {
		t.Fatalf("ContentsByID returned %d contents; want %d, without 999", len(got), len(ids))
	}
	for _, id := range ids {
		want, err := db.ContentByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[id], want) {
			t.Errorf("content %d: ContentsByID = %+v; ContentByID = %+v", id, got[id], want)
		}
	}
	xy := got[ids[4]]
	if len(xy.Chunks) != 2 || xy.Chunks[1].PlainOffset != 1 || xy.Chunks[1].Offset != 8 || xy.Chunks[1].Entry().PlainOffset != 1 {
		t.Errorf("content xy = %+v; want its second chunk at plaintext offset 1 of the blob at 8", xy)
	}
}

// Rows go in rowsPerInsert to a statement; when some chunks or contents
// of a statement already exist, every reference must still resolve to the
// row that holds those bytes.
func TestCommitManyRowsWithSomeKnown(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	commitRange := func(name string, from, to int) map[string]int64 {
		c := &Commit{Source: "/src" + name, Started: t0, Finished: t0, Packs: []NewPack{{Name: packName(name), Size: 1 << 20}}}
		c.Versions = append(c.Versions, dirVersion("."))
		for i := from; i < to; i++ {
			h := fmt.Sprint("chunk ", i)
			c.NewChunks = append(c.NewChunks, NewChunk{Hash: sum(h), Offset: 8 + int64(i), Length: 1, Size: 1})
			c.Contents = append(c.Contents, NewContent{Hash: sum(h), Size: 1, Chunking: "cdc", Chunks: []ChunkRef{ChunkRef(-len(c.NewChunks))}})
			c.Versions = append(c.Versions, fileVersion(fmt.Sprint("f", i), len(c.Contents)-1, 1))
		}
		if _, err := db.CommitSnapshot(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids := map[string]int64{}
		for _, r := range rowsOf(t, db.Reader(), `SELECT v.path, v.content_id FROM version v JOIN source s ON s.id = v.source_id
			WHERE s.path = ? AND v.type = 'file'`, "/src"+name) {
			var path string
			var id int64
			fmt.Sscan(r, &path, &id)
			ids[path] = id
		}
		return ids
	}
	commitRange("a", 0, 100)
	got := commitRange("b", 50, 50+3*rowsPerInsert+5) // the first 50 are known
	if len(got) != 3*rowsPerInsert+5 {
		t.Fatalf("%d versions committed", len(got))
	}
	var ids []int64
	for _, id := range got {
		ids = append(ids, id)
	}
	contents, err := db.ContentsByID(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for path, id := range got {
		var i int
		fmt.Sscanf(path, "f%d", &i)
		want := sum(fmt.Sprint("chunk ", i))
		c := contents[id]
		if c == nil || c.Hash != want || len(c.Chunks) != 1 || c.Chunks[0].Hash != want {
			t.Fatalf("%s: content %d = %+v; want the bytes of chunk %d", path, id, c, i)
		}
	}
	// The 50 known chunks the commit stored again have a second row each.
	if n := rowsOf(t, db.Reader(), "SELECT count(*) FROM chunk")[0]; n != fmt.Sprint(100+3*rowsPerInsert+5) {
		t.Errorf("%s chunk rows; want one per chunk stored", n)
	}
}

// A big first commit builds content_by_hash after its rows
// (dropHashIndex); the catalog must come out of it with the index the
// migrations make, word for word, and lookups by hash must find every
// content through it, then and in a second big commit that finds some.
func TestBulkCommitKeepsContentIndex(t *testing.T) {
	ctx := context.Background()
	fresh, _ := openNew(t)
	want := rowsOf(t, fresh.Reader(), "SELECT sql FROM sqlite_master WHERE name = 'content_by_hash'")
	if len(want) != 1 || want[0] != createContentByHash {
		t.Fatalf("migrations made content_by_hash as %q; createContentByHash says %q", want, createContentByHash)
	}
	db, _ := openNew(t)
	first := firstSnapshot(bulkIndexMin)
	if _, err := db.CommitSnapshot(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, db.Reader(), "SELECT sql FROM sqlite_master WHERE name = 'content_by_hash'"); !slices.Equal(got, want) {
		t.Fatalf("after a bulk commit content_by_hash is %q, want %q", got, want)
	}
	plan := rowsOf(t, db.Reader(), "EXPLAIN QUERY PLAN SELECT min(id) FROM content WHERE hash = x'00'")
	if !strings.Contains(strings.Join(plan, " "), "content_by_hash") {
		t.Errorf("a lookup by hash does not use content_by_hash: %v", plan)
	}
	if n := rowsOf(t, db.Reader(), "SELECT count(*) FROM content INDEXED BY content_by_hash WHERE hash IS NOT NULL")[0]; n != fmt.Sprint(bulkIndexMin) {
		t.Errorf("content_by_hash holds %s contents, want %d", n, bulkIndexMin)
	}
	// A second commit of the same files under another source reuses
	// every content by hash: the index serves storedContents.
	second := firstSnapshot(bulkIndexMin)
	second.Source = "/scale2"
	second.Packs[0].Name = fmt.Sprintf("%064x", 2)
	if _, err := db.CommitSnapshot(ctx, second); err != nil {
		t.Fatal(err)
	}
	if n := rowsOf(t, db.Reader(), "SELECT count(*) FROM content")[0]; n != fmt.Sprint(bulkIndexMin) {
		t.Errorf("%s content rows after committing the same contents twice, want %d", n, bulkIndexMin)
	}
}

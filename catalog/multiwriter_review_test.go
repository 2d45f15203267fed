package catalog

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// reviewWriter opens a catalog with a journal as writer id.
func reviewWriter(t *testing.T, id string) *mwWriter {
	t.Helper()
	ctx := context.Background()
	w := &mwWriter{id: id, j: newTestJournal(), path: filepath.Join(t.TempDir(), "catalog.db")}
	db, err := Open(ctx, w.path, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetJournal(w.j)
	if err := db.SetWriter(ctx, id); err != nil {
		t.Fatal(err)
	}
	w.db = db
	return w
}

func packMissing(t *testing.T, db *DB, name string) bool {
	t.Helper()
	var missing bool
	if err := db.Reader().QueryRowContext(context.Background(), "SELECT missing_ns IS NOT NULL FROM pack WHERE name = ?", name).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	return missing
}

// TestMissingThenPresentAcrossWriters: writer a records a pack missing,
// writer b (having read that) records it present again. A third catalog
// that reads b's log before a's must end with the pack present too, as b
// and a do.
func TestMissingThenPresentAcrossWriters(t *testing.T) {
	ctx := context.Background()
	a, b, c := reviewWriter(t, "wz-a"), reviewWriter(t, "wa-b"), reviewWriter(t, "wm-c")
	name := packName("shared")
	h := sum("chunk")
	ct := NewContent{Hash: sum("content"), Size: 1, Chunking: "cdc", Chunks: []ChunkRef{-1}}
	if _, err := a.db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0, Finished: t0,
		Packs:     []NewPack{{Name: name, Size: 100}},
		NewChunks: []NewChunk{{Hash: h, Pack: 0, Offset: 0, Length: 1, Size: 1}},
		Contents:  []NewContent{ct}, Versions: []NewVersion{fileVersion("f", 0, 1)}}); err != nil {
		t.Fatal(err)
	}
	if err := a.db.SetPacksMissing(ctx, []string{name}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.CatchUpWriter(ctx, a.id, a.j); err != nil {
		t.Fatal(err)
	}
	if err := b.db.SetPacksMissing(ctx, nil, []string{name}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.CatchUpWriter(ctx, b.id, b.j); err != nil {
		t.Fatal(err)
	}
	// c lists b's log first ("wa-b" sorts before "wz-a").
	if _, err := c.db.CatchUpWriters(ctx, map[string]Journal{"": c.j, a.id: a.j, b.id: b.j}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*mwWriter{a, b, c} {
		if packMissing(t, w.db, name) {
			t.Errorf("writer %s: the pack is recorded missing; b recorded it present after a's record", w.id)
		}
	}
}

// TestMissingTwiceAcrossWriters: two writers find one pack missing at
// different times, neither having read the other's record; every catalog
// keeps the earlier time whatever order it reads them in.
func TestMissingTwiceAcrossWriters(t *testing.T) {
	ctx := context.Background()
	a, b, c := reviewWriter(t, "wz-a"), reviewWriter(t, "wa-b"), reviewWriter(t, "wm-c")
	name := packName("shared")
	ct := NewContent{Hash: sum("content"), Size: 1, Chunking: "cdc", Chunks: []ChunkRef{-1}}
	if _, err := a.db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0, Finished: t0,
		Packs:     []NewPack{{Name: name, Size: 100}},
		NewChunks: []NewChunk{{Hash: sum("chunk"), Pack: 0, Offset: 0, Length: 1, Size: 1}},
		Contents:  []NewContent{ct}, Versions: []NewVersion{fileVersion("f", 0, 1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.CatchUpWriter(ctx, a.id, a.j); err != nil {
		t.Fatal(err)
	}
	a.db.Now = func() time.Time { return t0.Add(time.Hour) }
	b.db.Now = func() time.Time { return t0.Add(2 * time.Hour) }
	for _, w := range []*mwWriter{a, b} {
		if err := w.db.SetPacksMissing(ctx, []string{name}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.db.CatchUpWriter(ctx, b.id, b.j); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.CatchUpWriter(ctx, a.id, a.j); err != nil {
		t.Fatal(err)
	}
	if _, err := c.db.CatchUpWriters(ctx, map[string]Journal{"": c.j, a.id: a.j, b.id: b.j}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*mwWriter{a, b, c} {
		var ns int64
		if err := w.db.Reader().QueryRowContext(ctx, "SELECT missing_ns FROM pack WHERE name = ?", name).Scan(&ns); err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Hour).UnixNano(); ns != want {
			t.Errorf("writer %s: missing since %d, want %d (the earlier of the two records)", w.id, ns, want)
		}
	}
}

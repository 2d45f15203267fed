package catalog

import (
	"context"
	"testing"
	"time"
)

// A pack recorded missing: its chunks are unknown to lookups, the live
// versions using them must be read again, and a commit that stores such a
// chunk again moves the existing row (same id) to the new pack, which
// heals every content listing it.
func TestMissingPackHeals(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	commitHistory(t, db) // a.txt (live) = chunks a1 + 2; a1 in pack 1, "2" in pack 2
	a1 := chunkID(t, db, "a1")
	if err := db.SetPacksMissing(ctx, []string{packName("1")}, nil); err != nil {
		t.Fatal(err)
	}
	h := sum("a1")
	if _, _, found, err := db.FindChunk(ctx, h[:]); err != nil || found {
		t.Fatalf("FindChunk of a chunk in a missing pack = found %v, %v; want not found", found, err)
	}
	if v := liveByPath(t, db, "/src")["a.txt"]; v.FpCtimeNs != -1 {
		t.Fatalf("live a.txt uses a chunk of a missing pack: fingerprint %d, want -1 (read again)", v.FpCtimeNs)
	}
	c := &Commit{Source: "/src", Started: t0.Add(3 * time.Hour), Finished: t0.Add(3*time.Hour + time.Second),
		Packs:     []NewPack{{Name: packName("healed"), Size: 50}},
		NewChunks: []NewChunk{{Hash: sum("a1"), Pack: 0, Offset: 8, Length: 3, Size: 2}},
	}
	if _, err := db.CommitSnapshot(ctx, c); err != nil {
		t.Fatal(err)
	}
	id, pack, found, err := db.FindChunk(ctx, h[:])
	if err != nil || !found || id != a1 || pack != packName("healed") {
		t.Fatalf("after the healing commit: chunk %d in %s (found %v, %v); want chunk %d in the new pack", id, pack, found, err, a1)
	}
	if v := liveByPath(t, db, "/src")["a.txt"]; v.FpCtimeNs == -1 {
		t.Fatal("a.txt is whole again but still marked for reading")
	}
	// Found present again (put back from a copy): no longer missing.
	if err := db.SetPacksMissing(ctx, nil, []string{packName("1")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range mustPacks(t, db) {
		if p.Missing {
			t.Fatalf("pack %s still recorded missing", p.Name)
		}
	}
}

func mustPacks(t *testing.T, db *DB) []Pack {
	t.Helper()
	packs, err := db.Packs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return packs
}

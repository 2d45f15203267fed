package cairn_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/metalog"
)

// TestFirstSnapshotNoCheckpoint (issue 14): the first snapshot of a tree
// whose record passes BytesPerCheckpoint writes no checkpoint (one would
// duplicate that record and save no replay), nor does an unchanged
// snapshot after it; growth to twice that record then does, and a rebuild
// starts from it and gives every snapshot back.
func TestFirstSnapshotNoCheckpoint(t *testing.T) {
	defer func(b int64) { metalog.BytesPerCheckpoint = b }(metalog.BytesPerCheckpoint)
	metalog.BytesPerCheckpoint = 16 << 10
	ctx := context.Background()
	base := t.TempDir()
	dir, src := filepath.Join(base, "repo"), filepath.Join(base, "src")
	files := func(from, to int) {
		for i := from; i < to; i++ {
			p := filepath.Join(src, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.json", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, fmt.Appendf(nil, `{"id": %d, "name": "item-%d", "tags": ["a", "b"]}`+"\n", i, i*7919), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		then := time.Now().Add(-time.Minute)
		filepath.WalkDir(src, func(p string, _ os.DirEntry, _ error) error { return os.Chtimes(p, then, then) })
	}
	var ids []int64
	snap := func() {
		t.Helper()
		repo, err := cairn.Open(ctx, dir, cairn.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		res, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
		if err := repo.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// sizes lists the stored sizes of log/ or checkpoints/ (one writer).
	sizes := func(top string) (out []int64) {
		filepath.WalkDir(filepath.Join(dir, top), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := d.Info(); err == nil {
					out = append(out, fi.Size())
				}
			}
			return nil
		})
		return out
	}

	files(0, 600)
	snap()
	recs := sizes("log")
	if big := recs[len(recs)-1]; big < metalog.BytesPerCheckpoint {
		t.Fatalf("the first snapshot's record is %d B, not past BytesPerCheckpoint (%d): the test tests nothing", big, metalog.BytesPerCheckpoint)
	}
	if cps := sizes("checkpoints"); len(cps) != 0 {
		t.Fatalf("a first snapshot (record of %d B) wrote checkpoints %v", recs[len(recs)-1], cps)
	}
	snap() // unchanged
	if cps := sizes("checkpoints"); len(cps) != 0 {
		t.Fatalf("an unchanged snapshot after a first one wrote checkpoints %v", cps)
	}
	// Growth, 300 files a snapshot: due once the records reach twice the
	// biggest one.
	n := 600
	for len(sizes("checkpoints")) == 0 {
		if n >= 1800 {
			t.Fatalf("no checkpoint after growth to %d files (records %v)", n, sizes("log"))
		}
		files(n, n+300)
		n += 300
		snap()
	}
	if cps := sizes("checkpoints"); len(cps) != 1 {
		t.Fatalf("growth wrote checkpoints %v (records %v)", cps, sizes("log"))
	}
	t.Logf("checkpoint at %d files; records %v", n, sizes("log"))

	if err := os.Remove(filepath.Join(dir, "local", "catalog.db")); err != nil {
		t.Fatal(err)
	}
	rep, err := cairn.RepairCatalog(ctx, dir, cairn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checkpoint == 0 {
		t.Fatalf("the rebuild started from no checkpoint: %+v", rep)
	}
	repo, err := cairn.Open(ctx, dir, cairn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	for i := range ids {
		want := max(600, 600+300*(i-1))
		want += want/100 + 1 // the directories and the root
		var n any
		q := fmt.Sprintf("SELECT count(*) FROM files WHERE snapshot_id = %d", ids[i])
		if err := repo.Query(ctx, q, 0, func(_ []string, row []any) error {
			if row != nil {
				n = row[0]
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(n) != fmt.Sprint(want) {
			t.Errorf("snapshot %d after the rebuild: %v files, want %d", ids[i], n, want)
		}
	}
}

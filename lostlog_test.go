package cairn

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestLostLogRefusesNewCatalog: the catalog is missing and the log (log/
// and checkpoints/) is gone too, while packs/ still holds the data. The
// open took the repository for a new one and made an empty catalog, so
// every pack became an orphan that the next gc deletes once the grace
// period is over. It must refuse, as a format-1 repository does when its
// catalog has lost its contents.
func TestLostLogRefusesNewCatalog(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir, src := filepath.Join(base, "repo"), filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("a"), 0o644)
	backdate(t, src)
	r, err := Open(ctx, dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Snapshot(ctx, src, SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	for _, p := range []string{"log", "checkpoints", "local/catalog.db", "local/catalog.db-wal", "local/catalog.db-shm"} {
		os.RemoveAll(filepath.Join(dir, p))
	}
	r, err = Open(ctx, dir, Options{})
	if err == nil {
		snaps, _ := r.Snapshots(ctx, SnapshotFilter{})
		r.Close()
		t.Fatalf("opened with packs but no log and no catalog: a new catalog with %d snapshots", len(snaps))
	}
	t.Log(err)
}

package cairn

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestStaleCatalogBehindRebasedLog: a catalog file older than the log's
// newest checkpoint (a copy put back, after cairn repair log had re-based
// the log and removed every record the checkpoint covers). The next
// record it would apply is gone, and the log had none after it, so the
// catalog was taken as up to date: snapshot 2 vanished from view, and the
// next snapshot was appended at a seq behind the checkpoint, where no
// rebuild reads it (lost with the next rebuild). Now the open rebuilds
// the catalog from the checkpoint.
func TestStaleCatalogBehindRebasedLog(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir, src := filepath.Join(base, "repo"), filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		backdate(t, src)
	}
	open := func() *Repo {
		t.Helper()
		r, err := Open(ctx, dir, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	snap := func(r *Repo) {
		t.Helper()
		if _, err := r.Snapshot(ctx, src, SnapshotOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(r *Repo) int {
		t.Helper()
		s, err := r.Snapshots(ctx, SnapshotFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(s)
	}
	catalogFile := filepath.Join(dir, "local", "catalog.db")

	write("a.txt", "one")
	r := open()
	snap(r)
	r.Close()
	stale, err := os.ReadFile(catalogFile)
	if err != nil {
		t.Fatal(err)
	}

	r = open()
	write("a.txt", "two")
	snap(r)
	if _, err := r.RepairLog(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close()

	for _, s := range []string{"-wal", "-shm"} {
		os.Remove(catalogFile + s)
	}
	if err := os.WriteFile(catalogFile, stale, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err = Open(ctx, dir, Options{})
	if err != nil {
		t.Fatalf("open with the stale catalog: %v", err)
	}
	if n := count(r); n != 2 {
		t.Errorf("with the stale catalog in place: %d snapshots, want 2", n)
	}
	write("a.txt", "three")
	snap(r)
	const want = 3
	r.Close()
	os.Remove(catalogFile)
	r = open()
	defer r.Close()
	if n := count(r); n != want {
		t.Errorf("after a rebuild: %d snapshots, want %d", n, want)
	}
}

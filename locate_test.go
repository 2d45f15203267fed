package cairn_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/snapshot"
)

// An in-place restore replaces only what its undo snapshot holds: a FIFO
// where a file was cannot be snapshotted, so replacing it is refused with
// ErrNotCovered, while the rest is restored and can be undone.
func TestRestoreRefusesWhatTheUndoSnapshotLacks(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	for _, name := range []string{"a.txt", "b.txt"} {
		os.WriteFile(filepath.Join(src, name), []byte("v1 "+name), 0o644)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(src, "a.txt"), old, old)
	os.Chtimes(filepath.Join(src, "b.txt"), old, old)
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	snap, err := repo.Snapshot(ctx, src, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("v2"), 0o644)
	os.Remove(filepath.Join(src, "b.txt"))
	if err := syscall.Mkfifo(filepath.Join(src, "b.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	req, _, err := repo.Resolve(ctx, src, snap.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{})
	if !errors.Is(err, restore.ErrNotCovered) {
		t.Fatalf("restore over a FIFO: %v, want ErrNotCovered", err)
	}
	if len(res.Undo) != 1 {
		t.Fatalf("undo points %v, want one", res.Undo)
	}
	if fi, _ := os.Lstat(filepath.Join(src, "b.txt")); fi == nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Error("the FIFO was replaced although the undo snapshot could not hold it")
	}
	if b, _ := os.ReadFile(filepath.Join(src, "a.txt")); string(b) != "v1 a.txt" {
		t.Errorf("a.txt = %q, want it restored", b)
	}
}

package cairn_test

import (
	"bytes"
	"context"
	"errors"
	"io"
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

// Cat reads one file of a snapshot through the snapshot's view: bytes as
// recorded; a directory, a missing path and a path that escapes the source
// are refused with errors an application can tell apart.
func TestCat(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	big := make([]byte, 700<<10)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	files := map[string]string{"a.txt": "alpha", "dir/big.bin": string(big), "empty": ""}
	for rel, data := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(src, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(src, rel), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	snap, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cat := func(rel string) (string, error) {
		req, _, err := repo.Resolve(ctx, filepath.Join(src, rel), snap.ID, false)
		if err != nil {
			return "", err
		}
		var out bytes.Buffer
		err = repo.Cat(ctx, req, &out)
		return out.String(), err
	}
	for rel, data := range files {
		if got, err := cat(rel); err != nil || got != data {
			t.Errorf("cat %s: %d bytes, %v; want %d bytes", rel, len(got), err, len(data))
		}
	}
	if _, err := cat("dir"); err == nil {
		t.Error("cat of a directory succeeded")
	}
	req, _, err := repo.Resolve(ctx, filepath.Join(src, "a.txt"), snap.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	req.Path = "nope"
	if err := repo.Cat(ctx, req, io.Discard); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("cat of a missing path = %v, want ErrNotFound", err)
	}
	req.Path = "../escape.txt"
	if err := repo.Cat(ctx, req, io.Discard); !errors.Is(err, cairn.ErrUnsafePath) {
		t.Errorf("cat of a path outside the source = %v, want ErrUnsafePath", err)
	}
}

package snapshotfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/snapshotfs"
)

// TestWholeFileHash records a wrong whole-file hash in the catalog: every
// chunk still verifies, so only the whole-file check can notice, and it
// must, naming the path, for ReadFile and for a Read to the end.
func TestWholeFileHash(t *testing.T) {
	src := sourceDir(t)
	data := randomBytes(5, 1<<20)
	write(t, filepath.Join(src, "dir/file.bin"), data, 0o644)
	write(t, filepath.Join(src, "empty"), nil, 0o644)
	r := newRepo(t)
	view := r.snap(t, src)

	cat := openSQLite(t, filepath.Join(r.dir, "catalog.db"), "_busy_timeout=5000")
	exec(t, cat, "UPDATE content SET hash = randomblob(32)")

	for _, name := range []string{"dir/file.bin", "empty"} {
		_, err := view.ReadFile(name)
		var pe *fs.PathError
		if !errors.Is(err, blobstore.ErrCorrupt) || !errors.As(err, &pe) || pe.Path != name {
			t.Errorf("ReadFile(%q) = %v; want a *fs.PathError naming it, wrapping blobstore.ErrCorrupt", name, err)
		}
		f, err := view.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(f); !errors.Is(err, blobstore.ErrCorrupt) {
			t.Errorf("Open(%q)+ReadAll = %v; want blobstore.ErrCorrupt", name, err)
		}
		f.Close()
	}
	// Random access cannot check the whole file; its chunks are good.
	f, err := view.Open("dir/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, len(data))
	if n, err := f.(io.ReaderAt).ReadAt(got, 0); n != len(data) || err != nil || !bytes.Equal(got, data) {
		t.Errorf("ReadAt of the whole file = %d, %v", n, err)
	}
	// Nor can a Read that did not start at 0.
	f.(io.Seeker).Seek(10, io.SeekStart)
	if _, err := io.ReadAll(f); err != nil {
		t.Errorf("ReadAll after Seek(10) = %v", err)
	}
	// Seeking back to 0 starts the check again.
	f.(io.Seeker).Seek(0, io.SeekStart)
	if _, err := io.ReadAll(f); !errors.Is(err, blobstore.ErrCorrupt) {
		t.Errorf("ReadAll after Seek(0) = %v; want blobstore.ErrCorrupt", err)
	}
}

// TestDamagedPack flips bytes in a pack: each read returns the recorded
// bytes or an error wrapping blobstore.ErrCorrupt, never other bytes.
func TestDamagedPack(t *testing.T) {
	src := sourceDir(t)
	files := map[string][]byte{
		"random.bin": randomBytes(6, 3<<20),
		"log.txt":    logText(2 << 20),
		"small":      []byte("small file"),
	}
	for name, data := range files {
		write(t, filepath.Join(src, name), data, 0o644)
	}
	r := newRepo(t)
	view := r.snap(t, src)

	packs, _ := filepath.Glob(filepath.Join(r.dir, "packs", "*", "*.pack"))
	if len(packs) == 0 {
		t.Fatal("no packs")
	}
	for _, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for off := 4096; off < len(b)-4096; off += 256 << 10 {
			b[off] ^= 0x5a
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	failed := 0
	for name, data := range files {
		got, err := view.ReadFile(name)
		switch {
		case err == nil && !bytes.Equal(got, data):
			t.Errorf("ReadFile(%q) returned wrong bytes without an error", name)
		case err != nil && !errors.Is(err, blobstore.ErrCorrupt):
			t.Errorf("ReadFile(%q) = %v; want blobstore.ErrCorrupt", name, err)
		case err != nil:
			failed++
		}
	}
	if failed == 0 {
		t.Error("no read noticed the damage")
	}
}

// TestMissingPack deletes the packs: reads fail with blobstore.ErrNotFound.
func TestMissingPack(t *testing.T) {
	src := sourceDir(t)
	write(t, filepath.Join(src, "f"), randomBytes(7, 100<<10), 0o644)
	r := newRepo(t)
	view := r.snap(t, src)
	packs, _ := filepath.Glob(filepath.Join(r.dir, "packs", "*", "*.pack"))
	for _, p := range packs {
		os.Remove(p)
	}
	r.store.Close() // drop cached handles
	store, err := blobstore.NewLocal(filepath.Join(r.dir, "packs"), filepath.Join(r.dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	view2, err := snapshotfsNew(t, r, store, view.Snapshot().ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := view2.ReadFile("f"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("ReadFile = %v; want blobstore.ErrNotFound", err)
	}
	// Metadata needs no packs.
	if fi, err := view2.Stat("f"); err != nil || fi.Size() != 100<<10 {
		t.Errorf("Stat = %v, %v", fi, err)
	}
}

// TestContextEndsReads: the view's context bounds its reads.
func TestContextEndsReads(t *testing.T) {
	src := sourceDir(t)
	write(t, filepath.Join(src, "f"), randomBytes(8, 1<<20), 0o644)
	r := newRepo(t)
	id := r.snap(t, src).Snapshot().ID
	ctx, cancel := context.WithCancel(context.Background())
	view, err := snapshotfs.New(ctx, r.db, r.store, nil, id)
	if err != nil {
		t.Fatal(err)
	}
	f, err := view.Open("f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cancel()
	if _, err := io.ReadAll(f); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel = %v; want context.Canceled", err)
	}
	if _, err := snapshotfs.New(context.Background(), r.db, r.store, nil, id+100); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("New of a missing snapshot = %v; want catalog.ErrNotFound", err)
	}
}

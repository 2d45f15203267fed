package gc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/gc"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/retention"
	"github.com/cairn-dev/cairn/snapshot"
)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	repo  *cairn.Repo
	store blobstore.Store // the repository's packs/, seen directly
	src   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return openFixture(t, filepath.Join(t.TempDir(), "repo"), cairn.Options{Create: true})
}

// newFormat1Fixture is a fixture in a format-1 repository (catalog.db and
// packs/ at the top, no log), whose catalog file plus packs/ is a whole
// repository: tests that copy a catalog aside and damage it need that.
func newFormat1Fixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "repo")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(ctx, filepath.Join(dir, "catalog.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.InitMeta(ctx, map[string]string{"repository_format": "1", "chunker": chunker.Default.String(), "created": "2026-01-01T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return openFixture(t, dir, cairn.Options{})
}

func openFixture(t *testing.T, dir string, opts cairn.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	repo, err := cairn.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	store, err := blobstore.NewLocal(filepath.Join(repo.Dir, "packs"), filepath.Join(repo.Dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	// Keep every snapshot unless a test forgets explicitly.
	if err := repo.SetPolicy(ctx, src, retention.Policy{Last: -1}); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, repo: repo, store: store, src: src}
}

func (f *fixture) write(name string, data []byte) {
	f.t.Helper()
	p := filepath.Join(f.src, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour) // not racy: unchanged files are not re-read
	os.Chtimes(p, old, old)
}

func (f *fixture) snap() int64 {
	f.t.Helper()
	res, err := f.repo.Snapshot(f.ctx, f.src, snapshot.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.ID
}

func (f *fixture) checkOK() {
	f.t.Helper()
	rep, err := f.repo.Check(f.ctx, true)
	if err != nil {
		f.t.Fatal(err)
	}
	if !rep.OK() {
		f.t.Fatalf("check found problems: %v", rep.Problems)
	}
}

func (f *fixture) restoreEquals(id int64, name string, want []byte) {
	f.t.Helper()
	req, _, err := f.repo.Resolve(f.ctx, filepath.Join(f.src, name), id, false)
	if err != nil {
		f.t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.repo.Cat(f.ctx, req, &buf); err != nil {
		f.t.Fatalf("cat %s@%d: %v", name, id, err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		f.t.Fatalf("%s in snapshot %d: got %d bytes, want %d", name, id, buf.Len(), len(want))
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func packFiles(t *testing.T, repo *cairn.Repo) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(repo.Dir, "packs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestGCDeletesAndRepacks(t *testing.T) {
	f := newFixture(t)
	keep := random(300 << 10)
	f.write("keep.bin", keep)
	f.write("gone.bin", random(300<<10))
	first := f.snap() // one pack: keep.bin and gone.bin
	os.Remove(filepath.Join(f.src, "gone.bin"))
	f.write("later.bin", random(200<<10))
	second := f.snap() // a second pack: later.bin
	os.Remove(filepath.Join(f.src, "later.bin"))
	third := f.snap()

	if _, err := f.repo.Forget(f.ctx, cairn.ForgetOptions{IDs: []int64{first, second}}); err != nil {
		t.Fatal(err)
	}
	before := packFiles(t, f.repo)
	rep, err := f.repo.GC(f.ctx, gc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// gone.bin's chunks are dead inside the first pack (repacked); the
	// second pack held only later.bin (deleted whole).
	if rep.DeletedPacks != 1 || rep.RepackedPacks != 1 || rep.DeadChunks == 0 || rep.BytesFreed < 400<<10 {
		t.Fatalf("report = %+v, want 1 deleted, 1 repacked, >= 400 KiB freed", rep)
	}
	if after := packFiles(t, f.repo); after != before-1 {
		t.Fatalf("pack files: %d before, %d after; want one fewer", before, after)
	}
	f.checkOK()
	f.restoreEquals(third, "keep.bin", keep)

	// A second run has nothing left to do.
	rep, err = f.repo.GC(f.ctx, gc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DeletedPacks+rep.RepackedPacks+rep.DeadChunks+rep.OrphanPacks != 0 {
		t.Fatalf("second gc still found work: %+v", rep)
	}
}

// A small pack whose chunks are all live is not garbage just because its
// header and index are a large share of it (this once repacked it into a
// byte-identical pack and failed on the duplicate name).
func TestGCLeavesSmallLivePacks(t *testing.T) {
	f := newFixture(t)
	f.write("a.txt", []byte("a"))
	f.snap()
	f.write("b.txt", []byte("b"))
	f.snap()
	rep, err := f.repo.GC(f.ctx, gc.Options{MaxUnused: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RepackedPacks != 0 || rep.DeletedPacks != 0 {
		t.Fatalf("report = %+v, want nothing repacked or deleted", rep)
	}
	f.checkOK()
}

func TestGCRemovesOrphansAndDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.write("a.bin", random(100<<10))
	id := f.snap()
	// An orphan: a durable pack no catalog row names, as an interrupted
	// snapshot leaves.
	w, err := newOrphan(f)
	if err != nil {
		t.Fatal(err)
	}
	dry, err := f.repo.GC(f.ctx, gc.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.OrphanPacks != 1 {
		t.Fatalf("dry run: %+v, want 1 orphan", dry)
	}
	if _, err := f.store.Stat(f.ctx, w); err != nil {
		t.Fatalf("dry run deleted the orphan: %v", err)
	}
	rep, err := f.repo.GC(f.ctx, gc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphanPacks != 1 {
		t.Fatalf("report = %+v, want 1 orphan removed", rep)
	}
	if _, err := f.store.Stat(f.ctx, w); err == nil {
		t.Fatal("orphan pack still there")
	}
	f.checkOK()
	req, _, err := f.repo.Resolve(f.ctx, f.src, id, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.repo.Restore(f.ctx, []restore.Request{req}, restore.Options{To: t.TempDir()})
	if err != nil || res.Written != 1 {
		t.Fatalf("restore after gc: %+v, %v", res, err)
	}
}

// Small files are stored many to a blob. gc counts the dead share of a
// blob that still holds live chunks, and a repack compresses such a blob
// again from its live chunks alone: what survives must restore and verify,
// the dead bytes must be gone, and a second run finds nothing more to do.
func TestGCBlobsSharedByLiveAndDeadChunks(t *testing.T) {
	f := newFixture(t)
	var survivor []byte
	for i := range 100 { // about 220 KiB: more than one blob
		data := []byte(strings.Repeat(fmt.Sprintf(`{"file": %d, "text": "cairn keeps state"}`+"\n", i), 50))
		f.write(fmt.Sprintf("f%03d.json", i), data)
		if i == 50 {
			survivor = data
		}
	}
	first := f.snap()
	for i := range 100 {
		if i != 50 {
			os.Remove(filepath.Join(f.src, fmt.Sprintf("f%03d.json", i)))
		}
	}
	second := f.snap()
	if _, err := f.repo.Forget(f.ctx, cairn.ForgetOptions{IDs: []int64{first}}); err != nil {
		t.Fatal(err)
	}
	rep, err := f.repo.GC(f.ctx, gc.Options{MaxUnused: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DeadChunks != 99 || rep.RepackedPacks != 1 || rep.BytesFreed == 0 {
		t.Fatalf("report = %+v; want 99 dead chunks and the pack repacked", rep)
	}
	f.checkOK()
	f.restoreEquals(second, "f050.json", survivor)
	var packBytes int64
	filepath.WalkDir(filepath.Join(f.repo.Dir, "packs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				packBytes += fi.Size()
			}
		}
		return nil
	})
	if packBytes > 512 {
		t.Errorf("packs hold %d bytes after gc; want about one small file's worth", packBytes)
	}
	rep, err = f.repo.GC(f.ctx, gc.Options{MaxUnused: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DeletedPacks+rep.RepackedPacks+rep.DeadChunks+rep.OrphanPacks != 0 {
		t.Fatalf("second gc still found work: %+v", rep)
	}
}

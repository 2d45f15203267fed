package cairn

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/snapshot"
)

// planFixture is a directory repository holding one snapshot and an
// orphan pack (a chunk of the file resumable.txt, as an interrupted
// snapshot leaves it) that is 25 hours old in store time (its mtime), and
// a gc with a grace of 24 hours has condemned it in a plan.
type planFixture struct {
	ctx    context.Context
	r      *Repo
	src    string
	orphan string
}

const resumable = "the bytes of a file an interrupted snapshot had sealed"

func newPlanFixture(t *testing.T) *planFixture {
	t.Helper()
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	big := make([]byte, 200<<10)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(src, "a.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, filepath.Join(base, "repo"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.Snapshot(ctx, src, SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	c := r.codec()
	w, err := blobstore.NewPackWriter(ctx, r.store, c)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(resumable)
	if _, err := w.Add(c.Sum(data), len(data), c.Encode(nil, data)); err != nil {
		t.Fatal(err)
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := &planFixture{ctx: ctx, r: r, src: src, orphan: info.Name}
	f.age(t, filepath.Join(r.Dir, "packs", info.Name[:2], info.Name+".pack"))
	rep, err := r.GC(ctx, GCOptions{Grace: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Condemned != 1 || rep.RemovedPacks != 0 {
		t.Fatalf("gc: %+v; want the old orphan condemned, not deleted", rep)
	}
	if err := os.WriteFile(filepath.Join(src, "resumable.txt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The next snapshot looks for orphans (as after a killed one).
	if err := snapshot.NoteOrphans(r.tmpDir()); err != nil {
		t.Fatal(err)
	}
	return f
}

// age makes a file 25 hours older in a directory store's clock.
func (f *planFixture) age(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	old := fi.ModTime().Add(-25 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// ageAndCollect ages every plan past the grace period and runs gc
// (without merging small packs, which would move the orphan's chunk and
// condemn it anew).
func (f *planFixture) ageAndCollect(t *testing.T) *GCReport {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(f.r.Dir, "gc"))
	if err != nil || len(des) != 1 {
		t.Fatalf("gc/ holds %d plans (%v); want 1", len(des), err)
	}
	f.age(t, filepath.Join(f.r.Dir, "gc", des[0].Name()))
	rep, err := f.r.GC(f.ctx, GCOptions{Grace: 24 * time.Hour, NoMerge: true})
	if err != nil {
		t.Fatal(err)
	}
	if des, _ := os.ReadDir(filepath.Join(f.r.Dir, "gc")); len(des) != 0 {
		t.Errorf("the plan is still there after it was carried out")
	}
	return rep
}

func (f *planFixture) checkOK(t *testing.T) {
	t.Helper()
	rep, err := f.r.Check(f.ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("check: %v", rep.Problems)
	}
}

// TestSnapshotTreatsCondemnedAsAbsent: a snapshot that has listed the
// plan does not resume from the pack it condemns (it stores the chunk
// again), and the later gc deletes the pack with nothing lost.
func TestSnapshotTreatsCondemnedAsAbsent(t *testing.T) {
	f := newPlanFixture(t)
	res, err := f.r.Snapshot(f.ctx, f.src, SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedPacks != 0 || res.BytesAdded == 0 {
		t.Fatalf("snapshot resumed %d packs, added %d bytes; want the condemned orphan left alone", res.ResumedPacks, res.BytesAdded)
	}
	rep := f.ageAndCollect(t)
	if rep.RemovedPacks != 1 || rep.Revived != 0 {
		t.Fatalf("gc: %+v; want the condemned orphan removed", rep)
	}
	if _, err := f.r.store.Stat(f.ctx, f.orphan); err == nil {
		t.Fatal("condemned orphan still in the store")
	}
	f.checkOK(t)
}

// TestGCRevivesWhatAStaleSnapshotUsed: a snapshot that listed gc/ before
// the plan was written (here: run with the view it had then, no plan)
// resumes from the condemned pack and records it; the gc that carries
// the plan out finds a record naming the pack again and keeps it.
// Deleting every condemned pack blindly would lose resumable.txt.
func TestGCRevivesWhatAStaleSnapshotUsed(t *testing.T) {
	f := newPlanFixture(t)
	r := f.r
	res, err := snapshot.Run(f.ctx, snapshot.Deps{DB: r.db, Store: r.store, TmpDir: r.tmpDir(), Params: r.Params, Codec: r.codec()},
		f.src, snapshot.Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedPacks != 1 {
		t.Fatalf("stale snapshot resumed %d packs; want the orphan", res.ResumedPacks)
	}
	rep := f.ageAndCollect(t)
	if rep.Revived != 1 || rep.RemovedPacks != 0 {
		t.Fatalf("gc: %+v; want the pack revived", rep)
	}
	if _, err := r.store.Stat(f.ctx, f.orphan); err != nil {
		t.Fatalf("revived pack deleted: %v", err)
	}
	f.checkOK(t)
}

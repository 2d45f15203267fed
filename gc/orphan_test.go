package gc_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/gc"
	"github.com/cairn-dev/cairn/keys"
)

// repoCodec is the codec of the fixture's (format 2) repository, from
// its local/key and cairn.repo, so that test packs are the repository's
// own format.
func repoCodec(f *fixture) *blobstore.Codec {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.repo.Dir, "local", "key"))
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != keys.MasterSize {
		f.t.Fatalf("local/key: %v", err)
	}
	var m keys.Master
	copy(m[:], raw)
	set, err := keys.Derive(m)
	if err != nil {
		f.t.Fatal(err)
	}
	j, err := os.ReadFile(filepath.Join(f.repo.Dir, "cairn.repo"))
	if err != nil {
		f.t.Fatal(err)
	}
	var file struct{ ID string }
	if err := json.Unmarshal(j, &file); err != nil {
		f.t.Fatal(err)
	}
	c, err := blobstore.NewCodec(set, file.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// newOrphan writes a durable pack that the catalog does not record.
func newOrphan(f *fixture) (string, error) {
	c := repoCodec(f)
	w, err := blobstore.NewPackWriter(f.ctx, f.store, c)
	if err != nil {
		return "", err
	}
	data := []byte("orphaned chunk")
	if _, err := w.Add(c.Sum(data), len(data), c.Encode(nil, data)); err != nil {
		return "", err
	}
	info, err := w.Finish(f.ctx)
	return info.Name, err
}

// TestGCGraceKeepsYoungOrphans: with a grace period an orphan younger
// than it, in store time, stays (and gc leaves the marker that makes the
// next snapshot look for it); once older, a plan condemns it, and a gc
// deletes it once that plan is older than the grace period too; with no
// grace it goes at once.
func TestGCGraceKeepsYoungOrphans(t *testing.T) {
	f := newFixture(t)
	f.write("a.bin", random(100<<10))
	f.snap()
	name, err := newOrphan(f)
	if err != nil {
		t.Fatal(err)
	}
	// The local clock is not the store's: a gc whose host runs a day
	// ahead still keeps the orphan.
	ahead := func() time.Time { return time.Now().Add(48 * time.Hour) }
	rep, err := f.repo.GC(f.ctx, gc.Options{Grace: 24 * time.Hour, Now: ahead})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphanPacks != 0 || rep.YoungOrphans != 1 || rep.YoungBytes == 0 || rep.Condemned != 0 {
		t.Fatalf("report = %+v, want the young orphan kept", rep)
	}
	if _, err := f.store.Stat(f.ctx, name); err != nil {
		t.Fatalf("young orphan deleted: %v", err)
	}
	if m := resumeMarkers(t, f); len(m) != 1 {
		t.Fatalf("markers after gc kept a young orphan: %v, want one", m)
	}
	f.checkOK()

	// 25 hours later in store time: condemned, not yet deleted.
	age(t, packPath(f, name), 25*time.Hour)
	rep, err = f.repo.GC(f.ctx, gc.Options{Grace: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphanPacks != 1 || rep.YoungOrphans != 0 || rep.Condemned != 1 || rep.RemovedPacks != 0 || rep.WaitingPacks != 1 {
		t.Fatalf("report = %+v, want the old orphan condemned", rep)
	}
	if _, err := f.store.Stat(f.ctx, name); err != nil {
		t.Fatalf("condemned orphan deleted before its plan aged: %v", err)
	}
	// Again at once: the plan waits, the orphan is not condemned twice.
	if rep, err = f.repo.GC(f.ctx, gc.Options{Grace: 24 * time.Hour}); err != nil || rep.Condemned != 0 || rep.WaitingPacks != 1 || rep.RemovedPacks != 0 {
		t.Fatalf("second gc: %+v, %v; want the plan waiting", rep, err)
	}
	// The plan 25 hours old in store time: carried out.
	for _, p := range planFiles(t, f) {
		age(t, p, 25*time.Hour)
	}
	rep, err = f.repo.GC(f.ctx, gc.Options{Grace: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RemovedPacks != 1 || rep.WaitingPacks != 0 || rep.BytesFreed <= 0 {
		t.Fatalf("report = %+v, want the condemned orphan removed", rep)
	}
	if _, err := f.store.Stat(f.ctx, name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("old orphan still there: %v", err)
	}
	if p := planFiles(t, f); len(p) != 0 {
		t.Fatalf("carried out plans still there: %v", p)
	}
	if m := resumeMarkers(t, f); len(m) != 0 {
		t.Fatalf("markers after gc removed every orphan: %v", m)
	}

	// No grace: today's behaviour, the orphan goes at once.
	if name, err = newOrphan(f); err != nil {
		t.Fatal(err)
	}
	if rep, err = f.repo.GC(f.ctx, gc.Options{}); err != nil || rep.OrphanPacks != 1 || rep.RemovedPacks != 1 {
		t.Fatalf("gc with no grace: %+v, %v", rep, err)
	}
	if _, err := f.store.Stat(f.ctx, name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("orphan still there after gc --grace 0: %v", err)
	}
	f.checkOK()
}

// age moves a file's modification time back by d: in a directory
// repository that is the store's clock, so the file is d older in store
// time.
func age(t *testing.T, path string, d time.Duration) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	old := fi.ModTime().Add(-d)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func packPath(f *fixture, name string) string {
	return filepath.Join(f.repo.Dir, "packs", name[:2], name+".pack")
}

// planFiles lists the gc plans of the fixture's repository.
func planFiles(t *testing.T, f *fixture) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(f.repo.Dir, "gc"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, filepath.Join(f.repo.Dir, "gc", de.Name()))
	}
	return out
}

// TestGCGraceKeepsUndatedOrphans: a store that cannot date its packs
// keeps every orphan while there is a grace period.
func TestGCGraceKeepsUndatedOrphans(t *testing.T) {
	f := newFixture(t)
	f.write("a.bin", random(100<<10))
	f.snap()
	if _, err := newOrphan(f); err != nil {
		t.Fatal(err)
	}
	// The same packs, through a Store that cannot date them.
	undated := struct{ blobstore.Store }{f.store}
	db, err := catalog.Open(f.ctx, f.repo.CatalogPath(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := gc.Run(f.ctx, db, undated, gc.Options{Grace: time.Hour, Now: func() time.Time { return time.Now().Add(1000 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphanPacks != 0 || rep.YoungOrphans != 1 {
		t.Fatalf("report = %+v, want the undated orphan kept", rep)
	}
}

func resumeMarkers(t *testing.T, f *fixture) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(f.repo.Dir, "local", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "resume-") {
			out = append(out, de.Name())
		}
	}
	return out
}

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
// than it stays (and gc leaves the marker that makes the next snapshot
// look for it); once older, or with no grace, it goes.
func TestGCGraceKeepsYoungOrphans(t *testing.T) {
	f := newFixture(t)
	f.write("a.bin", random(100<<10))
	f.snap()
	name, err := newOrphan(f)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rep, err := f.repo.GC(f.ctx, gc.Options{Grace: 24 * time.Hour, Now: func() time.Time { return now.Add(23 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphanPacks != 0 || rep.YoungOrphans != 1 || rep.YoungBytes == 0 {
		t.Fatalf("report = %+v, want the young orphan kept", rep)
	}
	if _, err := f.store.Stat(f.ctx, name); err != nil {
		t.Fatalf("young orphan deleted: %v", err)
	}
	if m := resumeMarkers(t, f); len(m) != 1 {
		t.Fatalf("markers after gc kept a young orphan: %v, want one", m)
	}
	f.checkOK()

	rep, err = f.repo.GC(f.ctx, gc.Options{Grace: 24 * time.Hour, Now: func() time.Time { return now.Add(25 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OrphanPacks != 1 || rep.YoungOrphans != 0 {
		t.Fatalf("report = %+v, want the old orphan removed", rep)
	}
	if _, err := f.store.Stat(f.ctx, name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("old orphan still there: %v", err)
	}
	if m := resumeMarkers(t, f); len(m) != 0 {
		t.Fatalf("markers after gc removed every orphan: %v", m)
	}

	// No grace: today's behaviour, the orphan goes at once.
	if name, err = newOrphan(f); err != nil {
		t.Fatal(err)
	}
	if rep, err = f.repo.GC(f.ctx, gc.Options{}); err != nil || rep.OrphanPacks != 1 {
		t.Fatalf("gc with no grace: %+v, %v", rep, err)
	}
	f.checkOK()
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

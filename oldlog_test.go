package cairn_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/restore"
)

// TestOlderLogKeepsWorking opens a format-2 repository written by cairn
// before several writers could share one (main at d68d12e: record version
// 1, a catalog of schema 9), made by testdata/format2-record-v1.tar.gz's
// session: 4 snapshots of src, snapshot 2 forgotten (so the next one gave
// the ids of its deleted content again, as max+1 did), two gcs that merged
// packs. This cairn migrates the catalog, check's replay of the old log
// gives the rows the old cairn made, ids included, a rebuild from the log
// too, every snapshot restores, and it carries on.
func TestOlderLogKeepsWorking(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	untar(t, "testdata/format2-record-v1.tar.gz", dir)
	repoDir := filepath.Join(dir, "repo")
	t.Setenv("CAIRN_LOCAL_DIR", "")
	checkOK := func(label string) {
		t.Helper()
		repo, err := cairn.Open(ctx, repoDir, cairn.Options{})
		if err != nil {
			t.Fatalf("%s: open: %v", label, err)
		}
		defer repo.Close()
		rep, err := repo.Check(ctx, true)
		if err != nil || len(rep.Problems) > 0 {
			t.Fatalf("%s: check: %v, %v", label, err, rep.Problems)
		}
	}
	checkOK("the old repository")
	if _, err := cairn.RepairCatalog(ctx, repoDir, cairn.Options{}); err != nil {
		t.Fatal(err)
	}
	checkOK("rebuilt from the old log")
	repo, err := cairn.Open(ctx, repoDir, cairn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	snaps, err := repo.Snapshots(ctx, cairn.SnapshotFilter{})
	if err != nil || len(snaps) != 3 || snaps[2].ID != 4 {
		t.Fatalf("snapshots %+v, %v; want 1, 3, 4", snaps, err)
	}
	// The newest snapshot is the tree the tarball holds beside it; it was
	// recorded under another path, so restore by snapshot into a new dir.
	src := filepath.Join(dir, "src")
	req, _, err := repo.Resolve(ctx, snaps[2].Source, snaps[2].ID, false)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "to")
	if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
		t.Fatal(err)
	}
	// The tarball keeps mtimes to the second: compare the bytes.
	names, _ := filepath.Glob(filepath.Join(src, "*"))
	got, _ := filepath.Glob(filepath.Join(to, "*"))
	if len(names) != 7 || len(got) != len(names) {
		t.Fatalf("restored %d files, the tree has %d", len(got), len(names))
	}
	for _, n := range names {
		want, _ := os.ReadFile(n)
		have, err := os.ReadFile(filepath.Join(to, filepath.Base(n)))
		if err != nil || string(have) != string(want) {
			t.Errorf("%s restored differently (%v)", filepath.Base(n), err)
		}
	}
	if _, err := repo.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if rep, err := repo.Check(ctx, true); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("check after gc: %v, %v", err, rep.Problems)
	}
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o700)
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)&0o777); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, h.ModTime, h.ModTime)
		}
	}
}

package gc_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/gc"
)

// copyDir copies a repository of regular files and directories.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storedPacks lists the packs of the repository in dir through its store.
func storedPacks(t *testing.T, dir string) map[string]bool {
	t.Helper()
	store, err := blobstore.NewLocal(filepath.Join(dir, "packs"), filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	out := map[string]bool{}
	err = store.List(context.Background(), func(name string, size int64) error {
		out[name] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const pageSize = 4096 // cairn's catalogs use SQLite's default

// TestGCNeverDeletesLivePacksFromDamagedCatalog replays the tester's
// attack: damage one page of catalog.db (a stale copy of the page from an
// earlier state of the catalog, zeros, or flipped bytes), run gc, and
// require every live pack to survive. One stale page of the
// version_by_content index once made gc delete 3 of 16 packs while
// quick_check said ok.
func TestGCNeverDeletesLivePacksFromDamagedCatalog(t *testing.T) {
	// Format 1: a repository with a log rebuilds a damaged catalog from it
	// first (internal/crashtest TestGCRefusesStaleIndex); this test is
	// about a catalog that is the only copy.
	f := newFormat1Fixture(t)
	const files = 16
	var states []string // the catalog at earlier times: sources of stale pages
	for i := 1; i <= files; i++ {
		f.write(fmt.Sprintf("f%02d.bin", i), random(4<<10)) // incompressible: a pack each
		f.snap()
		if i%4 == 0 {
			states = append(states, snapshotCatalog(t, f))
		}
	}
	for i := 1; i <= files/2; i++ {
		os.Remove(filepath.Join(f.src, fmt.Sprintf("f%02d.bin", i)))
	}
	last := f.snap()
	ids := make([]int64, 0, files)
	for id := int64(1); id < last; id++ {
		ids = append(ids, id)
	}
	states = append(states, snapshotCatalog(t, f)) // every snapshot still there
	if _, err := f.repo.Forget(f.ctx, cairn.ForgetOptions{IDs: ids}); err != nil {
		t.Fatal(err)
	}
	pristine := filepath.Dir(snapshotCatalog(t, f)) // half the packs now dead
	f.repo.Close()

	// What a healthy gc keeps is what is live.
	healthy := filepath.Join(t.TempDir(), "healthy")
	copyDir(t, pristine, healthy)
	runGC(t, healthy)
	live := storedPacks(t, healthy)
	if all := storedPacks(t, pristine); len(all) != files || len(live) != files/2 {
		t.Fatalf("fixture: %d packs, %d live after gc; want %d and %d", len(all), len(live), files, files/2)
	}

	catalog, err := os.ReadFile(filepath.Join(pristine, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	pages := len(catalog) / pageSize
	type damage struct {
		name string
		page func(p []byte, n int)
	}
	var damages []damage
	for i, path := range states {
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		damages = append(damages, damage{fmt.Sprintf("stale (state %d)", i+1), func(p []byte, n int) { copyPage(p, old, n) }})
	}
	damages = append(damages, []damage{
		{"zeroed", func(p []byte, n int) { clear(p) }},
		{"flipped", func(p []byte, n int) {
			for i := 100; i < len(p); i += 397 {
				p[i] ^= 0x5a
			}
		}},
	}...)
	if testing.Short() {
		damages = damages[1:2] // the state that once lost 8 of 8 live packs
	}
	ran, refused := 0, 0
	for n := 1; n < pages; n++ { // page 1 holds the header: the open refuses it
		for _, d := range damages {
			dir := filepath.Join(t.TempDir(), "repo")
			copyDir(t, pristine, dir)
			damaged := append([]byte(nil), catalog...)
			d.page(damaged[n*pageSize:(n+1)*pageSize], n)
			if string(damaged) == string(catalog) {
				continue // the page did not change between the states
			}
			if err := os.WriteFile(filepath.Join(dir, "catalog.db"), damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			ran++
			if err := tryGC(dir); err != nil {
				refused++
			}
			after := storedPacks(t, dir)
			var lost []string
			for name := range live {
				if !after[name] {
					lost = append(lost, name[:12])
				}
			}
			if len(lost) > 0 {
				sort.Strings(lost)
				t.Errorf("page %d %s: gc deleted %d of %d live packs: %v", n+1, d.name, len(lost), len(live), lost)
			}
		}
	}
	t.Logf("%d pages, %d damaged catalogs, gc refused (or could not open) %d", pages, ran, refused)
}

// copyPage overwrites p with page n of an older catalog (zeros past its end).
func copyPage(p, old []byte, n int) {
	clear(p)
	if (n+1)*pageSize <= len(old) {
		copy(p, old[n*pageSize:])
	}
}

// snapshotCatalog checkpoints the catalog and copies it aside.
func snapshotCatalog(t *testing.T, f *fixture) string {
	t.Helper()
	if err := f.repo.Checkpoint(f.ctx); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.repo.CatalogPath())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "catalog.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// With the packs beside it, a copy is a whole repository.
	copyDir(t, filepath.Join(f.repo.Dir, "packs"), filepath.Join(filepath.Dir(path), "packs"))
	return path
}

func tryGC(dir string) error {
	ctx := context.Background()
	repo, err := cairn.Open(ctx, dir, cairn.Options{})
	if err != nil {
		return err
	}
	defer repo.Close()
	// MaxUnused 1 never repacks and NoMerge never merges: every pack gc
	// removes is one it decided was dead, the decision under test.
	_, err = repo.GC(ctx, gc.Options{MaxUnused: 1, NoMerge: true})
	return err
}

func runGC(t *testing.T, dir string) {
	t.Helper()
	if err := tryGC(dir); err != nil {
		t.Fatal(err)
	}
}

// TestGCRefusesDanglingReferences: rows removed from the catalog behind
// its back (foreign keys off), so that a version names a content that is
// gone, or a content lists a chunk that is gone. The pages are whole and
// integrity_check passes; the chunks look unreferenced, but the snapshot
// still needs them. gc must delete nothing.
func TestGCRefusesDanglingReferences(t *testing.T) {
	for name, stmt := range map[string]string{
		"content gone": "DELETE FROM content",
		"chunk gone":   "DELETE FROM chunk",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.write("a.bin", random(8<<10))
			f.snap()
			dir, cat := f.repo.Dir, f.repo.CatalogPath()
			f.repo.Close()
			db, err := sql.Open("sqlite3", "file:"+cat+"?_foreign_keys=off")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
			db.Close()
			before := storedPacks(t, dir)
			err = tryGC(dir)
			if !errors.Is(err, gc.ErrUnsafe) {
				t.Fatalf("gc = %v, want ErrUnsafe", err)
			}
			if after := storedPacks(t, dir); len(after) != len(before) {
				t.Fatalf("gc deleted packs: %d before, %d after", len(before), len(after))
			}
		})
	}
}

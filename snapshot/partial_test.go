package snapshot

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/catalog"
)

// TestPartialMatchesFull applies random changes to a tree and after each
// round takes a partial snapshot (given the paths it changed) into one
// repository and a full snapshot into another: both must commit the same
// files and totals. The repository of the partial snapshots lives inside
// the source, as a watched home directory's would.
func TestPartialMatchesFull(t *testing.T) {
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	rng := rand.New(rand.NewPCG(seed, 14))
	tr := &randomTree{t: t, root: src, rng: rng}
	tr.build()
	repoDir := filepath.Join(src, ".repo")
	partial := newRepo(t, repoDir)
	full := newRepo(t, filepath.Join(base, "full"))
	skip := []string{repoDir}

	dbPath := filepath.Join(src, "db", "app.db")
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		t.Fatal(err)
	}
	// Kept open, so that commits stay in the -wal: the watcher sees only
	// that file change, and the database must still be read again.
	db := openDB(t, dbPath, "_journal_mode=WAL")
	mustExec(t, db, "CREATE TABLE t(x)")
	mustExec(t, db, "PRAGMA wal_autocheckpoint = 0")

	partial.snap(t, src, Options{Skip: skip})
	full.snap(t, src, Options{Skip: skip})
	same(t, partial, full, src, 0)
	for round := 1; round <= rounds; round++ {
		changed := append([]string{}, tr.change(1+rng.IntN(6))...) // never nil: nil asks for a full walk
		if rng.IntN(4) == 0 {
			mustExec(t, db, "INSERT INTO t VALUES (?)", strings.Repeat("row", rng.IntN(300)))
			changed = append(changed, "db/app.db-wal")
		}
		p := partial.snap(t, src, Options{Skip: skip, Changed: changed})
		f := full.snap(t, src, Options{Skip: skip})
		t.Logf("round %d: %v: partial %d new %d changed %d removed, full %d new %d changed %d removed",
			round, changed, p.New, p.Changed, p.Removed, f.New, f.Changed, f.Removed)
		if p.New != f.New || p.Changed != f.Changed || p.Removed != f.Removed {
			t.Errorf("round %d: partial counted %d/%d/%d new/changed/removed, full %d/%d/%d", round, p.New, p.Changed, p.Removed, f.New, f.Changed, f.Removed)
		}
		if want := !slices.Contains(changed, ".cairnignore"); p.Partial != want {
			t.Errorf("round %d: partial snapshot: Partial = %v, want %v", round, p.Partial, want)
		}
		if !same(t, partial, full, src, round) {
			t.Fatalf("seed %d: partial and full snapshots differ after round %d", seed, round)
		}
	}
}

// same compares the newest snapshot of src in two repositories: the files
// view and the snapshot's totals.
func same(t *testing.T, a, b *testRepo, src string, round int) bool {
	t.Helper()
	q := `SELECT f.path, f.type, f.mode, f.size, f.mtime_ns, coalesce(f.hash, ''), coalesce(f.link_target, ''),
		coalesce(f.json_valid, -1), coalesce(f.capture, ''), coalesce(f.db_check, '')
		FROM files f WHERE f.snapshot_id = (SELECT max(id) FROM snapshot) ORDER BY f.path`
	totals := `SELECT file_count, total_bytes FROM snapshot ORDER BY id DESC LIMIT 1`
	ga, gb := a.query(t, q), b.query(t, q)
	ok := true
	if !slices.Equal(ga, gb) {
		ok = false
		for _, r := range ga {
			if !slices.Contains(gb, r) {
				t.Errorf("round %d: only the partial snapshot has %s", round, r)
			}
		}
		for _, r := range gb {
			if !slices.Contains(ga, r) {
				t.Errorf("round %d: only the full snapshot has %s", round, r)
			}
		}
	}
	if ta, tb := a.query(t, totals), b.query(t, totals); !slices.Equal(ta, tb) {
		ok = false
		t.Errorf("round %d: partial totals %v, full %v", round, ta, tb)
	}
	return ok
}

// randomTree makes and changes a tree of files, directories and symlinks,
// with excludes, and reports the paths each change touched: what a
// watcher sees (for a removed or created tree, only its top).
type randomTree struct {
	t    *testing.T
	root string
	rng  *rand.Rand
	n    int
}

func (r *randomTree) build() {
	if err := os.MkdirAll(r.root, 0o755); err != nil {
		r.t.Fatal(err)
	}
	r.writeIgnore()
	for i := 0; i < 6; i++ {
		r.mkTree(r.pickDir())
	}
	for i := 0; i < 20; i++ {
		r.write(path.Join(r.pickDir(), r.name(".txt")))
	}
	r.write("cache/junk.txt")
	r.write("keep.json")
}

func (r *randomTree) abs(rel string) string { return filepath.Join(r.root, filepath.FromSlash(rel)) }

func (r *randomTree) name(ext string) string {
	r.n++
	exts := []string{ext, ext, ext, ".tmp", ".json", "-wal"}
	return fmt.Sprintf("n%d%s", r.n, exts[r.rng.IntN(len(exts))])
}

func (r *randomTree) writeIgnore() {
	pats := [][]string{{"*.tmp", "cache/"}, {"*.tmp"}, {"cache/", "n1*"}, {"*.tmp", "!n3*.tmp", "cache/"}}
	data := strings.Join(pats[r.rng.IntN(len(pats))], "\n") + "\n"
	if err := os.WriteFile(r.abs(".cairnignore"), []byte(data), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *randomTree) write(rel string) {
	data := strings.Repeat(fmt.Sprintf("%d ", r.rng.IntN(1000)), r.rng.IntN(2000))
	if strings.HasSuffix(rel, ".json") {
		data = fmt.Sprintf(`{"n":[%d]}`, r.rng.IntN(9))
	}
	writeFile(r.t, r.abs(rel), data)
}

func (r *randomTree) mkTree(dir string) string {
	top := path.Join(dir, r.name(""))
	if err := os.MkdirAll(r.abs(top), 0o755); err != nil {
		r.t.Fatal(err)
	}
	for i := r.rng.IntN(4); i > 0; i-- {
		r.write(path.Join(top, r.name(".txt")))
	}
	if r.rng.IntN(2) == 0 {
		sub := path.Join(top, r.name(""))
		r.write(path.Join(sub, r.name(".txt")))
	}
	return top
}

// list returns the tree's directories and other entries (the repository
// and the database aside).
func (r *randomTree) list() (dirs, others []string) {
	err := filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(r.root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".repo" || rel == "db":
			return filepath.SkipDir
		case rel == "." || rel == ".cairnignore":
		case d.IsDir():
			dirs = append(dirs, rel)
		default:
			others = append(others, rel)
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return dirs, others
}

func (r *randomTree) pickDir() string {
	dirs, _ := r.list()
	if len(dirs) == 0 || r.rng.IntN(4) == 0 {
		return "."
	}
	return dirs[r.rng.IntN(len(dirs))]
}

func (r *randomTree) pick() (string, bool) {
	_, others := r.list()
	if len(others) == 0 {
		return "", false
	}
	return others[r.rng.IntN(len(others))], true
}

// change makes n random changes and returns the paths they touched.
func (r *randomTree) change(n int) []string {
	var touched []string
	for ; n > 0; n-- {
		touched = append(touched, r.changeOne()...)
	}
	return touched
}

func (r *randomTree) changeOne() []string {
	t := r.t
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	switch r.rng.IntN(14) {
	case 0, 1: // create a file
		rel := path.Join(r.pickDir(), r.name(".txt"))
		r.write(rel)
		return []string{rel}
	case 2, 3: // modify a file
		if rel, ok := r.pick(); ok && !r.isLink(rel) {
			r.write(rel)
			return []string{rel}
		}
	case 4: // delete a file
		if rel, ok := r.pick(); ok {
			must(os.Remove(r.abs(rel)))
			return []string{rel}
		}
	case 5: // create a tree
		return []string{r.mkTree(r.pickDir())}
	case 6: // remove a tree
		if dir := r.pickDir(); dir != "." {
			must(os.RemoveAll(r.abs(dir)))
			return []string{dir}
		}
	case 7: // rename a file or a tree
		from, ok := r.pick()
		if r.rng.IntN(2) == 0 {
			from, ok = r.pickDir(), true
		}
		to := path.Join(r.pickDir(), r.name(".txt"))
		if !ok || from == "." || to == from || strings.HasPrefix(to, from+"/") {
			return nil
		}
		must(os.Rename(r.abs(from), r.abs(to)))
		return []string{from, to}
	case 8: // chmod
		rel := r.pickDir()
		modes := []fs.FileMode{0o755, 0o700, 0o750}
		if f, ok := r.pick(); ok && r.rng.IntN(2) == 0 && !r.isLink(f) {
			rel, modes = f, []fs.FileMode{0o644, 0o600, 0o640, 0o755}
		}
		must(os.Chmod(r.abs(rel), modes[r.rng.IntN(len(modes))]))
		return []string{rel}
	case 9: // a symlink
		rel := path.Join(r.pickDir(), r.name(""))
		must(os.Symlink(fmt.Sprintf("target-%d", r.rng.IntN(5)), r.abs(rel)))
		return []string{rel}
	case 10: // a file replaced by a directory
		if rel, ok := r.pick(); ok {
			must(os.Remove(r.abs(rel)))
			must(os.Mkdir(r.abs(rel), 0o755))
			r.write(path.Join(rel, r.name(".txt")))
			return []string{rel}
		}
	case 11: // a directory replaced by a file
		if dir := r.pickDir(); dir != "." {
			must(os.RemoveAll(r.abs(dir)))
			r.write(dir)
			return []string{dir}
		}
	case 12: // new excludes: the partial snapshot walks everything
		r.writeIgnore()
		return []string{".cairnignore"}
	case 13: // an mtime alone
		if rel, ok := r.pick(); ok && !r.isLink(rel) {
			when := time.Now().Add(-time.Duration(r.rng.IntN(1000)) * time.Hour)
			must(os.Chtimes(r.abs(rel), when, when))
			return []string{rel}
		}
	}
	return nil
}

func (r *randomTree) isLink(rel string) bool {
	fi, err := os.Lstat(r.abs(rel))
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// TestPartialLooksOnlyAtChanges checks that a partial snapshot loads only
// the live versions around what changed, and that nothing else is closed.
func TestPartialLooksOnlyAtChanges(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	for d := 0; d < 20; d++ {
		for f := 0; f < 20; f++ {
			writeFile(t, filepath.Join(src, fmt.Sprintf("d%02d/f%02d.txt", d, f)), fmt.Sprintf("file %d %d", d, f))
		}
	}
	backdate(t, src, time.Hour)
	r.snap(t, src, Options{})
	writeFile(t, filepath.Join(src, "d03/f07.txt"), "changed")
	writeFile(t, filepath.Join(src, "d05/new.txt"), "new")
	if err := os.RemoveAll(filepath.Join(src, "d09")); err != nil {
		t.Fatal(err)
	}
	res := r.snap(t, src, Options{Changed: []string{"d03/f07.txt", "d05/new.txt", "d09"}})
	if !res.Partial {
		t.Fatal("the snapshot walked everything")
	}
	if res.New != 1 || res.Changed != 3 || res.Removed != 21 { // changed: the file, d03 and d05 (mtime) ... and "." for d09
		t.Logf("got %d new, %d changed, %d removed", res.New, res.Changed, res.Removed)
	}
	// Looked at: d03's 20 files, d05's 21, d09 and its 20, the root and its 20 dirs; far fewer than 421.
	if looked := res.New + res.Changed + res.Unchanged + res.Removed; looked > 110 {
		t.Errorf("the partial snapshot looked at %d paths, want about 100", looked)
	}
	live := r.livePaths(t, src)
	if want := 1 + 19 + 19*20 + 1; len(live) != want {
		t.Errorf("%d live paths, want %d", len(live), want)
	}
	ctx := context.Background()
	s, err := r.db.SnapshotByID(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.FileCount != 19*20+1 {
		t.Errorf("snapshot counts %d files, want %d", s.FileCount, 19*20+1)
	}
	v, err := r.db.VersionAt(ctx, s, "d03/f07.txt")
	if err != nil || v.Size != int64(len("changed")) {
		t.Errorf("d03/f07.txt in the partial snapshot: %+v, %v", v, err)
	}
	if _, err := r.db.VersionAt(ctx, s, "d09/f00.txt"); err != catalog.ErrNotFound {
		t.Errorf("d09/f00.txt still in the snapshot: %v", err)
	}
}

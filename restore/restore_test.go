package restore

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/internal/atomicfile"
	"github.com/cairn-dev/cairn/snapshot"
	"github.com/cairn-dev/cairn/snapshotfs"
)

// testRepo is a repository laid out as cairn.Open lays it out.
type testRepo struct {
	dir   string
	db    *catalog.DB
	store *blobstore.Local
}

func newRepo(t *testing.T) *testRepo {
	t.Helper()
	dir := t.TempDir()
	db, err := catalog.Open(context.Background(), filepath.Join(dir, "catalog.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	store, err := blobstore.NewLocal(filepath.Join(dir, "packs"), filepath.Join(dir, "tmp"))
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.Close()
		db.Close()
	})
	return &testRepo{dir: dir, db: db, store: store}
}

func (r *testRepo) deps() Deps { return Deps{DB: r.db, Store: r.store} }

// cat reads one file of snapshot s through the snapshot's view, as the
// root package's Cat does.
func (r *testRepo) cat(s catalog.Snapshot, rel string) ([]byte, error) {
	view, err := snapshotfs.New(context.Background(), r.db, r.store, nil, s.ID)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(view, rel)
}

// snap snapshots src and returns the snapshot.
func (r *testRepo) snap(t *testing.T, src string) catalog.Snapshot {
	t.Helper()
	ctx := context.Background()
	res, err := snapshot.Run(ctx, snapshot.Deps{DB: r.db, Store: r.store, TmpDir: filepath.Join(r.dir, "tmp"), Params: chunker.Default}, src, snapshot.Options{})
	if err != nil {
		t.Fatalf("snapshot %s: %v", src, err)
	}
	s, err := r.db.SnapshotByID(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// restored is a Result with the error Run returned beside it.
type restored struct {
	*Result
	err error
}

func (r restored) Err() error { return r.err }

// errs lists the errors of the refused or failed items.
func (r restored) errs() []error {
	var out []error
	for _, it := range r.Failed() {
		out = append(out, it.Err)
	}
	return out
}

// restore plans and executes one request; a path that fails is in the
// result, an error that stops the whole restore fails the test.
func (r *testRepo) restore(t *testing.T, s catalog.Snapshot, rel string, opts Options) restored {
	t.Helper()
	res, err := Run(context.Background(), r.deps(), []Request{{Snapshot: s, Path: rel, UserPath: rel}}, opts)
	if res == nil {
		t.Fatalf("restore %s: %v", rel, err)
	}
	return restored{res, err}
}

func writeFile(t *testing.T, path, data string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
}

// backdate moves every mtime under root an hour back, out of cairn's racy
// window.
func backdate(t *testing.T, root string) {
	t.Helper()
	when := time.Now().Add(-time.Hour).Truncate(time.Second)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			os.Chtimes(p, when, when)
		}
		return err
	})
}

func itemsByRel(res restored) map[string]Item {
	m := map[string]Item{}
	for _, it := range res.Items {
		m[it.Rel] = it
	}
	return m
}

func ino(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// assertNoTemps fails if a restore temp file is left anywhere under dir.
func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), atomicfile.TempPrefix) {
			t.Errorf("temp file left behind: %s", p)
		}
		return nil
	})
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{".", "a", "a/b", "a b/c.txt", ".env", "..a", "a..", "a/..b", "…"} {
		if err := checkPath(p); err != nil {
			t.Errorf("checkPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "..", "../x", "a/../../x", "a/..", "/abs/x", "/", "./a", "a/./b", "a//b", "a/", "a\x00b"} {
		if err := checkPath(p); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("checkPath(%q) = %v, want ErrUnsafePath", p, err)
		}
	}
}

// The recorded mode comes back exactly, a secret's included; only an
// unknown mode (0) gets a default, 0600 for a secret.
func TestModeOf(t *testing.T) {
	pl := &planner{euid: 1000}
	for _, c := range []struct {
		rel      string
		recorded uint32
		want     fs.FileMode
	}{
		{"tls/cert.pem", 0o644, 0o644}, {".env", 0o644, 0o644}, {"id.key", 0o400, 0o400}, {"run.sh", 0o755, 0o755},
		{".env", 0, 0o600}, {"x/.env.local", 0, 0o600}, {"cert.pem", 0, 0o600}, {"auth.json", 0, 0o600}, {"data.txt", 0, 0o644},
	} {
		v := &catalog.Version{Path: c.rel, Type: catalog.TypeFile, Mode: c.recorded, UID: -1, GID: -1}
		if got, _, _ := pl.modeOf(v, 0o644); got != c.want {
			t.Errorf("modeOf(%s, %#o) = %#o, want %#o", c.rel, c.recorded, got, c.want)
		}
	}
}

func TestRuntimePatterns(t *testing.T) {
	for rel, want := range map[string]bool{
		"x.pid": true, "run/a.lock": true, "s.sock": true, "pid": false, "x.pid.txt": false, "lockfile": false, "app.tmp": true,
	} {
		if got := isRuntime(rel, []string{"*.tmp"}); got != want {
			t.Errorf("isRuntime(%s) = %v, want %v", rel, got, want)
		}
	}
}

// A full restore puts back contents, modes, mtimes, directories and links.
func TestRestoreTree(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	files := map[string]string{"a.txt": "alpha", "sub/b.txt": "bravo", "sub/deep/c.bin": strings.Repeat("\x00\x01", 70000), "empty": ""}
	for rel, data := range files {
		writeFile(t, filepath.Join(src, rel), data, 0o644)
	}
	os.Chmod(filepath.Join(src, "sub/b.txt"), 0o755)
	os.Symlink("sub/b.txt", filepath.Join(src, "link"))
	os.Chmod(filepath.Join(src, "sub/deep"), 0o700)
	backdate(t, src)
	s := r.snap(t, src)

	to := filepath.Join(t.TempDir(), "out")
	res := r.restore(t, s, ".", Options{To: to})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if res.Written != len(files)+1 {
		t.Errorf("Written = %d, want %d files and the link", res.Written, len(files)+1)
	}
	for rel, data := range files {
		p := filepath.Join(to, rel)
		b, err := os.ReadFile(p)
		if err != nil || string(b) != data {
			t.Errorf("%s: %v, content differs", rel, err)
		}
		want, _ := os.Stat(filepath.Join(src, rel))
		got, _ := os.Stat(p)
		if got.Mode() != want.Mode() || !got.ModTime().Equal(want.ModTime()) {
			t.Errorf("%s: mode %v mtime %v, want %v %v", rel, got.Mode(), got.ModTime(), want.Mode(), want.ModTime())
		}
	}
	for _, dir := range []string{"sub", "sub/deep"} {
		want, _ := os.Stat(filepath.Join(src, dir))
		got, _ := os.Stat(filepath.Join(to, dir))
		if got.Mode() != want.Mode() || !got.ModTime().Equal(want.ModTime()) {
			t.Errorf("dir %s: mode %v mtime %v, want %v %v", dir, got.Mode(), got.ModTime(), want.Mode(), want.ModTime())
		}
	}
	if target, err := os.Readlink(filepath.Join(to, "link")); err != nil || target != "sub/b.txt" {
		t.Errorf("link = %q, %v", target, err)
	}
	assertNoTemps(t, to)

	// One subtree, under --to, gets its parents made.
	to2 := t.TempDir()
	res = r.restore(t, s, "sub/deep", Options{To: to2})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(to2, "sub/deep/c.bin")); err != nil || string(b) != files["sub/deep/c.bin"] {
		t.Errorf("subtree restore: %v", err)
	}
	if _, err := os.Stat(filepath.Join(to2, "a.txt")); err == nil {
		t.Error("a subtree restore wrote outside the subtree")
	}
	// A path the snapshot does not have.
	if _, err := Run(context.Background(), r.deps(), []Request{{Snapshot: s, Path: "nope", UserPath: "nope"}}, Options{To: to2}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("restore of a missing path = %v, want ErrNotFound", err)
	}
}

func TestUnsafeCatalogPathsAreRefused(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	parent := t.TempDir()
	src := filepath.Join(parent, "src")
	for _, name := range []string{"a.txt", "b.txt", "c.txt", "keep.txt"} {
		writeFile(t, filepath.Join(src, name), "content of "+name, 0o644)
	}
	backdate(t, src)
	s := r.snap(t, src)
	tampered := map[string]string{"a.txt": "../escape.txt", "b.txt": "/abs/x", "c.txt": "sub/../../../deep-escape.txt"}
	err := r.db.Write(ctx, func(tx *sql.Tx) error {
		for from, to := range tampered {
			if _, err := tx.Exec("UPDATE version SET path = ? WHERE path = ?", to, from); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	unsafeErrors := func(res restored) int {
		n := 0
		for _, err := range res.errs() {
			if !errors.Is(err, ErrUnsafePath) {
				t.Errorf("unexpected error: %v", err)
			}
			n++
		}
		return n
	}

	target := filepath.Join(parent, "target")
	res := r.restore(t, s, ".", Options{To: target})
	if n := unsafeErrors(res); n != len(tampered) {
		t.Errorf("%d ErrUnsafePath errors, want %d: %v", n, len(tampered), res.errs())
	}
	if b, err := os.ReadFile(filepath.Join(target, "keep.txt")); err != nil || string(b) != "content of keep.txt" {
		t.Errorf("the safe file was not restored: %v", err)
	}
	if got := listDir(t, target); !slices.Equal(got, []string{"keep.txt"}) {
		t.Errorf("target holds %v, want only keep.txt", got)
	}
	// In place, the source's parent is what an escape would reach.
	os.RemoveAll(src)
	res = r.restore(t, s, ".", Options{})
	if n := unsafeErrors(res); n != len(tampered) {
		t.Errorf("in place: %d ErrUnsafePath errors, want %d", n, len(tampered))
	}
	if got := listDir(t, parent); !slices.Equal(got, []string{"src", "target"}) {
		t.Errorf("the parent directory holds %v: something escaped", got)
	}
	if _, err := os.Lstat("/abs/x"); err == nil {
		t.Error("/abs/x exists")
	}
	// A dry run reports them too.
	res = r.restore(t, s, ".", Options{To: filepath.Join(parent, "dry"), DryRun: true})
	if n := unsafeErrors(res); n != len(tampered) {
		t.Errorf("dry run: %d ErrUnsafePath errors", n)
	}
	if got := listDir(t, parent); !slices.Equal(got, []string{"src", "target"}) {
		t.Errorf("after the dry run the parent holds %v", got)
	}
	// Asked for by name, they are refused before anything is looked up.
	for _, p := range []string{"../escape.txt", "/abs/x"} {
		if _, err := Run(ctx, r.deps(), []Request{{Snapshot: s, Path: p, UserPath: p}}, Options{To: target}); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("Run(%s) = %v, want ErrUnsafePath", p, err)
		}
	}
	if got := listDir(t, parent); !slices.Equal(got, []string{"src", "target"}) {
		t.Errorf("the parent directory holds %v", got)
	}
}

func TestRuntimeFilesAreKept(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	for name, data := range map[string]string{"x.pid": "123", "a.lock": "lock", "run/app.lock": "l", "data.txt": "data", "scratch.tmp": "tmp"} {
		writeFile(t, filepath.Join(src, name), data, 0o644)
	}
	backdate(t, src)
	s := r.snap(t, src)
	to := t.TempDir()
	res := r.restore(t, s, ".", Options{To: to, Runtime: []string{"*.tmp"}})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	acts := itemsByRel(res)
	for _, rel := range []string{"x.pid", "a.lock", "run/app.lock", "scratch.tmp"} {
		if a := acts[rel]; a.Kind != KindKeepRuntime {
			t.Errorf("%s: action %+v, want kept", rel, a)
		}
		if _, err := os.Lstat(filepath.Join(to, rel)); err == nil {
			t.Errorf("runtime file %s was written", rel)
		}
	}
	if acts["data.txt"].Kind != KindWrite || res.Written != 1 {
		t.Errorf("data.txt: %+v, written %d", acts["data.txt"], res.Written)
	}
	// In place, a live runtime file is left alone.
	writeFile(t, filepath.Join(src, "x.pid"), "456", 0o644)
	res = r.restore(t, s, "x.pid", Options{})
	if b, _ := os.ReadFile(filepath.Join(src, "x.pid")); string(b) != "456" || itemsByRel(res)["x.pid"].Kind != KindKeepRuntime {
		t.Errorf("in-place x.pid = %q, actions %+v", b, res.Items)
	}
}

// Recorded modes come back exactly, a public certificate's included
// (restore used to force every *.pem and *.key to 0600); a mode that is
// not known (0, as from an archive without modes) gets 0600 for a secret.
func TestSecretModes(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	src := t.TempDir()
	recorded := map[string]fs.FileMode{".env": 0o644, "id.key": 0o644, "conf/.env.prod": 0o664, "tls/cert.pem": 0o644,
		"tls/private.pem": 0o400, "data.txt": 0o640, "run.sh": 0o755, "unknown.env/.env": 0o644, "unknown.txt": 0o644}
	for rel, mode := range recorded {
		writeFile(t, filepath.Join(src, rel), "secret "+rel, mode)
	}
	backdate(t, src)
	s := r.snap(t, src)
	// An imported archive without modes records 0.
	if err := r.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE version SET mode = 0 WHERE path IN ('unknown.env/.env', 'unknown.txt')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{}
	for rel, m := range recorded {
		want[rel] = m
	}
	want["unknown.env/.env"], want["unknown.txt"] = 0o600, 0o644
	to := t.TempDir()
	if err := r.restore(t, s, ".", Options{To: to}).Err(); err != nil {
		t.Fatal(err)
	}
	for rel, m := range want {
		fi, err := os.Stat(filepath.Join(to, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != m {
			t.Errorf("%s recorded %#o restored %#o, want %#o", rel, recorded[rel], fi.Mode().Perm(), m)
		}
	}
}

func createDB(t *testing.T, path string, rows int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < ?) INSERT INTO item(body) SELECT 'item ' || i FROM c"} {
		if _, err := db.Exec(q, rows); err != nil {
			t.Fatal(err)
		}
	}
}

func checkDB(t *testing.T, path string) (rows int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check of %s = %q, %v", path, res, err)
	}
	if err := db.QueryRow("SELECT count(*) FROM item").Scan(&rows); err != nil {
		t.Errorf("count rows of %s: %v", path, err)
	}
	return rows
}

// A restored database replaces the old one whole: a -wal left by the old
// one must not be replayed over it.
func TestDatabaseRestoreRemovesStaleSidecars(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	createDB(t, filepath.Join(src, "app.db"), 500)
	backdate(t, src)
	s := r.snap(t, src)

	// The target holds another database with committed frames still in
	// its -wal, as a crashed program leaves it.
	to := t.TempDir()
	old := filepath.Join(to, "app.db")
	db, err := sql.Open("sqlite3", "file:"+old+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA wal_autocheckpoint = 0", "CREATE TABLE other(x)",
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2000) INSERT INTO other SELECT randomblob(100) FROM c"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	wal, _ := os.ReadFile(old + "-wal")
	shm, _ := os.ReadFile(old + "-shm")
	db.Close()
	if len(wal) == 0 {
		t.Fatal("no -wal to leave behind")
	}
	os.WriteFile(old+"-wal", wal, 0o644)
	os.WriteFile(old+"-shm", shm, 0o644)

	res := r.restore(t, s, "app.db", Options{To: to})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if a := itemsByRel(res)["app.db"]; a.Kind != KindWrite {
		t.Errorf("action %+v, want write", a)
	}
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Lstat(old + side); err == nil {
			t.Errorf("stale %s left beside the restored database", side)
		}
	}
	if n := checkDB(t, old); n != 500 {
		t.Errorf("restored database has %d rows, want 500", n)
	}
	assertNoTemps(t, to)
}

// corrupt flips a byte in the middle of a content's first stored chunk.
func (r *testRepo) corrupt(t *testing.T, s catalog.Snapshot, rel string) {
	t.Helper()
	r.corruptChunk(t, s, rel, 0)
}

// corruptChunk flips a byte in the middle of the blob holding a content's
// chunk k (negative: counted from the end).
func (r *testRepo) corruptChunk(t *testing.T, s catalog.Snapshot, rel string, k int) {
	t.Helper()
	ctx := context.Background()
	v, err := r.db.VersionAt(ctx, s, rel)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.db.ContentByID(ctx, v.ContentID)
	if err != nil || len(c.Chunks) == 0 {
		t.Fatalf("content of %s: %v", rel, err)
	}
	if k < 0 {
		k += len(c.Chunks)
	}
	l := c.Chunks[k]
	pack := filepath.Join(r.dir, "packs", l.Pack[:2], l.Pack+".pack")
	if err := os.Chmod(pack, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(pack, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off := l.Offset + l.Length/2
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptPackLeavesTargetUntouched(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	data := make([]byte, 300<<10)
	rand.Read(data)
	writeFile(t, filepath.Join(src, "big.bin"), string(data), 0o644)
	writeFile(t, filepath.Join(src, "small.txt"), "fine", 0o644)
	backdate(t, src)
	s := r.snap(t, src)
	r.corrupt(t, s, "big.bin")

	to := t.TempDir()
	target := filepath.Join(to, "big.bin")
	writeFile(t, target, "the old file", 0o644)
	before := ino(t, target)
	res := r.restore(t, s, ".", Options{To: to})
	err := res.Err()
	if !errors.Is(err, blobstore.ErrCorrupt) {
		t.Fatalf("restore of a corrupt chunk: %v, want ErrCorrupt", err)
	}
	if len(res.errs()) != 1 {
		t.Errorf("errors = %v, want one (big.bin)", res.errs())
	}
	if b, _ := os.ReadFile(target); string(b) != "the old file" || ino(t, target) != before {
		t.Errorf("the existing file was replaced: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(to, "small.txt")); string(b) != "fine" {
		t.Error("the intact file was not restored")
	}
	assertNoTemps(t, to)
	// Nothing is created where nothing was.
	fresh := t.TempDir()
	r.restore(t, s, "big.bin", Options{To: fresh})
	if got := listDir(t, fresh); len(got) != 0 {
		t.Errorf("a failed restore left %v", got)
	}
	if _, err := r.cat(s, "big.bin"); !errors.Is(err, blobstore.ErrCorrupt) {
		t.Errorf("cat of a corrupt file = %v, want ErrCorrupt", err)
	}
}

func TestInPlaceRestore(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "same.txt"), "unchanged content", 0o644)
	writeFile(t, filepath.Join(src, "mode.txt"), "mode changes", 0o644)
	writeFile(t, filepath.Join(src, "edited.txt"), "original", 0o644)
	backdate(t, src)
	s := r.snap(t, src)

	same := filepath.Join(src, "same.txt")
	sameIno := ino(t, same)
	os.Chmod(filepath.Join(src, "mode.txt"), 0o600)
	modeIno := ino(t, filepath.Join(src, "mode.txt"))
	writeFile(t, filepath.Join(src, "edited.txt"), "edited!!", 0o644)

	res := r.restore(t, s, ".", Options{})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	acts := itemsByRel(res)
	if acts["same.txt"].Kind != KindUnchanged || acts["mode.txt"].Kind != KindUnchanged || acts["edited.txt"].Kind != KindWrite {
		t.Errorf("actions = %+v", res.Items)
	}
	if ino(t, same) != sameIno {
		t.Error("an identical file was rewritten")
	}
	if fi, _ := os.Stat(filepath.Join(src, "mode.txt")); fi.Mode().Perm() != 0o644 || ino(t, filepath.Join(src, "mode.txt")) != modeIno {
		t.Errorf("mode.txt: mode %v, rewritten %v", fi.Mode().Perm(), ino(t, filepath.Join(src, "mode.txt")) != modeIno)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "edited.txt")); string(b) != "original" {
		t.Errorf("edited.txt = %q", b)
	}
	if res.Written != 1 {
		t.Errorf("Written = %d, want 1", res.Written)
	}
	assertNoTemps(t, src)
}

// A snapshot's torn JSON is not written over a file without Force.
func TestTornJSONNeedsForce(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "state.json"), `{"jobs":[1,2`, 0o644)
	backdate(t, src)
	s := r.snap(t, src)
	writeFile(t, filepath.Join(src, "state.json"), `{"jobs":[]}`, 0o644)
	res := r.restore(t, s, "state.json", Options{})
	if res.Err() == nil {
		t.Fatal("a torn copy was written over the file")
	}
	if b, _ := os.ReadFile(filepath.Join(src, "state.json")); string(b) != `{"jobs":[]}` {
		t.Errorf("file changed to %q", b)
	}
	res = r.restore(t, s, "state.json", Options{Force: true})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "state.json")); string(b) != `{"jobs":[1,2` {
		t.Errorf("with Force the file is %q", b)
	}
}

func TestBigFirst(t *testing.T) {
	var files []*Item
	for _, f := range []struct {
		path string
		size int64
	}{{"a", 10}, {"big", 2 << 20}, {"b", bigMin - 1}, {"biggest", 9 << 20}, {"c", 0}, {"edge", bigMin}} {
		files = append(files, &Item{Rel: f.path, Version: &catalog.Version{Path: f.path, Size: f.size}})
	}
	bigFirst(files)
	var got []string
	for _, f := range files {
		got = append(got, f.Rel)
	}
	if want := "biggest big edge a b c"; strings.Join(got, " ") != want {
		t.Errorf("order = %q; want %q (big files by size, then the rest as they were)", strings.Join(got, " "), want)
	}
}

// A large file is read ahead by a goroutine of its own: it comes back
// whole, and damage near its end fails it without writing it or leaving a
// temp file.
func TestLargeFileReadAhead(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	big := make([]byte, readAheadMin+(3<<20))
	rand.Read(big)
	writeFile(t, filepath.Join(src, "big.bin"), string(big), 0o644)
	backdate(t, src)
	s := r.snap(t, src)

	good := t.TempDir()
	if err := r.restore(t, s, ".", Options{To: good}).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(good, "big.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the large file did not come back whole: %v", err)
	}

	// The last chunk, then also the first: an error while the chunks
	// after it are being decoded stops them too.
	for _, k := range []int{-1, 0} {
		r.corruptChunk(t, s, "big.bin", k)
		to := t.TempDir()
		res := r.restore(t, s, ".", Options{To: to})
		if err := res.Err(); !errors.Is(err, blobstore.ErrCorrupt) || len(res.errs()) != 1 {
			t.Fatalf("restore with chunk %d damaged: %v; want one ErrCorrupt", k, res.errs())
		}
		if _, err := os.Stat(filepath.Join(to, "big.bin")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the damaged file was written: %v", err)
		}
		assertNoTemps(t, to)
	}
}

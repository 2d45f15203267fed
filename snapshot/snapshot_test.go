package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/restore"
)

// testRepo is a repository laid out as cairn.Open lays it out: catalog.db,
// packs/ and tmp/ in one directory.
type testRepo struct {
	dir   string
	db    *catalog.DB
	store *blobstore.Local
	deps  Deps
}

func newRepo(t testing.TB, dir string) *testRepo {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(ctx, filepath.Join(dir, "catalog.db"), true)
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
	return &testRepo{dir: dir, db: db, store: store,
		deps: Deps{DB: db, Store: store, TmpDir: filepath.Join(dir, "tmp"), Params: chunker.Default}}
}

func (r *testRepo) snap(t testing.TB, src string, opts Options) *Result {
	t.Helper()
	res, err := Run(context.Background(), r.deps, src, opts)
	if err != nil {
		t.Fatalf("snapshot of %s: %v", src, err)
	}
	return res
}

// query renders the rows of a catalog query, one string per row.
func (r *testRepo) query(t testing.TB, q string, args ...any) []string {
	t.Helper()
	rows, err := r.db.Reader().Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// livePaths lists the live paths of a source.
func (r *testRepo) livePaths(t testing.TB, src string) []string {
	t.Helper()
	return r.query(t, `SELECT v.path FROM version v JOIN source s ON s.id = v.source_id
		WHERE s.path = ? AND v.last_snapshot_id IS NULL ORDER BY v.path`, canonical(t, src))
}

// restoreTo restores one path of a snapshot under a new directory and
// returns where it landed.
func (r *testRepo) restoreTo(t testing.TB, snapID int64, rel string) string {
	t.Helper()
	ctx := context.Background()
	s, err := r.db.SnapshotByID(ctx, snapID)
	if err != nil {
		t.Fatal(err)
	}
	to := t.TempDir()
	_, err = restore.Run(ctx, restore.Deps{DB: r.db, Store: r.store},
		[]restore.Request{{Snapshot: s, Path: rel, UserPath: rel}}, restore.Options{To: to})
	if err != nil {
		t.Fatalf("restore %s of snapshot %d: %v", rel, snapID, err)
	}
	return filepath.Join(to, filepath.FromSlash(rel))
}

func canonical(t testing.TB, p string) string {
	t.Helper()
	c, err := CanonicalSource(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// backdate sets the mtime of everything under root (symlinks excepted) to
// d ago: cairn re-reads files modified within 2 s of a snapshot's start.
func backdate(t testing.TB, root string, d time.Duration) {
	t.Helper()
	when := time.Now().Add(-d)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.Type()&fs.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, when, when)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func setMtime(t testing.TB, path string, ago time.Duration) {
	t.Helper()
	when := time.Now().Add(-ago)
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
}

// makeTree writes a small source: 5 files in 2 directories (8 entries
// with the root).
func makeTree(t testing.TB, src string) map[string]string {
	t.Helper()
	files := map[string]string{
		"a.txt":          "alpha\n",
		"b.txt":          strings.Repeat("bravo ", 1000),
		"sub/c.txt":      "charlie",
		"sub/deep/d.bin": string(bytes.Repeat([]byte{0, 1, 2, 3}, 5000)),
		"e.json":         `{"jobs":[1,2,3]}`,
	}
	for rel, data := range files {
		writeFile(t, filepath.Join(src, filepath.FromSlash(rel)), data)
	}
	return files
}

const treeEntries = 8 // ".", sub, sub/deep and 5 files

func TestUnchangedFilesAreNotRead(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	files := makeTree(t, src)
	if err := os.Symlink("a.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	backdate(t, src, time.Hour)
	var total int64
	for _, d := range files {
		total += int64(len(d))
	}

	first := r.snap(t, src, Options{})
	if first.New != treeEntries+1 || first.Changed != 0 || first.Unchanged != 0 || first.Removed != 0 {
		t.Errorf("first snapshot: %+v", first)
	}
	if first.Files != int64(len(files)) || first.TotalBytes != total || first.BytesRead != total || first.BytesAdded == 0 {
		t.Errorf("first snapshot: files %d, total %d, read %d, added %d; want %d files, %d bytes",
			first.Files, first.TotalBytes, first.BytesRead, first.BytesAdded, len(files), total)
	}
	versions := r.query(t, "SELECT count(*) FROM version")

	second := r.snap(t, src, Options{})
	if second.BytesRead != 0 {
		t.Errorf("second snapshot read %d bytes of unchanged files", second.BytesRead)
	}
	if second.Unchanged != treeEntries+1 || second.New != 0 || second.Changed != 0 || second.Removed != 0 {
		t.Errorf("second snapshot: %+v, want all %d entries unchanged", second, treeEntries+1)
	}
	if second.BytesAdded != 0 || second.Files != first.Files || second.TotalBytes != total {
		t.Errorf("second snapshot: added %d, files %d, total %d", second.BytesAdded, second.Files, second.TotalBytes)
	}
	if got := r.query(t, "SELECT count(*) FROM version"); !slices.Equal(got, versions) {
		t.Errorf("an unchanged snapshot added versions: %v -> %v", versions, got)
	}
	// Both snapshots list every path.
	got := r.query(t, "SELECT snapshot_id, count(*) FROM files GROUP BY snapshot_id ORDER BY snapshot_id")
	want := []string{fmt.Sprintf("%d %d", first.ID, treeEntries+1), fmt.Sprintf("%d %d", second.ID, treeEntries+1)}
	if !slices.Equal(got, want) {
		t.Errorf("files per snapshot = %v, want %v", got, want)
	}
	if got := r.query(t, "SELECT link_target FROM files WHERE path = 'link' AND snapshot_id = ?", second.ID); !slices.Equal(got, []string{"a.txt"}) {
		t.Errorf("link target = %v", got)
	}
	// The JSON file was validated and counted.
	if got := r.query(t, "SELECT json_valid, json_entries FROM version WHERE path = 'e.json'"); !slices.Equal(got, []string{"1 3"}) {
		t.Errorf("e.json validity = %v", got)
	}
	for rel, data := range files {
		if b, err := os.ReadFile(r.restoreTo(t, second.ID, rel)); err != nil || string(b) != data {
			t.Errorf("restored %s differs (%v)", rel, err)
		}
	}
}

func TestChangedFileIsRead(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	makeTree(t, src)
	backdate(t, src, time.Hour)
	first := r.snap(t, src, Options{})

	changed := "alpha, changed\n"
	writeFile(t, filepath.Join(src, "a.txt"), changed)
	setMtime(t, filepath.Join(src, "a.txt"), 30*time.Minute)
	second := r.snap(t, src, Options{})
	if second.Changed != 1 || second.New != 0 || second.Removed != 0 || second.Unchanged != treeEntries-1 {
		t.Errorf("second snapshot: %+v, want 1 changed", second)
	}
	if second.BytesRead != int64(len(changed)) {
		t.Errorf("second snapshot read %d bytes, want %d (only the changed file)", second.BytesRead, len(changed))
	}
	if b, _ := os.ReadFile(r.restoreTo(t, second.ID, "a.txt")); string(b) != changed {
		t.Errorf("snapshot %d has a.txt = %q", second.ID, b)
	}
	if b, _ := os.ReadFile(r.restoreTo(t, first.ID, "a.txt")); string(b) != "alpha\n" {
		t.Errorf("snapshot %d has a.txt = %q", first.ID, b)
	}

	// Same bytes and mtime written again: stat differs (ctime), so the
	// file is read, but it is still one version.
	p := filepath.Join(src, "sub/c.txt")
	fi, _ := os.Stat(p)
	writeFile(t, p, "charlie")
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	third := r.snap(t, src, Options{})
	if third.BytesRead != int64(len("charlie")) || third.Changed != 0 || third.Unchanged != treeEntries {
		t.Errorf("third snapshot: %+v; want sub/c.txt read and found unchanged", third)
	}
	if got := r.query(t, "SELECT count(*) FROM version WHERE path = 'sub/c.txt'"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("sub/c.txt has %v versions, want 1", got)
	}
	// And its fingerprint was refreshed: the next snapshot reads nothing.
	if fourth := r.snap(t, src, Options{}); fourth.BytesRead != 0 {
		t.Errorf("fourth snapshot read %d bytes", fourth.BytesRead)
	}

	// A mode change is a new version even with the same bytes.
	if err := os.Chmod(filepath.Join(src, "b.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifth := r.snap(t, src, Options{})
	if fifth.Changed != 1 {
		t.Errorf("chmod: %+v, want 1 changed", fifth)
	}
	if got := r.query(t, "SELECT mode FROM version WHERE path = 'b.txt' AND last_snapshot_id IS NULL"); !slices.Equal(got, []string{"384"}) {
		t.Errorf("b.txt mode = %v, want 384 (0600)", got)
	}
}

func TestRacyFileIsReadAgain(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	makeTree(t, src)
	backdate(t, src, time.Hour)
	racy := filepath.Join(src, "racy.txt")
	const data = "written just now"
	writeFile(t, racy, data) // mtime = now
	// The directory's mtime moved too; put it back so only the file is racy.
	setMtime(t, src, time.Hour)

	r.snap(t, src, Options{})
	second := r.snap(t, src, Options{})
	if second.BytesRead != int64(len(data)) {
		t.Errorf("second snapshot read %d bytes, want %d (the racy file again)", second.BytesRead, len(data))
	}
	if second.Changed != 0 || second.Unchanged != treeEntries+1 {
		t.Errorf("second snapshot: %+v, want everything unchanged", second)
	}
	if got := r.query(t, "SELECT count(*) FROM version WHERE path = 'racy.txt'"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("racy.txt has %v versions, want 1", got)
	}
	if got := r.query(t, "SELECT fp_ctime_ns FROM version WHERE path = 'racy.txt'"); !slices.Equal(got, []string{"-1"}) {
		t.Errorf("racy.txt fingerprint = %v, want -1 (re-read next time)", got)
	}
	// Once the snapshot starts well after the mtime, the fingerprint is
	// trusted: the read that records it, then no more reads.
	later := func() time.Time { return time.Now().Add(time.Hour) }
	third := r.snap(t, src, Options{Now: later})
	if third.BytesRead != int64(len(data)) {
		t.Errorf("third snapshot read %d bytes, want %d", third.BytesRead, len(data))
	}
	fourth := r.snap(t, src, Options{Now: later})
	if fourth.BytesRead != 0 || fourth.Unchanged != treeEntries+1 {
		t.Errorf("fourth snapshot: %+v, want nothing read", fourth)
	}
	if got := r.query(t, "SELECT count(*) FROM version WHERE path = 'racy.txt'"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("racy.txt has %v versions, want 1", got)
	}
}

func TestRemovedFiles(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	makeTree(t, src)
	backdate(t, src, time.Hour)
	first := r.snap(t, src, Options{})
	if err := os.Remove(filepath.Join(src, "a.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "sub/deep")); err != nil {
		t.Fatal(err)
	}
	second := r.snap(t, src, Options{})
	if second.Removed != 3 || second.New != 0 || second.Files != 3 {
		t.Errorf("second snapshot: %+v, want 3 removed (a.txt, sub/deep, sub/deep/d.bin)", second)
	}
	want := []string{".", "b.txt", "e.json", "sub", "sub/c.txt"}
	if got := r.livePaths(t, src); !slices.Equal(got, want) {
		t.Errorf("live paths = %v, want %v", got, want)
	}
	if got := r.query(t, "SELECT count(*) FROM files WHERE snapshot_id = ? AND path IN ('a.txt', 'sub/deep/d.bin')", first.ID); !slices.Equal(got, []string{"2"}) {
		t.Errorf("snapshot %d lost removed files: %v", first.ID, got)
	}
	for _, w := range second.Warnings {
		if w.Kind == "mass-deletion" {
			t.Errorf("2 of 5 files removed triggered %v", w)
		}
	}
	// Removing most files warns.
	for _, p := range []string{"b.txt", "e.json"} {
		os.Remove(filepath.Join(src, p))
	}
	third := r.snap(t, src, Options{})
	if !hasWarning(third.Warnings, ".", "mass-deletion") {
		t.Errorf("removing 2 of 3 files gave no mass-deletion warning: %v", third.Warnings)
	}
}

func hasWarning(ws []catalog.Warning, path, kind string) bool {
	for _, w := range ws {
		if w.Path == path && w.Kind == kind {
			return true
		}
	}
	return false
}

func TestExcludesAndCairnignore(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	for _, rel := range []string{"keep.txt", "app.log", "keep.log", "sub/x.log", "cache/blob", "sub/cache/blob2",
		"secret.txt", "sub/secret.txt", "build/out", "sub/build/out"} {
		writeFile(t, filepath.Join(src, rel), rel)
	}
	writeFile(t, filepath.Join(src, ".cairnignore"), "# comment\n*.log\n!keep.log\ncache/\n")
	r.snap(t, src, Options{Excludes: []string{"secret.txt", "/build"}})
	want := []string{".", ".cairnignore", "keep.log", "keep.txt", "sub", "sub/build", "sub/build/out"}
	if got := r.livePaths(t, src); !slices.Equal(got, want) {
		t.Errorf("live paths = %v, want %v", got, want)
	}
	// A source whose every entry is excluded is empty.
	only := t.TempDir()
	writeFile(t, filepath.Join(only, "a.log"), "x")
	if _, err := Run(context.Background(), r.deps, only, Options{Excludes: []string{"*.log"}}); !errors.Is(err, ErrEmptySource) {
		t.Errorf("snapshot of an all-excluded source = %v, want ErrEmptySource", err)
	}
	// A bad pattern is an error, not a silent no-op.
	if _, err := Run(context.Background(), r.deps, src, Options{Excludes: []string{"[a"}}); err == nil {
		t.Error("an invalid exclude pattern was accepted")
	}
}

func TestEmptyAndMissingSource(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, t.TempDir())
	empty := t.TempDir()
	if _, err := Run(ctx, r.deps, empty, Options{}); !errors.Is(err, ErrEmptySource) {
		t.Errorf("empty source: %v, want ErrEmptySource", err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := Run(ctx, r.deps, missing, Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing source: %v, want ErrNotExist", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "x")
	if _, err := Run(ctx, r.deps, file, Options{}); err == nil {
		t.Error("a regular file was accepted as a source")
	}
	if got := r.query(t, "SELECT count(*) FROM snapshot"); !slices.Equal(got, []string{"0"}) {
		t.Errorf("refused snapshots were recorded: %v", got)
	}
	// A source that became empty is refused too, so its history stays.
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a"), "a")
	r.snap(t, src, Options{})
	os.Remove(filepath.Join(src, "a"))
	if _, err := Run(ctx, r.deps, src, Options{}); !errors.Is(err, ErrEmptySource) {
		t.Errorf("emptied source: %v, want ErrEmptySource", err)
	}
	if got := r.livePaths(t, src); !slices.Equal(got, []string{".", "a"}) {
		t.Errorf("live paths after a refused snapshot = %v", got)
	}
}

// openDB opens a SQLite database with go-sqlite3 and the DSN query given.
func openDB(t testing.TB, path, query string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?"+query)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func countRows(t testing.TB, path, q string) int {
	t.Helper()
	db := openDB(t, path, "mode=ro")
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s on %s: %v", q, path, err)
	}
	db.Close()
	return n
}

func integrityOK(t testing.TB, path string) {
	t.Helper()
	db := openDB(t, path, "mode=ro")
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check of %s = %q, %v", path, res, err)
	}
	db.Close()
}

func TestSQLiteWAL(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "notes.txt"), "notes")
	dbPath := filepath.Join(src, "app.db")
	// The writer stays open with checkpoints off, so commits stay in the
	// -wal and the main file does not change.
	w := openDB(t, dbPath, "_journal_mode=WAL&_busy_timeout=5000")
	mustExec(t, w, "PRAGMA wal_autocheckpoint = 0")
	mustExec(t, w, "CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT)")
	mustExec(t, w, "INSERT INTO item(body) SELECT 'row ' || value FROM (WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < 100) SELECT value FROM c)")
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(dbPath + side); err != nil {
			t.Fatalf("the live database has no %s: %v", side, err)
		}
	}
	backdate(t, src, time.Hour)

	first := r.snap(t, src, Options{})
	if got := r.livePaths(t, src); !slices.Equal(got, []string{".", "app.db", "notes.txt"}) {
		t.Errorf("live paths = %v; the -wal and -shm must not be stored", got)
	}
	if got := r.query(t, `SELECT v.capture, c.chunking, v.db_check FROM version v JOIN content c ON c.id = v.content_id
		WHERE v.path = 'app.db'`); !slices.Equal(got, []string{"sqlite fixed:8192 ok"}) {
		t.Errorf("app.db capture, chunking, check = %v", got)
	}
	if n := countRows(t, r.restoreTo(t, first.ID, "app.db"), "SELECT count(*) FROM item"); n != 100 {
		t.Errorf("snapshot %d has %d rows, want 100 (committed rows in the -wal)", first.ID, n)
	}

	// Nothing changed: nothing is read, though the -wal exists.
	second := r.snap(t, src, Options{})
	if second.BytesRead != 0 || second.Unchanged != 3 {
		t.Errorf("second snapshot: %+v, want nothing read", second)
	}

	// New commits land in the -wal only; the main file keeps its stat.
	mainBefore, _ := os.Stat(dbPath)
	mustExec(t, w, "INSERT INTO item(body) SELECT 'more ' || value FROM (WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < 50) SELECT value FROM c)")
	mainAfter, _ := os.Stat(dbPath)
	if mainAfter.Size() != mainBefore.Size() || !mainAfter.ModTime().Equal(mainBefore.ModTime()) {
		t.Fatal("the main database file changed; the test needs a change in the -wal only")
	}
	// Not racy either: only the -wal's own stat can tell.
	setMtime(t, dbPath+"-wal", 30*time.Minute)
	third := r.snap(t, src, Options{})
	if third.Changed != 1 || third.BytesRead == 0 {
		t.Errorf("third snapshot: %+v, want app.db changed", third)
	}
	if n := countRows(t, r.restoreTo(t, third.ID, "app.db"), "SELECT count(*) FROM item"); n != 150 {
		t.Errorf("snapshot %d has %d rows, want 150", third.ID, n)
	}
	if got := r.livePaths(t, src); !slices.Equal(got, []string{".", "app.db", "notes.txt"}) {
		t.Errorf("live paths = %v", got)
	}
	// The snapshot neither checkpointed nor truncated the writer's -wal.
	var rows int
	if err := w.QueryRow("SELECT count(*) FROM item").Scan(&rows); err != nil || rows != 150 {
		t.Errorf("the live database has %d rows, %v", rows, err)
	}
}

func TestSQLiteGarbageStoredRaw(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	garbage := "SQLite format 3\x00" + strings.Repeat("\xab\xcd not really a database ", 400)
	writeFile(t, filepath.Join(src, "broken.db"), garbage)
	writeFile(t, filepath.Join(src, "broken.db-wal"), "a -wal beside it")
	backdate(t, src, time.Hour)
	res := r.snap(t, src, Options{})
	if !hasWarning(res.Warnings, "broken.db", "database-unreadable") {
		t.Errorf("warnings = %v, want database-unreadable for broken.db", res.Warnings)
	}
	if got := r.query(t, "SELECT capture, coalesce(db_check, 'NULL') FROM version WHERE path = 'broken.db'"); !slices.Equal(got, []string{"sqlite-raw NULL"}) {
		t.Errorf("broken.db capture = %v, want sqlite-raw", got)
	}
	if got := r.query(t, "SELECT kind FROM warnings WHERE path = 'broken.db'"); !slices.Equal(got, []string{"database-unreadable"}) {
		t.Errorf("catalog warnings = %v", got)
	}
	// Its -wal is a sidecar all the same.
	if got := r.livePaths(t, src); !slices.Equal(got, []string{".", "broken.db"}) {
		t.Errorf("live paths = %v", got)
	}
	if b, _ := os.ReadFile(r.restoreTo(t, res.ID, "broken.db")); string(b) != garbage {
		t.Error("the raw bytes did not come back")
	}
	// Unchanged, it is not read (or warned about) again.
	again := r.snap(t, src, Options{})
	if again.BytesRead != 0 || len(again.Warnings) != 0 {
		t.Errorf("second snapshot: read %d, warnings %v", again.BytesRead, again.Warnings)
	}
}

// A JSON document above the in-memory limit is validated by streaming; a
// torn one must be recorded as invalid.
func TestLargeTornJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 17 MiB")
	}
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	// Few, long tokens: the streaming decoder's cost is per token.
	item := `{"id":1,"data":"` + strings.Repeat("0123456789abcdef", 16<<10) + `"}`
	doc := `{"items":[` + strings.Repeat(item+",", jsonInMemory/len(item)+4) + item + "]}"
	// (Valid documents are covered by TestStreamValidJSON; one file here
	// keeps the test fast.)
	writeFile(t, filepath.Join(src, "torn.json"), doc[:len(doc)-100])
	writeFile(t, filepath.Join(src, "small.json"), `{"a":[1,2]}`)
	backdate(t, src, time.Hour)
	r.snap(t, src, Options{})
	got := r.query(t, "SELECT path, json_valid, coalesce(json_entries, 'NULL') FROM version WHERE path LIKE '%.json' ORDER BY path")
	if want := []string{"small.json 1 2", "torn.json 0 NULL"}; !slices.Equal(got, want) {
		t.Errorf("json validity = %v, want %v", got, want)
	}
}

func TestRepositoryInsideSourceIsSkipped(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	makeTree(t, src)
	repoDir := filepath.Join(src, ".cairn")
	r := newRepo(t, repoDir)
	r.snap(t, src, Options{Skip: []string{repoDir}})
	r.snap(t, src, Options{Skip: []string{repoDir}})
	for _, p := range r.livePaths(t, src) {
		if strings.HasPrefix(p, ".cairn") {
			t.Errorf("the repository was snapshotted: %s", p)
		}
	}
	if got := len(r.livePaths(t, src)); got != treeEntries {
		t.Errorf("%d live paths, want %d", got, treeEntries)
	}

	// The source named through a symlink, with the repository named the
	// same way (cairn.Repo.Snapshot passes its directory made absolute,
	// not resolved).
	if err := os.Symlink(src, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(base, "link")
	res := r.snap(t, linked, Options{Skip: []string{filepath.Join(linked, ".cairn")}})
	if res.Source != canonical(t, src) {
		t.Errorf("source recorded as %s, want %s", res.Source, canonical(t, src))
	}
	for _, p := range r.livePaths(t, src) {
		if strings.HasPrefix(p, ".cairn") {
			t.Errorf("the repository was snapshotted through the symlinked path: %s", p)
		}
	}
}

// TestDatabaseSmallUpdate measures what a snapshot adds after 1% of the
// rows of a ~20 MiB database change at scattered places.
func TestDatabaseSmallUpdate(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	dbPath := filepath.Join(src, "big.db")
	const rows = 100_000
	db := openDB(t, dbPath, "_journal_mode=WAL")
	mustExec(t, db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
	mustExec(t, db, "INSERT INTO t(id, body) SELECT value, hex(randomblob(90)) FROM (WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < ?) SELECT value FROM c)", rows)
	db.Close()
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	backdate(t, src, time.Hour)
	first := r.snap(t, src, Options{})

	db = openDB(t, dbPath, "_journal_mode=WAL")
	rng := rand.New(rand.NewPCG(1, 2))
	ids := rng.Perm(rows)[:rows/100]
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := tx.Exec("UPDATE t SET body = hex(randomblob(90)) WHERE id = ?", id+1); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close() // checkpoints: the change is in the main file now
	second := r.snap(t, src, Options{})
	if got := r.query(t, "SELECT count(*) FROM version WHERE path = 'big.db'"); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("big.db has %v versions after an update, want 2", got)
	}
	t.Logf("database %.1f MiB (%d rows); first snapshot added %.1f MiB; after updating %d rows (1%%) the next added %.2f MiB = %.1f%% of the database (read %.1f MiB)",
		float64(size)/(1<<20), rows, float64(first.BytesAdded)/(1<<20), len(ids),
		float64(second.BytesAdded)/(1<<20), 100*float64(second.BytesAdded)/float64(size), float64(second.BytesRead)/(1<<20))
	if second.BytesAdded*4 >= size {
		t.Errorf("a 1%% update added %d bytes, %.1f%% of the %d-byte database; want < 25%%",
			second.BytesAdded, 100*float64(second.BytesAdded)/float64(size), size)
	}
	if n := countRows(t, r.restoreTo(t, second.ID, "big.db"), "SELECT count(*) FROM t"); n != rows {
		t.Errorf("restored database has %d rows", n)
	}
}

// Environment of the writer child process (see TestHelperProcess).
const (
	envHelper = "CAIRN_SNAPSHOT_TEST_HELPER"
	envDB     = "CAIRN_SNAPSHOT_TEST_DB"
)

// createCounterDB makes a WAL database whose invariant is that the one
// row of counter equals the number of rows in item.
func createCounterDB(t testing.TB, path string) {
	t.Helper()
	db := openDB(t, path, "_journal_mode=WAL")
	mustExec(t, db, "CREATE TABLE counter(n INTEGER NOT NULL)")
	mustExec(t, db, "INSERT INTO counter(n) VALUES (0)")
	mustExec(t, db, "CREATE TABLE item(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
	db.Close()
}

// checkCounterDB checks a restored copy and returns its item count.
func checkCounterDB(t testing.TB, path string) int {
	t.Helper()
	integrityOK(t, path)
	db := openDB(t, path, "mode=ro")
	var n, items int
	if err := db.QueryRow("SELECT (SELECT n FROM counter), (SELECT count(*) FROM item)").Scan(&n, &items); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	db.Close()
	if n != items {
		t.Errorf("%s is torn: counter %d, items %d", path, n, items)
	}
	return items
}

// writeLoop commits transactions that keep the counter invariant until
// ctx ends, calling ready after the first.
func writeLoop(ctx context.Context, path string, ready func()) (int, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	n := 0
	for ctx.Err() == nil {
		tx, err := db.Begin()
		if err != nil {
			return n, err
		}
		if _, err := tx.Exec("INSERT INTO item(body) VALUES (randomblob(100 + abs(random()) % 500))"); err != nil {
			tx.Rollback()
			return n, err
		}
		if _, err := tx.Exec("UPDATE counter SET n = n + 1"); err != nil {
			tx.Rollback()
			return n, err
		}
		if err := tx.Commit(); err != nil {
			return n, err
		}
		if n++; n == 1 {
			ready()
		}
	}
	return n, nil
}

// TestHelperProcess is not a test: the live-writer test runs it as a child
// process that commits to a database until its stdin is closed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "writer" {
		t.Skip("helper process only")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	n, err := writeLoop(ctx, os.Getenv(envDB), func() { fmt.Println("ready") })
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "committed %d transactions\n", n)
	os.Exit(0)
}

// startWriter runs the writer in a child process and waits for its first
// commit. stop ends it and returns what it said.
func startWriter(t *testing.T, db string) (stop func() string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"=writer", envDB+"="+db)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- false
	}()
	stopped := false
	stop = func() string {
		if stopped {
			return ""
		}
		stopped = true
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("writer: %v: %s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("writer did not stop: %s", stderr.String())
		}
		return strings.TrimSpace(stderr.String())
	}
	t.Cleanup(func() { stop() })
	select {
	case ok := <-ready:
		if !ok {
			stop()
			t.Fatalf("writer failed to start: %s", stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("writer made no commit: %s", stderr.String())
	}
	return stop
}

// Five snapshots while another process commits as fast as it can: every
// captured version restores to a database that passes integrity_check and
// keeps the writer's invariant.
func TestLiveWriter(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "README"), "a live database lives here")
	dbPath := filepath.Join(src, "live.db")
	createCounterDB(t, dbPath)
	stop := startWriter(t, dbPath)

	var ids []int64
	for i := 0; i < 5; i++ {
		res := r.snap(t, src, Options{})
		for _, w := range res.Warnings {
			t.Errorf("snapshot %d: warning %v", res.ID, w)
		}
		ids = append(ids, res.ID)
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("writer: %s", stop())

	if got := r.livePaths(t, src); !slices.Equal(got, []string{".", "README", "live.db"}) {
		t.Errorf("live paths = %v", got)
	}
	var counts []int
	for _, id := range ids {
		counts = append(counts, checkCounterDB(t, r.restoreTo(t, id, "live.db")))
	}
	t.Logf("items in the captured versions: %v", counts)
	if got := r.query(t, "SELECT DISTINCT capture || ' ' || db_check FROM version WHERE path = 'live.db'"); !slices.Equal(got, []string{"sqlite ok"}) {
		t.Errorf("captures = %v", got)
	}
	for i := 1; i < len(counts); i++ {
		if counts[i] < counts[i-1] {
			t.Errorf("snapshot %d has fewer items than the one before: %v", ids[i], counts)
		}
	}
	if counts[len(counts)-1] == counts[0] {
		t.Errorf("the writer made no progress between snapshots: %v", counts)
	}
}

// New chunks are compressed in runs: many small files share one blob (a
// pack offset), each at its own plaintext offset, no run is larger than
// frameTarget unless it is one chunk, and every file restores.
func TestSmallFilesShareBlobs(t *testing.T) {
	src := t.TempDir()
	want := map[string]string{}
	for i := range 300 {
		name := fmt.Sprintf("state/s%03d.json", i)
		want[name] = fmt.Sprintf(`{"id": %d, "status": "done", "note": "%s"}`, i, strings.Repeat("x", i*7))
		writeFile(t, filepath.Join(src, filepath.FromSlash(name)), want[name])
	}
	backdate(t, src, time.Hour)
	r := newRepo(t, t.TempDir())
	res := r.snap(t, src, Options{Workers: 2}) // each worker fills its own frames
	blobs := r.query(t, `SELECT count(*), sum(size), max(plain_offset) FROM chunk GROUP BY pack_id, offset ORDER BY 1 DESC`)
	if len(blobs) == 0 || len(blobs) >= 300 {
		t.Fatalf("%d blobs for 300 small files; want them to share", len(blobs))
	}
	var most, size, maxOff int64
	fmt.Sscan(blobs[0], &most, &size, &maxOff)
	if most < 10 || maxOff == 0 {
		t.Errorf("fullest blob holds %d chunks (max plaintext offset %d); want many", most, maxOff)
	}
	for _, b := range blobs {
		var n, size, off int64
		fmt.Sscan(b, &n, &size, &off)
		if n > 1 && size > frameTarget {
			t.Errorf("a blob of %d chunks holds %d bytes; want at most %d", n, size, frameTarget)
		}
	}
	for _, name := range []string{"state/s000.json", "state/s150.json", "state/s299.json"} {
		got, err := os.ReadFile(r.restoreTo(t, res.ID, name))
		if err != nil || string(got) != want[name] {
			t.Errorf("restored %s = %q, %v", name, got, err)
		}
	}
}

package snapshotfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/snapshotfs"
)

const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// buildTree makes a source with every kind of entry TestFS can check: all
// its symbolic links resolve inside the source. It returns the path of a
// live WAL database in it and its writer, still open.
func buildTree(t testing.TB, src string) (dbPath string) {
	t.Helper()
	write(t, filepath.Join(src, "top.txt"), []byte("top\n"), 0o644)
	write(t, filepath.Join(src, "empty"), nil, 0o600)
	write(t, filepath.Join(src, "a/b/c/deep.txt"), []byte("deep down\n"), 0o640)
	write(t, filepath.Join(src, "a/b/sibling"), []byte("sib"), 0o755)
	mkdir(t, filepath.Join(src, "empty dir/nested empty"))
	write(t, filepath.Join(src, "odd/with space.txt"), []byte("space"), 0o644)
	write(t, filepath.Join(src, "odd/café 日本語 🪨"), []byte("unicode"), 0o644)
	write(t, filepath.Join(src, "odd/new\nline"), []byte("newline"), 0o644)
	write(t, filepath.Join(src, "odd/tab\tand 'quotes' \"x\""), []byte("tab"), 0o644)
	write(t, filepath.Join(src, "odd/latin1-\xe9t\xe9"), []byte("not utf-8"), 0o644)
	write(t, filepath.Join(src, "odd/-dash"), []byte("dash"), 0o644)
	write(t, filepath.Join(src, "odd", strings.Repeat("L", 255)), []byte("long name"), 0o644)
	write(t, filepath.Join(src, "odd/setuid tool"), []byte("#!/bin/sh\n"), 0o755|fs.ModeSetuid)
	// Several MiB, many chunks: random (stored raw) and text (chunks
	// compressed together in shared zstd frames).
	write(t, filepath.Join(src, "big/random.bin"), randomBytes(1, 6<<20+12345), 0o644)
	write(t, filepath.Join(src, "big/log.txt"), logText(5<<20+777), 0o644)

	mkdir(t, filepath.Join(src, "links"))
	symlink(t, "../top.txt", filepath.Join(src, "links/up"))
	symlink(t, "up", filepath.Join(src, "links/to link"))
	symlink(t, "../a/b", filepath.Join(src, "links/to dir"))
	symlink(t, filepath.Join(src, "a/b/c/deep.txt"), filepath.Join(src, "links/absolute inside"))
	symlink(t, "../odd/café 日本語 🪨", filepath.Join(src, "links/unicode"))
	symlink(t, "../links/to dir/c/./deep.txt", filepath.Join(src, "links/through a link"))
	symlink(t, ".", filepath.Join(src, "links/self dir"))

	dbPath = filepath.Join(src, "state.db")
	w := openSQLite(t, dbPath, "_journal_mode=WAL&_busy_timeout=5000")
	exec(t, w, "PRAGMA wal_autocheckpoint = 0")
	exec(t, w, "CREATE TABLE item(id INTEGER PRIMARY KEY, body TEXT)")
	exec(t, w, `INSERT INTO item(body) SELECT printf('row %d %s', value, hex(randomblob(100))) FROM
		(WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM c WHERE value < 2000) SELECT value FROM c)`)
	if _, err := os.Stat(dbPath + "-wal"); err != nil {
		t.Fatalf("the live database has no -wal: %v", err)
	}
	return dbPath
}

func TestTestFS(t *testing.T) {
	src := sourceDir(t)
	dbPath := buildTree(t, src)
	r := newRepo(t)
	view := r.snap(t, src)

	want := sourcePaths(t, src)
	// TestFS also checks fs.Sub of the first expected directory; make it
	// a deep one.
	slices.SortFunc(want, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	if err := fstest.TestFS(view, want...); err != nil {
		t.Fatal(err)
	}
	// The large files are what they are meant to be: many chunks, and for
	// the database's page-aligned chunks several to a zstd frame.
	for _, c := range []struct {
		name      string
		minChunks int
		shared    bool
	}{{"big/random.bin", 30, false}, {"big/log.txt", 20, false}, {"state.db", 20, true}} {
		chunks, blobs := chunkStats(t, r, view, c.name)
		if chunks < c.minChunks || c.shared != (blobs < chunks-1) {
			t.Errorf("%s: %d chunks in %d blobs", c.name, chunks, blobs)
		}
	}
	compareWithSource(t, view, src, dbPath)
}

// compareWithSource checks every path of src against the view: type,
// mode, size, mtime, link targets and bytes (a database by its rows, as
// the snapshot holds a consistent copy rather than the bytes on disk).
func compareWithSource(t *testing.T, view *snapshotfs.FS, src, dbPath string) {
	t.Helper()
	for _, rel := range sourcePaths(t, src) {
		abs := filepath.Join(src, filepath.FromSlash(rel))
		want, err := os.Lstat(abs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := view.Lstat(rel)
		if err != nil {
			t.Errorf("Lstat(%q): %v", rel, err)
			continue
		}
		if got.Mode()&(fs.ModeType|modeBits) != want.Mode()&(fs.ModeType|modeBits) {
			t.Errorf("%q: mode %v, want %v", rel, got.Mode(), want.Mode())
		}
		if got.Name() != path.Base(rel) {
			t.Errorf("%q: name %q", rel, got.Name())
		}
		if _, ok := got.Sys().(*catalog.Version); !ok {
			t.Errorf("%q: Sys() is %T, want *catalog.Version", rel, got.Sys())
		}
		switch {
		case want.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(abs)
			if got, err := view.ReadLink(rel); err != nil || got != target {
				t.Errorf("ReadLink(%q) = %q, %v; want %q", rel, got, err, target)
			}
			// Stat follows the link to what the live system finds there.
			wantT, err := os.Stat(abs)
			if err != nil {
				t.Fatal(err)
			}
			gotT, err := view.Stat(rel)
			if err != nil || gotT.Mode() != wantT.Mode() || gotT.Name() != path.Base(rel) ||
				(!wantT.IsDir() && gotT.Size() != wantT.Size()) {
				t.Errorf("Stat(%q) = %v, %v; want the target's %v", rel, gotT, err, wantT)
			}
		case want.IsDir():
			if !got.ModTime().Equal(want.ModTime()) {
				t.Errorf("%q: mtime %v, want %v", rel, got.ModTime(), want.ModTime())
			}
			ents, err := view.ReadDir(rel)
			live, _ := os.ReadDir(abs)
			var names, liveNames []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			for _, e := range live {
				if n := e.Name(); !strings.HasSuffix(n, "-wal") && !strings.HasSuffix(n, "-shm") {
					liveNames = append(liveNames, n)
				}
			}
			if err != nil || !slices.Equal(names, liveNames) {
				t.Errorf("ReadDir(%q) = %q, %v; want %q", rel, names, err, liveNames)
			}
		case abs == dbPath:
			checkDatabase(t, view, rel)
		default:
			if !got.ModTime().Equal(want.ModTime()) || got.Size() != want.Size() {
				t.Errorf("%q: mtime %v size %d, want %v %d", rel, got.ModTime(), got.Size(), want.ModTime(), want.Size())
			}
			data, err := os.ReadFile(abs)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := view.ReadFile(rel); err != nil || !bytes.Equal(got, data) {
				t.Errorf("ReadFile(%q): %d bytes, %v; want the source's %d", rel, len(got), err, len(data))
			}
			checkReadAt(t, view, rel, data)
		}
	}
}

// checkDatabase reads the snapshot's copy of a database out and opens it.
func checkDatabase(t *testing.T, view *snapshotfs.FS, rel string) {
	t.Helper()
	data, err := view.ReadFile(rel)
	if err != nil {
		t.Fatalf("ReadFile(%q): %v", rel, err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db := openSQLite(t, out, "mode=ro")
	var n int
	var check string
	if err := db.QueryRow("SELECT count(*) FROM item").Scan(&n); err != nil || n != 2000 {
		t.Errorf("%q: %d rows, %v; want the 2000 committed in the -wal", rel, n, err)
	}
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("%q: integrity_check = %q, %v", rel, check, err)
	}
	checkReadAt(t, view, rel, data)
}

// checkReadAt compares random ReadAt and Seek+Read ranges with data.
func checkReadAt(t *testing.T, view *snapshotfs.FS, rel string, data []byte) {
	t.Helper()
	f, err := view.Open(rel)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	sk, ok2 := f.(io.Seeker)
	if !ok || !ok2 {
		t.Fatalf("%q: %T is not an io.ReaderAt and io.Seeker", rel, f)
	}
	r := rand.New(rand.NewPCG(uint64(len(data)), 7))
	buf := make([]byte, 300<<10)
	for range 40 {
		off := r.Int64N(int64(len(data)) + 10)
		n := r.IntN(len(buf))
		if r.IntN(4) == 0 {
			n = r.IntN(10)
		}
		got, err := ra.ReadAt(buf[:n], off)
		wantN := max(0, min(n, len(data)-int(off)))
		if got != wantN || (got < n) != (err == io.EOF) || (err != nil && err != io.EOF) {
			t.Fatalf("%q: ReadAt(%d bytes at %d) = %d, %v; want %d", rel, n, off, got, err, wantN)
		}
		if !bytes.Equal(buf[:got], data[min(int(off), len(data)):][:got]) {
			t.Fatalf("%q: ReadAt(%d bytes at %d) returned different bytes", rel, n, off)
		}
		if off < int64(len(data)) && r.IntN(3) == 0 {
			if _, err := sk.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadFull(f, buf[:wantN])
			if err != nil || !bytes.Equal(buf[:got], data[off:int(off)+got]) {
				t.Fatalf("%q: Seek(%d)+Read(%d) = %d, %v, or different bytes", rel, off, wantN, got, err)
			}
		}
	}
}

func TestLinksThatLeadNowhere(t *testing.T) {
	src := sourceDir(t)
	write(t, filepath.Join(src, "file"), []byte("x"), 0o644)
	symlink(t, "no such file", filepath.Join(src, "dangling"))
	symlink(t, "/etc/hostname", filepath.Join(src, "absolute outside"))
	symlink(t, "../outside", filepath.Join(src, "up and out"))
	symlink(t, "loop b", filepath.Join(src, "loop a"))
	symlink(t, "loop a", filepath.Join(src, "loop b"))
	symlink(t, "file/below a file", filepath.Join(src, "through a file"))
	view := newRepo(t).snap(t, src)

	wantErr := map[string]error{
		"dangling":         fs.ErrNotExist,
		"absolute outside": snapshotfs.ErrOutside,
		"up and out":       snapshotfs.ErrOutside,
		"loop a":           snapshotfs.ErrLinkLoop,
		"loop b":           snapshotfs.ErrLinkLoop,
		"through a file":   fs.ErrNotExist,
	}
	for name, want := range wantErr {
		_, err := view.Open(name)
		var pe *fs.PathError
		if !errors.Is(err, want) || !errors.As(err, &pe) || pe.Path != name || pe.Op != "open" {
			t.Errorf("Open(%q) = %v; want a *fs.PathError naming it, wrapping %v", name, err, want)
		}
		if _, err := view.Stat(name); !errors.Is(err, want) {
			t.Errorf("Stat(%q) = %v; want %v", name, err, want)
		}
		if fi, err := view.Lstat(name); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("Lstat(%q) = %v, %v; want the link itself", name, fi, err)
		}
	}
	// TestFS opens every entry it lists, links included (os.DirFS fails
	// the same way on a dangling link): every error it finds must be one
	// of these, and nothing else.
	err := fstest.TestFS(view, "file", "dangling")
	seen := map[string]bool{}
	for _, e := range unjoin(err) {
		matched := false
		for name, want := range wantErr {
			if strings.HasPrefix(e.Error(), name+": Open: ") && errors.Is(e, want) {
				matched, seen[name] = true, true
			}
		}
		if !matched {
			t.Errorf("TestFS: %v", e)
		}
	}
	if len(seen) != len(wantErr) {
		t.Errorf("TestFS reported Open errors for %v; want one for each of the %d links", seen, len(wantErr))
	}
}

// unjoin returns the errors TestFS joined.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range u.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	if inner := errors.Unwrap(err); inner != nil {
		if _, ok := inner.(interface{ Unwrap() []error }); ok {
			return unjoin(inner)
		}
	}
	return []error{err}
}

func TestBadNames(t *testing.T) {
	src := sourceDir(t)
	write(t, filepath.Join(src, "f"), []byte("x"), 0o644)
	write(t, filepath.Join(src, `back\slash`), []byte("bs"), 0o644)
	view := newRepo(t).snap(t, src)
	for _, name := range []string{"", "/f", "f/", "./f", "../f", "f/..", "a//f", "/"} {
		if _, err := view.Open(name); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v; want fs.ErrInvalid", name, err)
		}
	}
	// A backslash is an ordinary byte of a Linux name.
	if got, err := view.ReadFile(`back\slash`); err != nil || string(got) != "bs" {
		t.Errorf(`ReadFile("back\\slash") = %q, %v`, got, err)
	}
	if _, err := view.Open("missing/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing/f) = %v; want fs.ErrNotExist", err)
	}
	if _, err := view.ReadLink("f"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink of a file = %v; want fs.ErrInvalid", err)
	}
	if _, err := view.ReadDir("f"); err == nil {
		t.Error("ReadDir of a file succeeded")
	}
}

// TestLargeDirectoryPaged lists a directory of 1,500 entries in pieces of
// every size and compares with one listing.
func TestLargeDirectoryPaged(t *testing.T) {
	src := sourceDir(t)
	for i := range 1500 {
		write(t, filepath.Join(src, "many", strings.Repeat("n", i%7)+string(rune('a'+i%26))+"-"+string(rune(0x4e00+i))), nil, 0o644)
	}
	mkdir(t, filepath.Join(src, "many/sub"))
	write(t, filepath.Join(src, "many/sub/inner"), nil, 0o644)
	write(t, filepath.Join(src, "many0"), nil, 0o644)      // sorts just past the directory's range
	write(t, filepath.Join(src, "many.txt"), nil, 0o644)   // and just before it
	write(t, filepath.Join(src, "many sub/x"), nil, 0o644) // a sibling sharing the prefix
	view := newRepo(t).snap(t, src)

	all, err := view.ReadDir("many")
	if err != nil || len(all) != 1501 {
		t.Fatalf("ReadDir = %d entries, %v; want 1501", len(all), err)
	}
	if !slices.IsSortedFunc(all, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) }) {
		t.Error("ReadDir is not sorted by name")
	}
	for _, n := range []int{1, 7, 255, 256, 257, 1000, 5000} {
		f, err := view.Open("many")
		if err != nil {
			t.Fatal(err)
		}
		d := f.(fs.ReadDirFile)
		var got []fs.DirEntry
		for {
			part, err := d.ReadDir(n)
			if len(part) > n {
				t.Fatalf("ReadDir(%d) returned %d", n, len(part))
			}
			got = append(got, part...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		if !slices.EqualFunc(got, all, func(a, b fs.DirEntry) bool { return a.Name() == b.Name() }) {
			t.Errorf("ReadDir(%d) in pieces listed %d entries, differently from ReadDir", n, len(got))
		}
	}
}

func TestConcurrentReadAt(t *testing.T) {
	src := sourceDir(t)
	data := append(randomBytes(3, 3<<20), logText(3<<20)...)
	write(t, filepath.Join(src, "mixed"), data, 0o644)
	view := newRepo(t).snap(t, src)
	f, err := view.Open("mixed")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ra := f.(io.ReaderAt)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			buf := make([]byte, 200<<10)
			for range 50 {
				n := 1 + r.IntN(len(buf))
				off := r.IntN(len(data) - n)
				if _, err := ra.ReadAt(buf[:n], int64(off)); err != nil {
					t.Errorf("ReadAt: %v", err)
					return
				}
				if !bytes.Equal(buf[:n], data[off:off+n]) {
					t.Errorf("ReadAt(%d at %d) returned different bytes", n, off)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestModTimeAndSys(t *testing.T) {
	src := sourceDir(t)
	p := filepath.Join(src, "dated")
	write(t, p, []byte("x"), 0o640)
	when := time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
	view := newRepo(t).snap(t, src)
	fi, err := view.Stat("dated")
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(when) || fi.Mode() != 0o640 || fi.Size() != 1 {
		t.Errorf("Stat = %v %v %d; want %v -rw-r----- 1", fi.ModTime(), fi.Mode(), fi.Size(), when)
	}
	v := fi.Sys().(*catalog.Version)
	if v.Path != "dated" || v.Type != catalog.TypeFile || v.Capture != catalog.CaptureRaw {
		t.Errorf("Sys() = %+v", v)
	}
	root, err := view.Stat(".")
	if err != nil || !root.IsDir() || root.Name() != "." {
		t.Errorf("Stat(.) = %v, %v", root, err)
	}
}

// chunkStats counts a file's chunks and the stored blobs they are in.
func chunkStats(t *testing.T, r *repo, view *snapshotfs.FS, name string) (chunks, blobs int) {
	t.Helper()
	fi, err := view.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.db.ContentList(t.Context(), fi.Sys().(*catalog.Version).ContentID)
	if err != nil {
		t.Fatal(err)
	}
	locs, err := r.db.ChunkLocs(t.Context(), c.ChunkIDs)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, l := range locs {
		distinct[fmt.Sprint(l.Pack, l.Offset)] = true
	}
	return len(locs), len(distinct)
}

// TestThroughLinks opens paths that go through symbolic links to
// directories, as the kernel would resolve them.
func TestThroughLinks(t *testing.T) {
	src := sourceDir(t)
	write(t, filepath.Join(src, "a/b/c/deep.txt"), []byte("deep"), 0o644)
	write(t, filepath.Join(src, "a/b/x"), []byte("x"), 0o644)
	mkdir(t, filepath.Join(src, "links"))
	symlink(t, "../a/b", filepath.Join(src, "links/to b"))
	symlink(t, "to b/c", filepath.Join(src, "links/to c"))
	symlink(t, filepath.Join(src, "a"), filepath.Join(src, "links/abs a"))
	symlink(t, "../../../links/to b/..", filepath.Join(src, "a/b/c/up"))
	view := newRepo(t).snap(t, src)

	for name, want := range map[string]string{
		"links/to b/c/deep.txt":           "deep",
		"links/to c/deep.txt":             "deep",
		"links/abs a/b/x":                 "x",
		"a/b/c/up/b/x":                    "x", // ".." after a link is the link target's parent
		"links/to b/c/up/b/c/../x":        "",  // ".." in an Open name is refused
		"links/abs a/b/c/up/b/c/deep.txt": "deep",
	} {
		got, err := view.ReadFile(name)
		if want == "" {
			if !errors.Is(err, fs.ErrInvalid) {
				t.Errorf("ReadFile(%q) = %q, %v; want fs.ErrInvalid", name, got, err)
			}
			continue
		}
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", name, got, err, want)
		}
		if live, err := os.ReadFile(filepath.Join(src, name)); err != nil || string(live) != want {
			t.Errorf("the test is wrong: on disk %q reads %q, %v", name, live, err)
		}
	}
	names := func(dir string) string {
		ents, err := view.ReadDir(dir)
		if err != nil {
			t.Fatalf("ReadDir(%q): %v", dir, err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return strings.Join(out, " ")
	}
	if got, want := names("links/to b"), names("a/b"); got != want || got != "c x" {
		t.Errorf("ReadDir through a link = %q, of the directory %q", got, want)
	}
	if fi, err := view.Stat("links/to c"); err != nil || !fi.IsDir() || fi.Name() != "to c" {
		t.Errorf("Stat(links/to c) = %v, %v; want a directory named for the link", fi, err)
	}
	if fi, err := view.Lstat("links/to b/c/up"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat through a link = %v, %v; want the link at the end", fi, err)
	}
}

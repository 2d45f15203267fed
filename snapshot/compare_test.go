package snapshot

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

// The comparison merges the walk with the live versions streamed from the
// catalog, so both must sort paths the same way. These names sort around
// '/' ("a/b" against "a-b", "a.b", "a0"), below "." ("-x", " sp"), or are
// not valid UTF-8; a database's sidecar in the middle of the tree is
// dropped (the indexes after it shift), and more files than one batch of
// the stream fill a directory.
func TestCompareOddNames(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	names := []string{"a/b", "a/b-c", "a/b.c", "a/b/c", "a-b", "a.b", "a0", "-x", " sp", "\xff", "\xc3(", "é", "a/\xfe\xff",
		"x.db-a", "x.db-journal", "y", "z/\xff/deep"}
	for i := 0; i < 1100; i++ {
		names = append(names, fmt.Sprintf("many/%04d", i))
	}
	for _, n := range names {
		if n == "a/b" {
			continue // a directory, made by a/b/c
		}
		writeFile(t, filepath.Join(src, n), "content of "+n)
	}
	createCounterDB(t, filepath.Join(src, "x.db"))
	os.Remove(filepath.Join(src, "x.db-wal"))
	os.Remove(filepath.Join(src, "x.db-shm"))
	backdate(t, src, time.Hour)

	first := r.snap(t, src, Options{})
	checkLive(t, r, src, "x.db-journal")
	second := r.snap(t, src, Options{})
	if second.New != 0 || second.Changed != 0 || second.Removed != 0 || second.BytesRead != 0 || second.Unchanged != first.New {
		t.Errorf("unchanged snapshot: %+v; first had %d new", second, first.New)
	}
	if second.TotalBytes != first.TotalBytes || second.Files != first.Files {
		t.Errorf("unchanged snapshot: %d files, %d bytes; first %d, %d", second.Files, second.TotalBytes, first.Files, first.TotalBytes)
	}

	// Change files on both sides of the sidecar and of each odd name,
	// remove some, add one.
	grow := 0
	for _, n := range []string{"\xff", "a/b-c", "x.db-a", "y", "many/0600", "-x"} {
		data := "changed " + n + " " + strings.Repeat("!", 10)
		old, _ := os.ReadFile(filepath.Join(src, n))
		grow += len(data) - len(old)
		writeFile(t, filepath.Join(src, n), data)
		setMtime(t, filepath.Join(src, n), 30*time.Minute)
	}
	for _, n := range []string{"a0", "\xc3(", "many/1099"} {
		old, _ := os.ReadFile(filepath.Join(src, n))
		grow -= len(old)
		os.Remove(filepath.Join(src, n))
	}
	writeFile(t, filepath.Join(src, "a/b/new"), "new")
	grow += 3
	setMtime(t, filepath.Join(src, "a/b/new"), 20*time.Minute)
	third := r.snap(t, src, Options{})
	if third.Removed != 3 || third.Changed != 6+3 || third.New != 1 {
		// 6 files, and the directories that lost or gained a name: ".",
		// "a/b" and "many".
		t.Errorf("third snapshot: %d new, %d changed, %d removed; want 1, 9, 3", third.New, third.Changed, third.Removed)
	}
	if third.TotalBytes != first.TotalBytes+int64(grow) || third.Files != first.Files-2 {
		t.Errorf("third snapshot: %d files, %d bytes; want %d, %d", third.Files, third.TotalBytes, first.Files-2, first.TotalBytes+int64(grow))
	}
	checkLive(t, r, src, "x.db-journal")
	if again := r.snap(t, src, Options{}); again.BytesRead != 0 || again.New+again.Changed+again.Removed != 0 {
		t.Errorf("snapshot after the change: %+v, want nothing new", again)
	}
}

// checkLive compares the source's live versions with the tree on disk:
// the same paths, and every regular file's bytes (but a database's, which
// is stored as its backup copy) hash to its content.
func checkLive(t *testing.T, r *testRepo, src string, skip ...string) {
	t.Helper()
	rows := r.query(t, `SELECT v.path, v.type, coalesce(hex(c.hash), '') FROM version v JOIN source s ON s.id = v.source_id
		LEFT JOIN content c ON c.id = v.content_id WHERE s.path = ? AND v.last_snapshot_id IS NULL ORDER BY v.path`, canonical(t, src))
	var want []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		if slices.Contains(skip, rel) {
			return nil
		}
		typ, hash := "dir", ""
		if !d.IsDir() {
			typ = "file"
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			sum := blake3.Sum256(data)
			hash = strings.ToUpper(hex.EncodeToString(sum[:]))
		}
		want = append(want, strings.TrimSuffix(rel+" "+typ+" "+hash, " "))
		return nil
	})
	slices.Sort(want)
	for i := range rows {
		rows[i] = strings.TrimSuffix(rows[i], " ")
		if strings.HasPrefix(rows[i], "x.db file ") {
			rows[i] = "x.db file (database)"
		}
	}
	for i := range want {
		if strings.HasPrefix(want[i], "x.db file ") {
			want[i] = "x.db file (database)"
		}
	}
	if !slices.Equal(rows, want) {
		for _, g := range rows {
			if !slices.Contains(want, g) {
				t.Errorf("live version not in the tree: %q", g)
			}
		}
		for _, w := range want {
			if !slices.Contains(rows, w) {
				t.Errorf("in the tree, no live version: %q", w)
			}
		}
		if len(rows) == len(want) {
			t.Errorf("live versions out of order:\ngot  %q\nwant %q", rows[:min(len(rows), 30)], want[:min(len(want), 30)])
		}
	}
}

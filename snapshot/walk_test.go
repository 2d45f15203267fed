package snapshot

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/cairn-dev/cairn/internal/beneath"
)

// The streaming walk lists exactly what filepath.WalkDir lists, in byte
// order of the path (the order of the catalog's live versions, which the
// comparison merges it with), however the directories were split between
// workers and the merge.
func TestWalkMatchesWalkDir(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a/b/c", "a-b/x", "a.b", "a b/y", "é/z", "A/B", "a/b-c", "a/b.c", "z/deep/er/and/deeper/file",
		"a/b/cc/d1", "a/b/cc/d2", "m0", "m1/n",
		// Directories whose contents sort in another order than their
		// names: "x!/" < "x/" although "x" < "x!", at every depth.
		"x/y", "x!/y", "x-/y", "x0/y", "p/q/r", "p/q!/s", "p/q-/t", "p/q.u", "p!", "p /v"} {
		full := filepath.Join(root, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 200; i++ {
		os.MkdirAll(filepath.Join(root, "wide", string(rune('a'+i%26)), string(rune('A'+i/26))), 0o755)
	}
	var want []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		want = append(want, filepath.ToSlash(rel))
		return nil
	})
	slices.Sort(want)
	for run := 0; run < 5; run++ {
		src, err := beneath.Open(root)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		ow, err := walk(src, nil, nil, nil, nil, func(string, string, string) {})
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := ow.collect()
		var got []string
		for _, e := range entries {
			got = append(got, e.rel)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("walk differs from WalkDir in byte order:\ngot  %q\nwant %q", got, want)
		}
	}
}

// A snapshot holds an entry per path of the source until its commit.
func TestEntryStaysSmall(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 80 {
		t.Errorf("entry is %d bytes, want at most 80", n)
	}
}

// keyCmp orders a name, or a directory's contents (name+"/"), as the
// strings themselves compare.
func TestKeyCmp(t *testing.T) {
	names := []string{"", "a", "a!", "a-", "a.b", "a/b", "a0", "ab", "b", "\xff", "a/b!", "a/b/c", "a/b-"}
	sign := func(n int) int { return max(-1, min(1, n)) }
	for _, a := range names {
		for _, b := range names {
			for _, ad := range []bool{false, true} {
				for _, bd := range []bool{false, true} {
					as, bs := a, b
					if ad {
						as += "/"
					}
					if bd {
						bs += "/"
					}
					if got, want := keyCmp(a, ad, b, bd), sign(strings.Compare(as, bs)); got != want {
						t.Errorf("keyCmp(%q, %v, %q, %v) = %d, want %d", a, ad, b, bd, got, want)
					}
				}
			}
		}
	}
}

// The walk reads directories ahead of its consumer, but at most walkAhead
// of them, and a walk closed half way stops its workers.
func TestWalkAheadIsBounded(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 300; i++ {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", i), "sub")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := beneath.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ow, err := walk(src, nil, nil, nil, nil, func(string, string, string) {})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for e, _ := ow.next(); e != nil && n < 500; e, _ = ow.next() {
		ow.mu.Lock()
		ahead, held := ow.ahead, 0
		for _, t := range ow.pending {
			if t.list != nil {
				held++
			}
		}
		ow.mu.Unlock()
		if ahead > walkAhead || held > 0 {
			t.Fatalf("after %d entries: %d listings read ahead (at most %d), %d pending tasks hold a listing", n, ahead, walkAhead, held)
		}
		n++
	}
	ow.close()
}

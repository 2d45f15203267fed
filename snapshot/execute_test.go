package snapshot

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairn-dev/cairn/catalog"
)

// Two content hashes that share their first 8 bytes are two contents,
// and each is found again by its own hash.
func TestContentIndexPrefixClash(t *testing.T) {
	var a, b, c [32]byte
	for i := range 8 {
		a[i], b[i], c[i] = 7, 7, 7
	}
	a[31], b[31], c[31] = 1, 2, 3
	x := newContentIndex(4)
	var contents []catalog.NewContent
	for _, h := range [][32]byte{a, b} {
		if _, ok := x.find(contents, h); ok {
			t.Fatalf("%x found before it was added", h[31])
		}
		x.add(h, len(contents))
		contents = append(contents, catalog.NewContent{Hash: h})
	}
	for k, h := range [][32]byte{a, b} {
		if got, ok := x.find(contents, h); !ok || got != k {
			t.Errorf("find(%x) = %d, %v; want %d", h[31], got, ok, k)
		}
	}
	if _, ok := x.find(contents, c); ok {
		t.Errorf("a third hash with the same first bytes was found")
	}
}

// Files with the same bytes in one snapshot share one content row; files
// with other bytes get their own.
func TestSameBytesOneContent(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	for _, f := range []struct{ name, data string }{
		{"a.txt", "same bytes\n"}, {"d/b.txt", "same bytes\n"}, {"d/e/c.txt", "same bytes\n"},
		{"x.txt", "other bytes\n"}, {"y.txt", "more bytes\n"},
	} {
		writeFile(t, filepath.Join(src, f.name), f.data)
	}
	r.snap(t, src, Options{})
	got := r.query(t, `SELECT v.path, v.content_id = (SELECT content_id FROM version WHERE path = 'a.txt')
		FROM version v WHERE v.type = 'file' ORDER BY v.path`)
	want := []string{"a.txt 1", "d/b.txt 1", "d/e/c.txt 1", "x.txt 0", "y.txt 0"}
	if !slices.Equal(got, want) {
		t.Errorf("files and whether they share a.txt's content: %v; want %v", got, want)
	}
	if n := r.query(t, "SELECT count(*) FROM content"); !slices.Equal(n, []string{"3"}) {
		t.Errorf("%v content rows; want 3", n)
	}
}

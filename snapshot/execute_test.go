package snapshot

import (
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

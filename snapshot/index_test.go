package snapshot

import (
	"context"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/blobstore"
)

// New chunks are found again by the first 8 bytes of their IDs, checked
// against the whole ID; two IDs that share those bytes stay two chunks.
func TestChunkIndexPrefixCollision(t *testing.T) {
	ctx := context.Background()
	x := &chunkIndex{empty: true, known: map[blobstore.ID]int64{}, pending: map[uint64]int{}}
	a := blobstore.Sum([]byte("a"))
	b := a
	b[31] ^= 1 // same first 8 bytes, different ID
	c := blobstore.Sum([]byte("c"))
	var refs []int64
	for _, id := range []blobstore.ID{a, b, c} {
		ref, isNew, err := x.ref(ctx, id)
		if err != nil || !isNew {
			t.Fatalf("first ref of %s = %d, new %v, %v; want a new chunk", id, ref, isNew, err)
		}
		refs = append(refs, int64(ref))
	}
	if refs[0] == refs[1] || refs[1] == refs[2] || refs[0] == refs[2] {
		t.Fatalf("refs = %v; want three different chunks", refs)
	}
	for i, id := range []blobstore.ID{a, b, c} {
		ref, isNew, err := x.ref(ctx, id)
		if err != nil || isNew || int64(ref) != refs[i] {
			t.Errorf("second ref of chunk %d = %d, new %v, %v; want %d, not new", i, ref, isNew, err, refs[i])
		}
	}
	if len(x.news) != 3 || len(x.pendingRest) != 1 {
		t.Errorf("%d new chunks, %d by whole ID; want 3 and 1", len(x.news), len(x.pendingRest))
	}
}

func TestBigFirst(t *testing.T) {
	entries := []entry{
		{rel: "a", size: 10}, {rel: "big", size: 2 << 20}, {rel: "b", size: bigMin - 1},
		{rel: "biggest", size: 9 << 20}, {rel: "c"}, {rel: "edge", size: bigMin},
	}
	toRead := []int{0, 1, 2, 3, 4, 5}
	bigFirst(toRead, entries)
	var got []string
	for _, i := range toRead {
		got = append(got, entries[i].rel)
	}
	if want := "biggest big edge a b c"; strings.Join(got, " ") != want {
		t.Errorf("order = %q; want %q (big files by size, then the rest in path order)", strings.Join(got, " "), want)
	}
}

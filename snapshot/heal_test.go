package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-dev/cairn/catalog"
)

// TestVanishedReusedPacksHeal: packs deleted behind the catalog's back
// (nobody ran check) are found by the next snapshot that reuses their
// chunks, which stores those chunks again from the source; the new file
// and the old snapshots that share the chunks restore byte for byte.
func TestVanishedReusedPacksHeal(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	r := newRepo(t, filepath.Join(base, "repo"))
	src := filepath.Join(base, "src")
	rng := rand.New(rand.NewPCG(5, 5))
	var parts [][]byte
	var snaps []int64
	for i := range 6 {
		b := make([]byte, 300<<10)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		parts = append(parts, b)
		writeFile(t, filepath.Join(src, fmt.Sprintf("p%d.bin", i)), string(b))
		snaps = append(snaps, r.snap(t, src, Options{}).ID)
	}
	packs := r.query(t, "SELECT name FROM pack ORDER BY id")
	if len(packs) < 6 {
		t.Fatalf("want a pack per snapshot, got %v", packs)
	}
	// Two of the six part files lose their pack.
	for _, i := range []int{1, 4} {
		if err := r.store.Delete(ctx, packs[i]); err != nil {
			t.Fatal(err)
		}
	}
	all := bytes.Join(parts, nil)
	writeFile(t, filepath.Join(src, "all.bin"), string(all))
	res := r.snap(t, src, Options{})
	if !hasWarning(res.Warnings, ".", catalog.WarnMissingPack) {
		t.Fatalf("the snapshot reused chunks of deleted packs without a word: %v", res.Warnings)
	}
	if got, err := os.ReadFile(r.restoreTo(t, res.ID, "all.bin")); err != nil || !bytes.Equal(got, all) {
		t.Fatalf("all.bin restored wrong (%d bytes, %v)", len(got), err)
	}
	for _, i := range []int{1, 4} {
		rel := fmt.Sprintf("p%d.bin", i)
		if got, err := os.ReadFile(r.restoreTo(t, snaps[5], rel)); err != nil || !bytes.Equal(got, parts[i]) {
			t.Fatalf("%s of an older snapshot was not healed (%d bytes, %v)", rel, len(got), err)
		}
	}
}

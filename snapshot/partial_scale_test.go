package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPartialScale measures a snapshot after 10 changed files in a large
// tree (CAIRN_PARTIAL_TREE, e.g. made by a script; its files are changed
// and left changed), partial against full. Skipped unless the variable is
// set: the tree takes a while to make.
func TestPartialScale(t *testing.T) {
	tree := os.Getenv("CAIRN_PARTIAL_TREE")
	if tree == "" {
		t.Skip("set CAIRN_PARTIAL_TREE to a large tree (100 files per directory, dNNN/eNN/fNN.txt) to measure")
	}
	r := newRepo(t, t.TempDir())
	begin := time.Now()
	first := r.snap(t, tree, Options{})
	t.Logf("first snapshot: %d files in %v", first.Files, time.Since(begin).Round(time.Millisecond))
	change := func(round int) []string {
		var changed []string
		for i := 0; i < 10; i++ {
			rel := fmt.Sprintf("d%03d/e%02d/f%02d.txt", i%10, (i*7+round)%100, (i*13+round)%100)
			if err := os.WriteFile(filepath.Join(tree, rel), []byte(fmt.Sprintf("round %d %d\n", round, i)), 0o644); err != nil {
				t.Fatal(err)
			}
			changed = append(changed, rel)
		}
		return changed
	}
	for round := 1; round <= 3; round++ {
		changed := change(round)
		begin = time.Now()
		p := r.snap(t, tree, Options{Changed: changed})
		partial := time.Since(begin)
		change(round + 100)
		begin = time.Now()
		f := r.snap(t, tree, Options{})
		full := time.Since(begin)
		t.Logf("10 changed files in %d: partial %v (%d changed, looked at %d), full %v (%d changed)",
			f.Files, partial.Round(100*time.Microsecond), p.Changed, p.New+p.Changed+p.Unchanged+p.Removed, full.Round(time.Millisecond), f.Changed)
		if !p.Partial || p.Files != f.Files {
			t.Errorf("partial: %+v", p)
		}
	}
}

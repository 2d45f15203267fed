package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// discard moves a tree of many files into the trash, in one rename, and
// deletes a small one or one of a snapshot-only corpus.
func TestDiscard(t *testing.T) {
	work := t.TempDir()
	b := &bench{trash: filepath.Join(work, "trash")}
	mk := func(name string, files int) string {
		dir := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range files {
			if err := os.WriteFile(filepath.Join(dir, "sub", fmt.Sprint(i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	restores, snapOnly := &corpus{}, &corpus{snapOnly: true}
	big, small, scale := mk("big", discardMin), mk("small", 10), mk("scale", discardMin)
	for _, c := range []struct {
		c   *corpus
		dir string
	}{{restores, big}, {restores, small}, {snapOnly, scale}, {restores, filepath.Join(work, "absent")}} {
		if err := b.discard(c.c, c.dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(c.dir); !os.IsNotExist(err) {
			t.Errorf("%s still there after discard: %v", c.dir, err)
		}
	}
	trashed, _ := os.ReadDir(b.trash)
	if len(trashed) != 1 || countEntries(filepath.Join(b.trash, trashed[0].Name()), 2*discardMin) != discardMin+2 { // the tree, sub and the files
		t.Errorf("trash holds %v; want the big tree alone", trashed)
	}
}

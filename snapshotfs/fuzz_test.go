package snapshotfs_test

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// FuzzOpen compares the view with os.DirFS on the live source, whose
// links all stay inside it: for every name both accept, both find the
// same kind of thing or both fail; the view never panics, and its errors
// are *fs.PathError naming what was asked.
func FuzzOpen(f *testing.F) {
	for _, s := range []string{".", "a", "a/b", "a/b/c/deep.txt", "links/to dir/c/deep.txt", "links/up",
		"links/through a link", "links/self dir/links/self dir/top.txt", "links/to dir/../x", "a//b", "/a", "a/",
		"links/to link", "odd/new\nline", "empty dir/nested empty", "state.db", "nope/../a", "links/up/x",
		"odd/latin1-\xe9t\xe9", "top.txt/x"} {
		f.Add(s)
	}
	src := sourceDir(f)
	buildTree(f, src)
	view := newRepo(f).snap(f, src)
	live := os.DirFS(src)
	f.Fuzz(func(t *testing.T, name string) {
		got, err := view.Stat(name)
		if err != nil {
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != name {
				t.Fatalf("Stat(%q) = %v; want a *fs.PathError naming it", name, err)
			}
		}
		// os.DirFS refuses names that are not UTF-8, and the source holds
		// database sidecars the snapshot leaves out.
		if !fs.ValidPath(name) || strings.HasSuffix(name, "-wal") || strings.HasSuffix(name, "-shm") {
			return
		}
		want, werr := fs.Stat(live, name)
		switch {
		case (err == nil) != (werr == nil):
			t.Fatalf("Stat(%q): view %v, %v; disk %v, %v", name, got, err, want, werr)
		case err == nil && got.IsDir() != want.IsDir():
			t.Fatalf("Stat(%q): view %v; disk %v", name, got, want)
		case err == nil && !got.IsDir() && got.Size() != want.Size() && !strings.HasSuffix(name, ".db"):
			t.Fatalf("Stat(%q): view %d bytes; disk %d", name, got.Size(), want.Size())
		}
	})
}

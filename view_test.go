package cairn_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/snapshot"
	"github.com/cairn-dev/cairn/snapshotfs"
)

// TestSnapshotFSRoundTrip runs fstest.TestFS on views of the randomized
// round-trip trees (three snapshots, the tree mutated in between) and
// compares every path with the tree as it was.
func TestSnapshotFSRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and reads three random trees")
	}
	ctx := t.Context()
	base := canonicalTempDir(t)
	src := filepath.Join(base, "source")
	if err := os.Mkdir(src, 0o750); err != nil {
		t.Fatal(err)
	}
	g := newGen(t, testSeed(t), src)
	g.build()
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()

	for i := range 3 {
		if i > 0 {
			g.mutate()
		}
		res, err := repo.Snapshot(ctx, src, snapshot.Options{})
		if err != nil {
			t.Fatalf("snapshot %d: %v", i+1, err)
		}
		m := takeManifest(t, src)
		view, err := repo.SnapshotFS(ctx, res.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkView(t, view, m, fmt.Sprintf("snapshot %d", res.ID))
		if i == 2 {
			checkLinksLikeTheSource(t, view, src, m)
		}
	}
}

// checkView runs TestFS on view and compares it with m.
func checkView(t *testing.T, view fs.FS, m manifest, label string) {
	t.Helper()
	paths := sortedPaths(m)
	paths = slices.DeleteFunc(paths, func(p string) bool { return p == "." })
	// TestFS also tests fs.Sub of the first expected path's directory,
	// and fs.Sub insists on valid UTF-8: put a plain one first.
	slices.SortStableFunc(paths, func(a, b string) int {
		return boolInt(a != "links/target file.txt") - boolInt(b != "links/target file.txt")
	})
	// TestFS opens every entry, links included, as os.DirFS would fail
	// to on a dangling link: the only errors allowed are those, on links.
	tolerated := 0
	for _, e := range unjoinErrors(fstest.TestFS(view, paths...)) {
		name, _, ok := strings.Cut(e.Error(), ": Open: ")
		if !ok || m[name].typ != "symlink" ||
			!(errors.Is(e, fs.ErrNotExist) || errors.Is(e, snapshotfs.ErrOutside) || errors.Is(e, snapshotfs.ErrLinkLoop)) {
			t.Errorf("%s: TestFS: %v", label, e)
			continue
		}
		tolerated++
	}
	t.Logf("%s: %d paths; TestFS failed to open %d links that lead nowhere in the snapshot", label, len(paths), tolerated)

	rl := view.(fs.ReadLinkFS)
	got := manifest{}
	err := fs.WalkDir(view, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n := node{mode: fi.Mode() & modeBits, mtime: fi.ModTime().UnixNano()}
		switch {
		case fi.IsDir():
			n.typ = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			n.typ = "symlink"
			if n.link, err = rl.ReadLink(p); err != nil {
				return err
			}
		default:
			n.typ, n.size = "file", fi.Size()
			data, err := fs.ReadFile(view, p)
			if err != nil {
				return err
			}
			n.sum = sha256.Sum256(data)
		}
		got[p] = n
		return nil
	})
	if err != nil {
		t.Fatalf("%s: walk the view: %v", label, err)
	}
	compareTrees(t, label+" through SnapshotFS", m, got)
}

// checkLinksLikeTheSource: a link the live system resolves to a path
// inside the source resolves in the view to the same kind of thing; any
// other fails.
func checkLinksLikeTheSource(t *testing.T, view fs.FS, src string, m manifest) {
	t.Helper()
	checked := 0
	for p, n := range m {
		if n.typ != "symlink" {
			continue
		}
		abs := filepath.Join(src, filepath.FromSlash(p))
		real, err := filepath.EvalSymlinks(abs)
		inside := err == nil && (real == src || strings.HasPrefix(real, src+"/"))
		fi, verr := fs.Stat(view, p)
		switch {
		case inside && verr != nil:
			t.Errorf("%q resolves to %s on disk but not in the view: %v", p, real, verr)
		case inside:
			live, err := os.Stat(abs)
			if err != nil {
				t.Fatal(err)
			}
			if live.IsDir() != fi.IsDir() || (!live.IsDir() && live.Size() != fi.Size()) {
				t.Errorf("%q: the view finds %v, the disk %v", p, fi, live)
			}
			checked++
		case verr == nil:
			t.Errorf("%q resolves outside the source on disk (%s, %v) but the view finds %v", p, real, err, fi)
		}
	}
	if checked == 0 {
		t.Error("no link resolved inside the source")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// unjoinErrors flattens the errors TestFS joined.
func unjoinErrors(err error) []error {
	switch e := err.(type) {
	case nil:
		return nil
	case interface{ Unwrap() []error }:
		var out []error
		for _, inner := range e.Unwrap() {
			out = append(out, unjoinErrors(inner)...)
		}
		return out
	}
	if inner := errors.Unwrap(err); inner != nil {
		if _, ok := inner.(interface{ Unwrap() []error }); ok {
			return unjoinErrors(inner)
		}
	}
	return []error{err}
}

package cairn_test

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/importer"
	"github.com/cairn-dev/cairn/snapshotfs"
)

// TestImportTarRoundTrip imports a PAX tar of a randomized round-trip tree
// (odd names, modes with setuid bits, nanosecond mtimes, symlinks, empty
// and read-only directories, large files) and requires the imported
// snapshot to be that tree, less what an import leaves out by design:
// symlinks pointing outside and runtime files.
func TestImportTarRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and imports a random tree")
	}
	ctx := t.Context()
	base := canonicalTempDir(t)
	src := filepath.Join(base, "source")
	if err := os.Mkdir(src, 0o750); err != nil {
		t.Fatal(err)
	}
	g := newGen(t, testSeed(t), src)
	g.build()
	want := takeManifest(t, src)
	archive := filepath.Join(base, "backup.tar")
	writeTarOf(t, src, archive)
	for p, n := range want {
		if outward(p, n) || (n.typ != "dir" && importer.IsRuntime(p, nil)) {
			delete(want, p)
		}
	}

	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	at := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	done, err := repo.Import(ctx, filepath.Join(base, "imported"), []string{archive}, cairn.ImportOptions{Time: at})
	if err != nil {
		t.Fatal(err)
	}
	res := done[0].Snapshot
	if done[0].Stripped != "" {
		t.Fatalf("stripped %q from a tree with several top-level entries", done[0].Stripped)
	}
	view, err := repo.SnapshotFS(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkView(t, view, want, "imported tar")
	if got := view.(*snapshotfs.FS).Snapshot(); !got.Started.Equal(at) || got.Label != cairn.ImportLabel {
		t.Errorf("snapshot %d: started %v label %q; want %v %q", res.ID, got.Started, got.Label, at, cairn.ImportLabel)
	}
}

// outward reports whether a symlink at p points outside the tree.
func outward(p string, n node) bool {
	if n.typ != "symlink" {
		return false
	}
	if strings.HasPrefix(n.link, "/") {
		return true
	}
	depth := strings.Count(p, "/")
	for _, c := range strings.Split(n.link, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

// writeTarOf archives root as GNU tar and PAX write it: every entry with
// its mode, nanosecond mtime and link target.
func writeTarOf(t *testing.T, root, archive string) {
	t.Helper()
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, h.Format = "./"+filepath.ToSlash(rel), tar.FormatPAX
		if fi.IsDir() {
			h.Name = path.Clean(h.Name) + "/"
		}
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			r, err := os.Open(p)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(tw, r)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

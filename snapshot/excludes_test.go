package snapshot

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/ignore"
)

func TestExcludesUnionAndStore(t *testing.T) {
	a := Excludes{Patterns: []string{"*.tmp"}, LargerThan: 2048}
	b := Excludes{Patterns: []string{"*.tmp", "cache/"}, Caches: true, LargerThan: 1024}
	got := a.Union(b)
	want := Excludes{Patterns: []string{"*.tmp", "cache/"}, Caches: true, LargerThan: 1024}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Union = %+v, want %+v", got, want)
	}
	back, err := ParseExcludes(got.Marshal())
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("ParseExcludes(Marshal) = %+v, %v", back, err)
	}
	if (Excludes{}).Marshal() != "" {
		t.Error("no excludes must store as nothing")
	}
}

func TestExcludedNow(t *testing.T) {
	ex, err := ignore.New([]string{"logs/"})
	if err != nil {
		t.Fatal(err)
	}
	x := &exclusion{Excludes: Excludes{LargerThan: 10}, emptied: []string{"cache"}}
	for _, tt := range []struct {
		v    catalog.Version
		want bool
	}{
		{catalog.Version{Path: "logs/a/b.txt", Type: catalog.TypeFile}, true}, // a parent matches
		{catalog.Version{Path: "big", Type: catalog.TypeFile, Size: 11}, true},
		{catalog.Version{Path: "cache/blob", Type: catalog.TypeFile}, true},
		{catalog.Version{Path: "cache/CACHEDIR.TAG", Type: catalog.TypeFile}, false}, // the tag is kept
		{catalog.Version{Path: "notes.txt", Type: catalog.TypeFile, Size: 3}, false},
	} {
		if got := x.excludedNow(ex, &tt.v); got != tt.want {
			t.Errorf("excludedNow(%s) = %v, want %v", tt.v.Path, got, tt.want)
		}
	}
}

// TestOneFileSystem mounts a tmpfs inside the source (root only): with
// OneFileSystem the mount point is recorded, empty; without, entered.
func TestOneFileSystem(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a.txt"), "a")
	mnt := filepath.Join(src, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	writeFile(t, filepath.Join(mnt, "inside.txt"), "i")

	r := newRepo(t, filepath.Join(t.TempDir(), "repo"))
	r.snap(t, src, Options{Filter: Excludes{OneFileSystem: true}})
	if got, want := strings.Join(r.livePaths(t, src), " "), ". a.txt mnt"; got != want {
		t.Errorf("one file system: live paths %q, want %q", got, want)
	}
	res := r.snap(t, src, Options{})
	if res.New != 1 || !slices.Contains(r.livePaths(t, src), "mnt/inside.txt") {
		t.Errorf("without it: %d new, live %v; want mnt/inside.txt new", res.New, r.livePaths(t, src))
	}
}

// TestExcludeCaches: a directory with a valid CACHEDIR.TAG keeps only the
// tag; one whose tag lacks the signature is an ordinary directory.
func TestExcludeCaches(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "c/CACHEDIR.TAG"), cacheSignature+"\n")
	writeFile(t, filepath.Join(src, "c/blob"), "x")
	writeFile(t, filepath.Join(src, "c/sub/y"), "y")
	writeFile(t, filepath.Join(src, "d/CACHEDIR.TAG"), "no signature")
	writeFile(t, filepath.Join(src, "d/z"), "z")
	r := newRepo(t, filepath.Join(t.TempDir(), "repo"))
	r.snap(t, src, Options{Filter: Excludes{Caches: true}})
	if got, want := strings.Join(r.livePaths(t, src), " "), ". c c/CACHEDIR.TAG d d/CACHEDIR.TAG d/z"; got != want {
		t.Errorf("live paths %q, want %q", got, want)
	}
}

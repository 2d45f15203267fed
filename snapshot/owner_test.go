package snapshot

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Owners are recorded, and a chown alone is a new version: restore gives
// owners back as root, so the catalog must know them.
func TestOwnersAreRecorded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	p := filepath.Join(src, "f.txt")
	os.WriteFile(p, []byte("data"), 0o644)
	os.Chown(p, 1234, 2345)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	r.snap(t, src, Options{})
	os.Chown(p, 1235, 2345)
	r.snap(t, src, Options{})
	got := r.query(t, "SELECT uid || ':' || gid FROM version WHERE path = 'f.txt' ORDER BY id")
	if want := []string{"1234:2345", "1235:2345"}; !slices.Equal(got, want) {
		t.Errorf("owners recorded %v, want %v", got, want)
	}
}

// Include records paths the excludes would leave out, and only those:
// inside an excluded directory entered for them, nothing else.
func TestIncludeOverridesExcludes(t *testing.T) {
	r := newRepo(t, t.TempDir())
	src := t.TempDir()
	for _, rel := range []string{"keep.txt", "cache/wanted.txt", "cache/other.txt", "x.tmp"} {
		os.MkdirAll(filepath.Dir(filepath.Join(src, rel)), 0o755)
		os.WriteFile(filepath.Join(src, rel), []byte(rel), 0o644)
	}
	res := r.snap(t, src, Options{Excludes: []string{"cache/", "*.tmp"}, Include: []string{"cache/wanted.txt", "x.tmp"}})
	got := r.query(t, "SELECT path FROM files WHERE snapshot_id = ? ORDER BY path", res.ID)
	if want := []string{".", "cache", "cache/wanted.txt", "keep.txt", "x.tmp"}; !slices.Equal(got, want) {
		t.Errorf("snapshot holds %v, want %v", got, want)
	}
}

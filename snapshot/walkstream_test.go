package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/internal/beneath"
)

// Every entry of the walk carries what lstat says of its own path: the
// walk stats each name in place in its listing buffer (statAt), so a name
// cut short, run into its neighbour or taken from another directory's
// listing would show here as another file's size, inode or type.
func TestWalkStatsEachName(t *testing.T) {
	root := t.TempDir()
	var paths []string
	for d := 0; d < 12; d++ {
		dir := filepath.Join(root, strings.Repeat("d", d+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Names of every length from 1 to 40 and a long one, so that each
		// ends at a different offset in the buffer.
		for n := 1; n <= 40; n++ {
			paths = append(paths, filepath.Join(dir, strings.Repeat(string(rune('a'+n%26)), n)))
		}
		paths = append(paths, filepath.Join(dir, strings.Repeat("L", 255)))
	}
	for i, p := range paths {
		if err := os.WriteFile(p, make([]byte, i), os.FileMode(0o600+i%0o100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(root, "d", "zlink")); err != nil {
		t.Fatal(err)
	}
	src, err := beneath.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ow, err := walk(src, nil, nil, nil, nil, func(path, kind, msg string) { t.Errorf("warning %s %s: %s", path, kind, msg) })
	if err != nil {
		t.Fatal(err)
	}
	entries, unreadable := ow.collect()
	if len(unreadable) > 0 {
		t.Fatalf("unreadable: %q", unreadable)
	}
	if want := len(paths) + 12 + 2; len(entries) != want { // files, directories, the symlink and the root
		t.Errorf("%d entries, want %d", len(entries), want)
	}
	for _, e := range entries {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, e.rel), &st); err != nil {
			t.Fatal(err)
		}
		want := statEntryAt(e.rel, &st)
		want.link, want.base = e.link, e.base
		if e != want {
			t.Errorf("%s:\ngot  %+v\nwant %+v", e.rel, e, want)
		}
	}
}

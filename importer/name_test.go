package importer

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanName(t *testing.T) {
	for name, want := range map[string]string{
		"a": "a", "./a": "a", "a/": "a", "././a//b/./c/": "a/b/c", ".": ".", "./": ".", "": ".",
		".hermes/config.yaml": ".hermes/config.yaml", "..a/b..": "..a/b..",
	} {
		got, err := CleanName(name)
		if err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"/etc/passwd", "../x", "a/../../x", "a/../b", "..", "a\\..\\b", "a\x00b", "//x"} {
		if got, err := CleanName(name); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CleanName(%q) = %q, %v; want ErrUnsafePath", name, got, err)
		}
	}
}

func TestLinkInside(t *testing.T) {
	for _, c := range []struct {
		rel, target string
		want        bool
	}{
		{"l", "a", true}, {"d/l", "../a", true}, {"d/l", "../../a", false}, {"l", "../a", false},
		{"l", "/etc/passwd", false}, {"d/l", "x/../../a", true}, {"d/l", "x/../../../a", false},
		{"l", "", false}, {"d/e/l", "../../a/b", true},
	} {
		if got := linkInside(c.rel, c.target); got != c.want {
			t.Errorf("linkInside(%q, %q) = %v, want %v", c.rel, c.target, got, c.want)
		}
	}
}

// FuzzCleanName: whatever CleanName accepts stays beneath the directory
// it is unpacked into, is clean, and has no "..".
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a", "./a/b", "../x", "/abs", "a/../b", "a\\b", ".", "a//b/", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		rel, err := CleanName(name)
		if err != nil {
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("CleanName(%q): error %v is not ErrUnsafePath", name, err)
			}
			return
		}
		if rel == "." {
			return
		}
		if path.Clean(rel) != rel || !filepath.IsLocal(rel) || strings.HasPrefix(rel, "/") {
			t.Fatalf("CleanName(%q) = %q: not a clean local path", name, rel)
		}
		for _, c := range strings.Split(rel, "/") {
			if c == ".." {
				t.Fatalf("CleanName(%q) = %q: has ..", name, rel)
			}
		}
		if j := filepath.Join("/scratch", rel); !strings.HasPrefix(j, "/scratch/") {
			t.Fatalf("CleanName(%q) = %q lands at %s", name, rel, j)
		}
	})
}

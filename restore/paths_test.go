package restore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckPath: any path checkPath accepts stays inside the target when
// joined to it, whatever bytes a damaged or hostile catalog holds.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{".", "a/b", "../x", "/abs", "a/../b", "a\x00", "....", "a/./b", "é/..\\x"} {
		f.Add(s)
	}
	base := filepath.Join(os.TempDir(), "cairn-fuzz-target")
	f.Fuzz(func(t *testing.T, p string) {
		if checkPath(p) != nil {
			return
		}
		joined := filepath.Join(base, filepath.FromSlash(p))
		if joined != base && !strings.HasPrefix(joined, base+string(filepath.Separator)) {
			t.Fatalf("checkPath accepted %q, which lands at %s outside %s", p, joined, base)
		}
		if strings.ContainsRune(p, 0) {
			t.Fatalf("checkPath accepted a NUL byte in %q", p)
		}
	})
}
